//! Sending, listing and reading notices.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use readtrack_domain::audience::AudienceInput;
use readtrack_domain::message::NewMessageInput;
use readtrack_domain::reminder::ReminderPlanInput;
use readtrack_protocol::messages::*;
use readtrack_protocol::{ErrorBody, Page};
use readtrack_service::records::{InboxFilter, Page as StoragePage};

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, PageParams};
use crate::state::ServerState;

/// Sends a notice. Departments include their sub-departments; a person reached twice is
/// one recipient; the sender is not a recipient.
#[utoipa::path(post, path = "/api/v1/messages", tag = "messages", request_body = SendMessage, security(("bearer" = [])),
    responses((status = 201, body = SentMessage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn send(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<SendMessage>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    let input = NewMessageInput {
        title: Some(req.title),
        body: Some(req.body),
        priority: req.priority,
        tracking: req.tracking,
        require_ack: Some(req.require_ack),
        response_options: req.response_options,
        audience: Some(AudienceInput {
            members: req.audience.members,
            departments: req.audience.departments,
        }),
        reminders: req.reminders.map(|r| ReminderPlanInput {
            remind_after_minutes: r.remind_after_minutes,
            remind_every_minutes: r.remind_every_minutes,
            max_reminders: r.max_reminders,
            escalate_after_minutes: r.escalate_after_minutes,
            escalate_to: r.escalate_to,
            create_task: r.create_task,
        }),
        deadline: req.deadline,
        emergency_reason: req.emergency_reason,
    };
    let m = s.app.send_message(&caller, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(SentMessage {
            id: m.id.to_string(),
            recipient_count: m.recipient_count,
            is_async: m.is_async,
            created_at: convert::time(m.created_at),
        }),
    ))
}

/// The caller's inbox or sent notices, newest first.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", security(("bearer" = [])),
    params(("box" = Option<String>, Query, description = "`inbox` (default) or `sent`"),
           ("state" = Option<String>, Query, description = "`unread` for unread only (inbox)"),
           ("limit" = Option<i64>, Query, description = "Page size, 1–500"),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = Page<MessageSummary>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Page<MessageSummary>>> {
    let page = PageParams {
        limit: match q.get("limit") {
            None => None,
            Some(l) => Some(l.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_field",
                    "`limit` must be a number between 1 and 500",
                )
            })?),
        },
        cursor: q.get("cursor").cloned(),
    };
    let limit = page.limit()?;
    let after = page.id_cursor()?;
    let storage_page = StoragePage {
        limit: limit + 1,
        after,
    };
    let mut items: Vec<MessageSummary> = match q.get("box").map(String::as_str).unwrap_or("inbox") {
        "inbox" => {
            let filter = match q.get("state").map(String::as_str) {
                None | Some("") | Some("all") => InboxFilter::All,
                Some("unread") => InboxFilter::Unread,
                Some(other) => {
                    return Err(ApiError::bad_request(
                        "invalid_field",
                        format!("`state` must be \"unread\" or \"all\", got {other:?}"),
                    ));
                }
            };
            s.app
                .inbox(&caller, filter, storage_page)
                .await?
                .iter()
                .map(|i| convert::message_summary(&i.message, Some(&i.receipt)))
                .collect()
        }
        "sent" => s
            .app
            .sent_messages(&caller, storage_page)
            .await?
            .iter()
            .map(|m| convert::message_summary(m, None))
            .collect(),
        other => {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("`box` must be \"inbox\" or \"sent\", got {other:?}"),
            ));
        }
    };
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|m| m.id.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// A notice; a recipient also gets `my_state`. Anyone but its sender and recipients: 404.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = MessageDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageDetail>> {
    let view = s.app.message(&caller, &id).await?;
    Ok(Json(convert::message_detail(&view)))
}
