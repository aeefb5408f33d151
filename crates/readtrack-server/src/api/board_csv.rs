//! `GET /api/v1/messages/{id}/receipts.csv`: the read board as a spreadsheet.
//!
//! It carries exactly what the board may show: the same service call, the same privacy
//! filter, the same coarse times for reads in quiet hours. People who may not be listed
//! are not in the file at all (the board counts them as `hidden`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use readtrack_service::records::StateFilter;
use serde::Deserialize;

use crate::convert;
use crate::csv_out::SpreadsheetCsv;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth};
use crate::state::ServerState;

/// Rows fetched per board page while writing the file.
const PAGE: u32 = 500;

/// Filters of the CSV.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvQuery {
    /// `unread`, `read` or `acknowledged`; everyone shown on the board when absent.
    pub state: Option<String>,
}

/// The board's per-person rows as CSV (sender, or an admin through the audited view).
#[utoipa::path(get, path = "/api/v1/messages/{id}/receipts.csv", tag = "receipts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Message id"), CsvQuery),
    responses((status = 200, description = "CSV: name,department,state,delivered_at,read_at,acked_at,response,outside_working_hours,reminders,escalated_at", content_type = "text/csv"),
              (status = 400, body = readtrack_protocol::ErrorBody), (status = 401, body = readtrack_protocol::ErrorBody), (status = 403, body = readtrack_protocol::ErrorBody), (status = 404, body = readtrack_protocol::ErrorBody)))]
pub async fn board_csv(
    State(s): State<ServerState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CsvQuery>,
) -> ApiResult<Response> {
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
    let departments = s.app.departments(&caller).await?;
    let dept_name = |id: &str| {
        departments
            .iter()
            .find(|d| d.id.to_string() == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let mut out = SpreadsheetCsv::new();
    out.record([
        "name",
        "department",
        "state",
        "delivered_at",
        "read_at",
        "acked_at",
        "response",
        "outside_working_hours",
        "reminders",
        "escalated_at",
    ])?;
    let mut cursor = None;
    loop {
        let view = s.app.board(&caller, &id, filter, cursor, PAGE).await?;
        for row in &view.rows {
            let item = convert::board_item(row);
            // Any time withheld for the person's quiet hours is said, not shown.
            let outside = item.outside_working_hours
                || item.acked_outside_working_hours
                || item.delivered_outside_working_hours;
            out.record([
                item.name,
                dept_name(&item.department_id),
                item.state,
                item.delivered_at.unwrap_or_default(),
                item.read_at.unwrap_or_default(),
                item.acked_at.unwrap_or_default(),
                item.response.unwrap_or_default(),
                outside.to_string(),
                item.reminders.to_string(),
                item.escalated_at.unwrap_or_default(),
            ])?;
        }
        match view.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let body = out.into_bytes()?;
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"notice-{}-receipts.csv\"",
        id.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
