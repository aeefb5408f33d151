//! The inbox (unread first, live) and the list of notices the viewer sent.

use std::collections::HashSet;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use readtrack_service::records::{InboxFilter, InboxItem, Page, StateFilter};

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::Viewer;

/// Most notices the inbox shows at once.
const INBOX_SIZE: u32 = 100;
/// Sent notices that show their read progress in the list.
const SENT_WITH_PROGRESS: usize = 30;

/// A notice in the inbox.
#[derive(Debug, Clone)]
pub struct InboxRow {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Sender's name.
    pub sender: String,
    /// Wire priority (for styling).
    pub priority: &'static str,
    /// Priority as words.
    pub priority_label: &'static str,
    /// "3 min ago".
    pub age: String,
    /// When it was sent.
    pub sent: ShownTime,
    /// The viewer's wire state.
    pub state: &'static str,
    /// The viewer's state as words.
    pub state_label: &'static str,
    /// Not read yet.
    pub unread: bool,
    /// Read, but a confirmation is still asked for.
    pub needs_ack: bool,
}

fn row(v: &Viewer, item: &InboxItem, now: jiff::Timestamp) -> InboxRow {
    let t = v.t();
    let m = &item.message;
    let state = item.receipt.state().as_str();
    let unread = !item.receipt.state().is_read();
    InboxRow {
        id: m.id.to_string(),
        title: m.title.clone(),
        sender: m.sender_name.clone(),
        priority: m.priority.as_str(),
        priority_label: t.priority_label(m.priority.as_str()),
        age: v.lang.age(now.duration_since(m.created_at).as_secs()),
        sent: format::minutes(m.created_at, &v.zone),
        state,
        state_label: t.my_state_label(state, m.require_ack),
        unread,
        needs_ack: m.require_ack && state == "read",
    }
}

/// The viewer's notices: unread first, then those waiting for a confirmation, then the
/// rest, each newest first.
async fn rows(s: &ServerState, v: &Viewer) -> Result<Vec<InboxRow>, ApiError> {
    let unread = s
        .app
        .inbox(
            &v.caller,
            InboxFilter::Unread,
            Page {
                limit: INBOX_SIZE,
                after: None,
            },
        )
        .await?;
    let all = s
        .app
        .inbox(
            &v.caller,
            InboxFilter::All,
            Page {
                limit: INBOX_SIZE,
                after: None,
            },
        )
        .await?;
    let now = s.app.clock().now();
    let seen: HashSet<_> = unread.iter().map(|i| i.message.id).collect();
    let mut out: Vec<InboxRow> = unread.iter().map(|i| row(v, i, now)).collect();
    let (waiting, done): (Vec<_>, Vec<_>) = all
        .iter()
        .filter(|i| !seen.contains(&i.message.id))
        .map(|i| row(v, i, now))
        .partition(|r| r.needs_ack);
    out.extend(waiting);
    out.extend(done);
    out.truncate(INBOX_SIZE as usize);
    Ok(out)
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    ctx: Chrome,
    t: &'static Tr,
    rows: Vec<InboxRow>,
    unread: usize,
}

/// `GET /inbox`.
pub async fn inbox(State(s): State<ServerState>, v: Viewer) -> Response {
    match rows(&s, &v).await {
        Ok(rows) => {
            let page = InboxPage {
                ctx: Chrome::for_viewer(&v, "/inbox"),
                t: v.t(),
                unread: rows.iter().filter(|r| r.unread).count(),
                rows,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => error_page(v.lang, e),
    }
}

#[derive(Template)]
#[template(path = "inbox_list.html")]
struct InboxList {
    t: &'static Tr,
    rows: Vec<InboxRow>,
}

/// `GET /inbox/list`: the list alone, rendered by the same template, for live refresh.
pub async fn inbox_list(State(s): State<ServerState>, v: Viewer) -> Response {
    match rows(&s, &v).await {
        Ok(rows) => render(StatusCode::OK, &InboxList { t: v.t(), rows }),
        Err(e) => error_page(v.lang, e),
    }
}

/// A notice in the sent list.
#[derive(Debug, Clone)]
pub struct SentRow {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Wire priority.
    pub priority: &'static str,
    /// Priority as words.
    pub priority_label: &'static str,
    /// When.
    pub sent: ShownTime,
    /// Recipients.
    pub recipients: i64,
    /// Whether it has a read board (tracking is not off).
    pub has_board: bool,
    /// Read so far, for the most recent notices with a board.
    pub read: Option<i64>,
    /// The recipients the read count covers (all but hidden people too few to count).
    pub counted: i64,
    /// Read, in whole percent.
    pub percent: i64,
}

#[derive(Template)]
#[template(path = "sent.html")]
struct SentPage {
    ctx: Chrome,
    t: &'static Tr,
    rows: Vec<SentRow>,
}

/// `GET /sent`.
pub async fn sent(State(s): State<ServerState>, v: Viewer) -> Response {
    let sent = match s
        .app
        .sent_messages(
            &v.caller,
            Page {
                limit: 200,
                after: None,
            },
        )
        .await
    {
        Ok(m) => m,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let t = v.t();
    let mut rows: Vec<SentRow> = sent
        .iter()
        .map(|m| SentRow {
            id: m.id.to_string(),
            title: m.title.clone(),
            priority: m.priority.as_str(),
            priority_label: t.priority_label(m.priority.as_str()),
            sent: format::minutes(m.created_at, &v.zone),
            recipients: m.recipient_count,
            has_board: m.tracking != readtrack_domain::message::Tracking::Off,
            read: None,
            counted: m.recipient_count,
            percent: 0,
        })
        .collect();
    // Progress for the latest notices only: each costs a look at its counts.
    for row in rows
        .iter_mut()
        .filter(|r| r.has_board)
        .take(SENT_WITH_PROGRESS)
    {
        if let Ok(view) = s
            .app
            .board(&v.caller, &row.id, StateFilter::All, None, 1)
            .await
        {
            // Of the people the counts cover: hidden people too few to count are in no
            // figure, here as on the board.
            let (read, counted) = (view.summary.read, view.summary.counted());
            row.read = Some(read);
            row.counted = counted;
            row.percent = if counted > 0 {
                (read * 100 + counted / 2) / counted
            } else {
                0
            };
        }
    }
    render(
        StatusCode::OK,
        &SentPage {
            ctx: Chrome::for_viewer(&v, "/sent"),
            t,
            rows,
        },
    )
}
