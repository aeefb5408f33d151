//! Tasks, the team's unread list, reminding by hand, and webhooks.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use readtrack_protocol::receipts::RemindResult;
use readtrack_protocol::tasks::*;
use readtrack_protocol::{ErrorBody, Page};
use readtrack_service::records::{Page as StoragePage, TaskRecord};

use crate::convert::{time, time_opt};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth, PageParams};
use crate::state::ServerState;

/// The wire form of a task.
pub fn task(t: &TaskRecord) -> Task {
    Task {
        id: t.id.to_string(),
        message_id: t.message_id.to_string(),
        member_id: t.member_id.to_string(),
        reason: t.reason.clone(),
        created_at: time(t.created_at),
        done_at: time_opt(t.done_at),
        done_by: t.done_by.clone(),
        title: t.title.clone(),
    }
}

fn page_of<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// The caller's tasks, newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Task>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<Task>>> {
    let limit = p.limit()?;
    let tasks = s
        .app
        .tasks(
            &caller,
            StoragePage {
                limit: limit + 1,
                after: p.id_cursor()?,
            },
        )
        .await?;
    Ok(Json(page_of(
        tasks.iter().map(task).collect(),
        limit,
        |t| t.id.clone(),
    )))
}

/// Marks one of the caller's tasks done.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = Task), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn complete(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Task>> {
    Ok(Json(task(&s.app.complete_task(&caller, &id).await?)))
}

/// Notices escalated to the caller: people they manage or back up who have not read them.
#[utoipa::path(get, path = "/api/v1/team/unread", tag = "tasks", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<TeamUnread>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn team_unread(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<TeamUnread>>> {
    let limit = p.limit()?;
    let rows = s
        .app
        .team_unread(
            &caller,
            StoragePage {
                limit: limit + 1,
                after: p.id_cursor()?,
            },
        )
        .await?;
    let cursor_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let items: Vec<TeamUnread> = rows
        .iter()
        .map(|r| TeamUnread {
            message_id: r.message_id.to_string(),
            title: r.title.clone(),
            member_id: r.recipient_id.to_string(),
            name: r.recipient_name.clone(),
            role: r.role.clone(),
            escalated_at: time(r.created_at),
            state: r.state.as_str().to_string(),
        })
        .collect();
    let mut page = page_of(items, limit, |_| String::new());
    page.next_cursor = page
        .next_cursor
        .map(|_| cursor_ids[limit as usize - 1].to_string());
    Ok(Json(page))
}

/// Reminds every unread recipient now (the sender). Recipients outside their working time
/// are reminded when it starts (`deferred`). Again within 10 minutes: 429.
#[utoipa::path(post, path = "/api/v1/messages/{id}/remind", tag = "receipts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id")),
    responses((status = 200, body = RemindResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn remind(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<RemindResult>> {
    let (reminded, deferred) = s.app.remind_now(&caller, &id).await?;
    Ok(Json(RemindResult { reminded, deferred }))
}

/// Registers a webhook (admin).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, body = Webhook), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_webhook(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    ApiJson(req): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<Webhook>)> {
    let w = s
        .app
        .create_webhook(&caller, &req.url, &req.events, &req.secret)
        .await?;
    Ok((StatusCode::CREATED, Json(webhook(&w))))
}

fn webhook(w: &readtrack_service::records::WebhookRecord) -> Webhook {
    Webhook {
        id: w.id.to_string(),
        url: w.url.clone(),
        events: w.events.clone(),
        created_at: time(w.created_at),
        active: w.disabled_at.is_none(),
        disabled_reason: w.disabled_reason.clone(),
    }
}

/// The organisation's webhooks (admin).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Page<Webhook>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_webhooks(
    State(s): State<ServerState>,
    Auth(caller): Auth,
) -> ApiResult<Json<Page<Webhook>>> {
    let items = s.app.webhooks(&caller).await?.iter().map(webhook).collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Removes a webhook (admin).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.app.delete_webhook(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's recent deliveries (admin).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = Page<Delivery>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Page<Delivery>>> {
    let items = s
        .app
        .webhook_deliveries(&caller, &id)
        .await?
        .into_iter()
        .map(|d| Delivery {
            id: d.id.to_string(),
            event: d.kind,
            seq: d.event_seq,
            attempts: d.attempts,
            delivered_at: time_opt(d.delivered_at),
            last_status: d.last_status,
            last_error: d.last_error,
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}
