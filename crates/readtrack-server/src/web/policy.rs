//! The organisation's communication policy: its text and version, whether the viewer has
//! acknowledged it, and the Acknowledge button. Until a member acknowledges the current
//! version, senders see them only in the counts, never by name.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::i18n::Tr;
use crate::web::markdown;
use crate::web::session::Viewer;

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    ctx: Chrome,
    t: &'static Tr,
    version: i64,
    text_html: String,
    /// The version the viewer acknowledged (0: none).
    acked: i64,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// `?done=1` after acknowledging.
#[derive(Debug, Deserialize)]
pub struct PolicyQuery {
    /// Set after the acknowledgement was recorded.
    pub done: Option<String>,
}

fn page(v: &Viewer, status: StatusCode, notice: bool, error: Option<String>) -> Response {
    let t = v.t();
    let settings = &v.org.settings;
    let page = PolicyPage {
        ctx: Chrome::for_viewer(v, "/policy"),
        t,
        version: settings.policy_version,
        // The policy is the admin's own Markdown, cleaned like a notice body.
        text_html: markdown::render(&settings.policy_text),
        acked: v.caller.member.policy_ack_version,
        notice: notice.then_some(t.policy_acknowledged_now),
        error,
    };
    render(status, &page)
}

/// `GET /policy`.
pub async fn policy(v: Viewer, Query(q): Query<PolicyQuery>) -> Response {
    page(&v, StatusCode::OK, q.done.is_some(), None)
}

/// The Acknowledge form: the version the viewer read, so that a policy changed while
/// the page was open is not acknowledged unread.
#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(default)]
    version: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /policy/ack`.
pub async fn acknowledge(
    State(s): State<ServerState>,
    v: Viewer,
    Form(f): Form<AckForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        let msg = v.t().form_expired.to_string();
        return page(&v, StatusCode::FORBIDDEN, false, Some(msg));
    }
    let Ok(version) = f.version.trim().parse::<i64>() else {
        let msg = v.t().policy_changed.to_string();
        return page(&v, StatusCode::BAD_REQUEST, false, Some(msg));
    };
    match s.app.ack_policy(&v.caller, version).await {
        Ok(_) => Redirect::to("/policy?done=1").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status == StatusCode::BAD_REQUEST {
                // The only refusal: the policy changed since the page was shown.
                let msg = v.t().policy_changed.to_string();
                page(&v, e.status, false, Some(msg))
            } else {
                error_page(v.lang, e)
            }
        }
    }
}
