//! Tasks: the to-dos escalations put on the viewer's list, with a way to mark them done,
//! and, for managers and backup contacts, the notices their team has left unread.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_service::records::Page;
use serde::Deserialize;

use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, form_expired_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::session::{Viewer, percent_encode};

/// Most tasks and team rows one page shows.
const LIMIT: u32 = 100;

/// A task on the viewer's list.
#[derive(Debug, Clone)]
pub struct TaskRow {
    /// Id.
    pub id: String,
    /// The notice it is about.
    pub message_id: String,
    /// The notice's title.
    pub title: String,
    /// Why it exists, in the viewer's language where the reason is a known one.
    pub reason: String,
    /// When it was put on the list.
    pub created: ShownTime,
    /// When it was done.
    pub done: Option<ShownTime>,
    /// How it was done, as words.
    pub done_how: &'static str,
}

/// A notice someone in the viewer's team has not read, escalated to the viewer.
#[derive(Debug, Clone)]
pub struct TeamRow {
    /// The notice's title.
    pub title: String,
    /// The person who has not read it.
    pub name: String,
    /// Why the viewer was told, as words.
    pub why: &'static str,
    /// When.
    pub escalated: ShownTime,
    /// The person's state now, wire name and words.
    pub state: &'static str,
    /// The state as words.
    pub state_label: &'static str,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    ctx: Chrome,
    t: &'static Tr,
    open: Vec<TaskRow>,
    done: Vec<TaskRow>,
    team: Vec<TeamRow>,
    show_team: bool,
    notice: Option<&'static str>,
}

/// `?done=1` after marking a task done.
#[derive(Debug, Deserialize)]
pub struct TasksQuery {
    /// Set after a task was marked done.
    pub done: Option<String>,
}

fn reason_label(t: &Tr, reason: &str) -> String {
    // The scheduler writes this one reason (in English, with the title) today; the title
    // is shown beside it anyway, and any other reason is shown as written.
    if reason.starts_with("Read and confirm") {
        t.task_read_and_confirm.to_string()
    } else {
        reason.to_string()
    }
}

fn done_how(t: &Tr, how: Option<&str>) -> &'static str {
    match how {
        Some("read") => t.task_done_by_read,
        Some("acknowledged") => t.task_done_by_ack,
        Some(_) => t.task_done_by_hand,
        None => "",
    }
}

/// `GET /tasks`.
pub async fn tasks(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<TasksQuery>,
) -> Response {
    let page = Page {
        limit: LIMIT,
        after: None,
    };
    let tasks = match s.app.tasks(&v.caller, page).await {
        Ok(t) => t,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let team = match s.app.team_unread(&v.caller, page).await {
        Ok(t) => t,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let t = v.t();
    let (done, open): (Vec<TaskRow>, Vec<TaskRow>) = tasks
        .iter()
        .map(|task| TaskRow {
            id: task.id.to_string(),
            message_id: task.message_id.to_string(),
            title: task.title.clone(),
            reason: reason_label(t, &task.reason),
            created: format::minutes(task.created_at, &v.zone),
            done: task.done_at.map(|d| format::minutes(d, &v.zone)),
            done_how: done_how(t, task.done_by.as_deref()),
        })
        .partition(|r| r.done.is_some());
    let team: Vec<TeamRow> = team
        .iter()
        .map(|r| TeamRow {
            title: r.title.clone(),
            name: r.recipient_name.clone(),
            why: if r.role == "backup" {
                t.team_as_backup
            } else {
                t.team_as_manager
            },
            escalated: format::minutes(r.created_at, &v.zone),
            state: r.state.as_str(),
            state_label: t.board_state_label(r.state.as_str()),
        })
        .collect();
    let page = TasksPage {
        ctx: Chrome::for_viewer(&v, "/tasks"),
        t,
        show_team: v.manages || !team.is_empty(),
        open,
        done,
        team,
        notice: q.done.is_some().then_some(t.task_marked_done),
    };
    render(StatusCode::OK, &page)
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /tasks/{id}/complete`: marks one of the viewer's tasks done.
pub async fn complete(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return form_expired_page(v.lang);
    }
    match s.app.complete_task(&v.caller, &id).await {
        Ok(_) => Redirect::to(&format!("/tasks?done={}", percent_encode(&id))).into_response(),
        Err(e) => error_page(v.lang, e.into()),
    }
}
