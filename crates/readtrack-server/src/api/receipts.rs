//! Receipts and the read board.

use axum::Json;
use axum::extract::{Path, Request, State};
use readtrack_domain::FieldError;
use readtrack_domain::receipt::ReceiptInput;
use readtrack_protocol::receipts::*;
use readtrack_protocol::{ErrorBody, ErrorDetail};
use readtrack_service::board::{decode_cursor, encode_cursor};
use readtrack_service::receipts::ItemResult;
use readtrack_service::records::{StateFilter, WriteOutcome};
use serde::Deserialize;
use serde_json::Value;

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth, body_bytes, parse_json};
use crate::state::ServerState;

/// One item as read: the report and the member it names (relay tokens only), or why it
/// could not be read.
pub type ItemInput = Result<(ReceiptInput, Option<String>), FieldError>;

/// Reads one item leniently: a malformed item becomes a rejection of that item only.
pub fn item_input(i: usize, v: &Value) -> ItemInput {
    let Some(obj) = v.as_object() else {
        return Err(FieldError::invalid(
            format!("receipts[{i}]"),
            format!("`receipts[{i}]` must be an object with event_id, message_id, kind and at"),
        ));
    };
    let string = |name: &str| -> Result<Option<String>, FieldError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(FieldError::invalid(
                name,
                format!("`{name}` must be a string"),
            )),
        }
    };
    Ok((
        ReceiptInput {
            event_id: string("event_id")?,
            message_id: string("message_id")?,
            kind: string("kind")?,
            at: string("at")?,
            device_at: string("device_at")?,
            response: string("response")?,
        },
        string("member_id")?,
    ))
}

/// Wire results of a batch.
pub fn results(items: Vec<ItemResult>) -> Vec<ReceiptResult> {
    items
        .into_iter()
        .map(|r| {
            let (status, error) = match r.outcome {
                WriteOutcome::Applied => (ReceiptStatus::Applied, None),
                WriteOutcome::Duplicate => (ReceiptStatus::Duplicate, None),
                WriteOutcome::Rejected(e) => (
                    ReceiptStatus::Rejected,
                    Some(ErrorDetail {
                        code: e.code.to_string(),
                        message: e.message,
                    }),
                ),
            };
            ReceiptResult {
                event_id: r.event_id,
                status,
                error,
            }
        })
        .collect()
}

/// Parses a batch envelope `{"receipts": [...]}` into per-item inputs.
pub fn batch_inputs(body: &Value) -> Result<Vec<ItemInput>, ApiError> {
    let list = body
        .get("receipts")
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_field",
                "`receipts` is required: a list of at most 1000 receipts",
            )
        })?
        .as_array()
        .ok_or_else(|| ApiError::bad_request("invalid_field", "`receipts` must be a list"))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, v)| item_input(i, v))
        .collect())
}

/// Reports delivered / read / ack receipts (at most 1000). Each item gets its own
/// result; `applied` means durably committed.
#[utoipa::path(post, path = "/api/v1/receipts", tag = "receipts", request_body = ReceiptBatch, security(("bearer" = [])),
    responses((status = 200, body = ReceiptResults), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_receipts(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    req: Request,
) -> ApiResult<Json<ReceiptResults>> {
    let bytes = body_bytes(req, &s).await?;
    let body: Value = parse_json(&bytes)?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the body must be an object: {\"receipts\": [...]}",
        ));
    }
    let inputs = batch_inputs(&body)?;
    let items = s.app.submit_receipts_for(&caller, inputs).await?;
    Ok(Json(ReceiptResults {
        results: results(items),
    }))
}

/// Board filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// `unread`, `read` or `acknowledged`; all when absent.
    pub state: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The read board of a notice: for its sender, or an admin through the audited view
/// (this same call, which records an audit entry). Untracked notices: 404. Anyone else: 403.
#[utoipa::path(get, path = "/api/v1/messages/{id}/receipts", tag = "receipts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id"), BoardQuery),
    responses((status = 200, body = Board), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn board(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> ApiResult<Json<Board>> {
    let filter = match q.state.as_deref() {
        None | Some("") | Some("all") => StateFilter::All,
        Some("unread") => StateFilter::Unread,
        Some("read") => StateFilter::Read,
        Some("acknowledged") => StateFilter::Acknowledged,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("`state` must be \"unread\", \"read\" or \"acknowledged\", got {other:?}"),
            ));
        }
    };
    let limit = crate::extract::PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let cursor = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    let view = s.app.board(&caller, &id, filter, cursor, limit).await?;
    Ok(Json(Board {
        summary: convert::summary(&view.summary),
        by_department: view
            .departments
            .iter()
            .map(convert::department_line)
            .collect(),
        items: view.rows.iter().map(convert::board_item).collect(),
        next_cursor: view.next.map(encode_cursor),
    }))
}
