//! The read board of a sent notice: counts, departments, answers and the per-person
//! table, rendered here and then kept live by the page's script over the WebSocket.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use readtrack_domain::message::Tracking;
use readtrack_domain::privacy::BoardAccess;
use readtrack_service::board::{decode_cursor, encode_cursor};
use readtrack_service::records::StateFilter;
use serde::Deserialize;

use crate::convert;
use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::{Viewer, percent_encode};

/// Rows per board page.
const PAGE: u32 = 200;

/// Board filters.
#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    /// `unread`, `read`, `acknowledged`, or everyone.
    pub state: Option<String>,
    /// Where the page starts.
    pub cursor: Option<String>,
}

/// A progress line: a department, or everyone.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Department id (empty for the total).
    pub id: String,
    /// Label.
    pub name: String,
    /// People.
    pub recipients: i64,
    /// Of them, read.
    pub read: i64,
    /// Of them, confirmed.
    pub acknowledged: i64,
    /// Read, in whole percent.
    pub percent: i64,
}

fn percent(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        (part * 100 + whole / 2) / whole
    }
}

/// A person's row.
#[derive(Debug, Clone)]
pub struct PersonRow {
    /// Member id.
    pub member_id: String,
    /// Name.
    pub name: String,
    /// Department id.
    pub department_id: String,
    /// Department name.
    pub department: String,
    /// Wire state.
    pub state: String,
    /// State as words.
    pub state_label: &'static str,
    /// Read time, unless it fell in quiet hours.
    pub read_at: Option<ShownTime>,
    /// Confirmation time.
    pub acked_at: Option<ShownTime>,
    /// Read during quiet hours: shown without a time.
    pub outside_hours: bool,
    /// Confirmed in the person's quiet hours: no time, "outside working hours".
    pub acked_outside: bool,
    /// Chosen answer.
    pub response: String,
    /// Reminders sent.
    pub reminders: i64,
    /// Emails sent about the notice.
    pub emails: usize,
}

/// A filter tab.
#[derive(Debug, Clone)]
pub struct FilterTab {
    /// Link.
    pub href: String,
    /// Label.
    pub label: &'static str,
    /// Selected.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    ctx: Chrome,
    t: &'static Tr,
    id: String,
    title: String,
    priority: &'static str,
    priority_label: &'static str,
    sent: ShownTime,
    per_person: bool,
    /// An admin looking at someone else's notice: the look is audited.
    audited: bool,
    require_ack: bool,
    total: Progress,
    delivered: i64,
    unread: i64,
    hidden: i64,
    /// Everyone the notice went to (the progress bars count only the counted).
    recipients: i64,
    /// The hidden people are too few to count: the figures cover the shown people only.
    hidden_not_counted: bool,
    departments: Vec<Progress>,
    responses: Vec<(String, i64)>,
    rows: Vec<PersonRow>,
    tabs: Vec<FilterTab>,
    state_filter: String,
    next_href: Option<String>,
    first_href: Option<String>,
    csv_href: String,
}

/// `GET /notices/{id}/board`.
pub async fn board(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<BoardQuery>,
) -> Response {
    let (filter, state_filter) = match q.state.as_deref() {
        Some("unread") => (StateFilter::Unread, "unread"),
        Some("read") => (StateFilter::Read, "read"),
        Some("acknowledged") => (StateFilter::Acknowledged, "acknowledged"),
        _ => (StateFilter::All, ""),
    };
    let cursor = match q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let view = match s.app.board(&v.caller, &id, filter, cursor, PAGE).await {
        Ok(view) => view,
        Err(e) => return error_page(v.lang, ApiError::from(e)),
    };
    let departments = match s.app.departments(&v.caller).await {
        Ok(d) => d,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let names: HashMap<String, String> = departments
        .iter()
        .map(|d| (d.id.to_string(), d.name.clone()))
        .collect();
    let t = v.t();
    let m = &view.message;
    let sum = convert::summary(&view.summary);
    let rows = view
        .rows
        .iter()
        .map(|r| {
            let item = convert::board_item(r);
            PersonRow {
                department: names.get(&item.department_id).cloned().unwrap_or_default(),
                state_label: t.board_state_label(&item.state),
                read_at: item
                    .read_at
                    .as_deref()
                    .map(|x| format::seconds_of(x, &v.zone)),
                acked_at: item
                    .acked_at
                    .as_deref()
                    .map(|x| format::seconds_of(x, &v.zone)),
                outside_hours: item.outside_working_hours,
                acked_outside: item.acked_outside_working_hours,
                response: item.response.unwrap_or_default(),
                reminders: item.reminders,
                emails: item.emails.len(),
                member_id: item.member_id,
                name: item.name,
                department_id: item.department_id,
                state: item.state,
            }
        })
        .collect();
    let base = format!("/notices/{}/board", percent_encode(&id));
    let tab = |state: &str, label: &'static str| FilterTab {
        href: if state.is_empty() {
            base.clone()
        } else {
            format!("{base}?state={state}")
        },
        label,
        current: state == state_filter,
    };
    let tabs = vec![
        tab("", t.all),
        tab("unread", t.unread),
        tab("read", t.read),
        tab("acknowledged", t.acknowledged),
    ];
    let state_q = if state_filter.is_empty() {
        String::new()
    } else {
        format!("state={state_filter}&")
    };
    // Hidden people too few to count are in no figure but the recipients and the note.
    let counted = view.summary.counted();
    let page = BoardPage {
        ctx: Chrome::for_viewer(&v, "/sent"),
        t,
        id: m.id.to_string(),
        title: m.title.clone(),
        priority: m.priority.as_str(),
        priority_label: t.priority_label(m.priority.as_str()),
        sent: format::minutes(m.created_at, &v.zone),
        per_person: m.tracking == Tracking::PerPerson,
        audited: view.access == BoardAccess::AuditedAdmin,
        require_ack: m.require_ack,
        total: Progress {
            id: String::new(),
            name: t.recipients.to_string(),
            recipients: counted,
            read: sum.read,
            acknowledged: sum.acknowledged,
            percent: percent(sum.read, counted),
        },
        delivered: sum.delivered,
        unread: sum.unread,
        hidden: sum.hidden,
        recipients: sum.recipients,
        hidden_not_counted: sum.hidden_not_counted,
        departments: view
            .departments
            .iter()
            .map(|d| Progress {
                id: d.department_id.to_string(),
                name: if d.department_id == readtrack_domain::privacy::SMALL_DEPARTMENTS {
                    t.smaller_departments.to_string()
                } else {
                    d.name.clone()
                },
                recipients: d.recipients,
                read: d.read,
                acknowledged: d.acknowledged,
                percent: percent(d.read, d.recipients),
            })
            .collect(),
        responses: view.summary.responses.clone(),
        rows,
        tabs,
        next_href: view.next.map(|c| {
            format!(
                "{base}?{state_q}cursor={}",
                percent_encode(&encode_cursor(c))
            )
        }),
        first_href: q.cursor.as_ref().map(|_| {
            if state_filter.is_empty() {
                base.clone()
            } else {
                format!("{base}?state={state_filter}")
            }
        }),
        csv_href: format!(
            "/api/v1/messages/{}/receipts.csv{}",
            percent_encode(&id),
            if state_filter.is_empty() {
                String::new()
            } else {
                format!("?state={state_filter}")
            }
        ),
        state_filter: state_filter.to_string(),
    };
    render(StatusCode::OK, &page)
}
