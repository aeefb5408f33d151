//! Health, readiness, metrics, the OpenAPI document and the test clock.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use readtrack_domain::message::parse_timestamp;
use readtrack_protocol::ErrorBody;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::ServerState;

/// A health answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: every configured dependency answers: the database, and NATS when the
/// server runs with it.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(s): State<ServerState>) -> ApiResult<Json<Health>> {
    s.app.database_ready().await.map_err(|e| {
        tracing::warn!(error = ?e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
    })?;
    s.app.bus_ready().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("the event bus does not answer: {e}"),
        )
    })?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(s): State<ServerState>) -> Response {
    let mut page = s.metrics.render();
    page.push_str(&crate::metrics_catalog::process_text());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], page).into_response()
}

/// Moves the server's clock (only with `--dev-clock` on loopback).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevClockRequest {
    /// Minutes to move forward (negative: back).
    #[serde(default)]
    pub advance_minutes: Option<i64>,
    /// An instant to set (RFC 3339).
    #[serde(default)]
    pub set: Option<String>,
}

/// The clock after the move.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DevClockResponse {
    /// The server's time now (RFC 3339).
    pub now: String,
}

/// Moves the server's clock for scheduling and validation; due reminders then fire.
#[utoipa::path(post, path = "/api/v1/dev/clock", tag = "operations", request_body = DevClockRequest,
    responses((status = 200, body = DevClockResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn dev_clock(
    State(s): State<ServerState>,
    ApiJson(req): ApiJson<DevClockRequest>,
) -> ApiResult<Json<DevClockResponse>> {
    let clock = s
        .app
        .dev_clock()
        .ok_or_else(|| ApiError::not_found("the test clock (start the server with --dev-clock)"))?;
    match (req.advance_minutes, req.set.as_deref()) {
        (Some(m), None) => {
            if m.abs() > 60 * 24 * 366 {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    "`advance_minutes` must be within a year",
                ));
            }
            clock.advance(jiff::SignedDuration::from_mins(m));
        }
        (None, Some(at)) => {
            clock.set(parse_timestamp("set", at).map_err(readtrack_service::ServiceError::from)?)
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "send exactly one of `advance_minutes` or `set`",
            ));
        }
    }
    Ok(Json(DevClockResponse {
        now: crate::convert::time(s.app.clock().now()),
    }))
}
