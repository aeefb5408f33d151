//! One notice, as its recipient reads it. The page's script reports `read` only once the
//! body has been on screen for a second in a focused tab, through the device's outbox.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use readtrack_domain::message::Tracking;
use readtrack_domain::receipt::ReceiptInput;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::ServerState;
use crate::web::chrome::{Chrome, error_page, render};
use crate::web::format::{self, ShownTime};
use crate::web::i18n::Tr;
use crate::web::markdown;
use crate::web::session::Viewer;

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    ctx: Chrome,
    t: &'static Tr,
    id: String,
    title: String,
    sender: String,
    priority: &'static str,
    priority_label: &'static str,
    sent: ShownTime,
    deadline: Option<ShownTime>,
    /// Why it is an emergency, when it is one.
    emergency_reason: Option<String>,
    body_html: String,
    /// The viewer received it (and so reports receipts).
    is_recipient: bool,
    /// The viewer's wire state.
    state: String,
    read: bool,
    acknowledged: bool,
    require_ack: bool,
    response_options: Vec<String>,
    my_response: Option<String>,
    /// The viewer sent it and it has a board.
    board_link: bool,
}

/// `GET /notices/{id}`.
pub async fn notice(State(s): State<ServerState>, v: Viewer, Path(id): Path<String>) -> Response {
    let view = match s.app.message(&v.caller, &id).await {
        Ok(view) => view,
        Err(e) => return error_page(v.lang, e.into()),
    };
    let t = v.t();
    let m = &view.message;
    let state = view
        .my_receipt
        .as_ref()
        .map(|r| r.state().as_str())
        .unwrap_or("sent");
    let page = NoticePage {
        ctx: Chrome::for_viewer(&v, "/inbox"),
        t,
        id: m.id.to_string(),
        title: m.title.clone(),
        sender: m.sender_name.clone(),
        priority: m.priority.as_str(),
        priority_label: t.priority_label(m.priority.as_str()),
        sent: format::minutes(m.created_at, &v.zone),
        deadline: m.deadline.map(|d| format::minutes(d, &v.zone)),
        emergency_reason: m.emergency_reason.clone(),
        body_html: markdown::render(&m.body),
        is_recipient: view.my_receipt.is_some(),
        state: state.to_string(),
        read: matches!(state, "read" | "acknowledged"),
        acknowledged: state == "acknowledged",
        require_ack: m.require_ack,
        response_options: m.response_options.clone(),
        my_response: view
            .my_receipt
            .as_ref()
            .and_then(|r| r.times.response.clone()),
        board_link: m.sender_id == v.caller.id() && m.tracking != Tracking::Off,
    };
    render(StatusCode::OK, &page)
}

/// The confirmation form, for browsers without scripts.
#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    response: Option<String>,
}

/// `POST /notices/{id}/ack`: confirms with the server's clock (a page with its script
/// confirms through the outbox instead, with the device's time of the click).
pub async fn ack_without_script(
    State(s): State<ServerState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<AckForm>,
) -> Response {
    if !v.csrf_ok(&f.csrf) {
        return error_page(
            v.lang,
            ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", v.t().form_expired),
        );
    }
    let input = ReceiptInput {
        event_id: Some(uuid::Uuid::new_v4().to_string()),
        message_id: Some(id.clone()),
        kind: Some("ack".into()),
        at: Some(s.app.clock().now().to_string()),
        device_at: None,
        response: f.response.filter(|r| !r.is_empty()),
    };
    match s.app.submit_receipts(&v.caller, vec![Ok(input)]).await {
        Ok(results) => match results.into_iter().next().map(|r| r.outcome) {
            Some(readtrack_service::records::WriteOutcome::Rejected(e)) => {
                error_page(v.lang, ApiError::bad_request(e.code, e.message))
            }
            _ => Redirect::to(&format!(
                "/notices/{}",
                crate::web::session::percent_encode(&id)
            ))
            .into_response(),
        },
        Err(e) => error_page(v.lang, e.into()),
    }
}
