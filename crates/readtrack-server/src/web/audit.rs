//! The audit log for administrators and auditors: every look at per-person data, every
//! export and every change of the rules, newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use readtrack_service::records::Page;
use serde::Deserialize;

use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::my_data::action_label;
use crate::web::session::Viewer;

/// Entries per page.
const PAGE: u32 = 100;

/// One entry.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// When.
    pub at: ShownTime,
    /// Who acted (the system for retention).
    pub actor: String,
    /// What, in words.
    pub action: String,
    /// The action's wire name, for styling and tests.
    pub code: String,
    /// What it concerned.
    pub subject: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    ctx: Chrome,
    t: &'static Tr,
    tab: &'static str,
    rows: Vec<AuditRow>,
    next_href: Option<String>,
    first_href: Option<&'static str>,
}

/// Paging through the log.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Entries older than this id.
    pub after: Option<String>,
}

/// `GET /admin/audit` (administrators and auditors).
pub async fn audit(
    State(s): State<ServerState>,
    v: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    let after = q
        .after
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0);
    let mut rows = match s
        .app
        .audit_log(
            &v.caller,
            Page {
                limit: PAGE + 1,
                after,
            },
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let next_href = if rows.len() > PAGE as usize {
        rows.truncate(PAGE as usize);
        rows.last().map(|r| format!("/admin/audit?after={}", r.id))
    } else {
        None
    };
    let t = v.t();
    let page = AuditPage {
        // Administrators reach the log through the settings tabs; auditors through
        // their own navigation entry.
        ctx: Chrome::for_viewer(
            &v,
            if v.caller.is_admin() {
                "/admin/settings"
            } else {
                "/admin/audit"
            },
        ),
        t,
        tab: "audit",
        rows: rows
            .iter()
            .map(|a| AuditRow {
                at: format::seconds(a.at, &v.zone),
                actor: a.actor_name.clone().unwrap_or_else(|| t.system.to_string()),
                action: action_label(t, &a.action),
                code: a.action.clone(),
                subject: a.subject.clone(),
            })
            .collect(),
        next_href,
        first_href: after.map(|_| "/admin/audit"),
    };
    render(StatusCode::OK, &page)
}
