//! The `Idempotency-Key` middleware: a `POST` that carries the header runs once per key
//! and credential; a retry with the same key and body gets the first answer again
//! (`Idempotent-Replayed: true`), the same key with another body 422, a retry while the
//! first is still running 409. Answers of ours that failed (5xx) are not kept, so a
//! retry runs the request again.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use readtrack_service::records::IdempotencyClaim;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::token_of;
use crate::state::ServerState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// Runs a keyed `POST` at most once per key (see the module's description).
pub async fn idempotent(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let Ok(key) = key.to_str().map(str::to_string) else {
        return ApiError::bad_request(
            "invalid",
            "`Idempotency-Key` must be 1 to 255 visible ASCII characters",
        )
        .into_response();
    };
    let (parts, body) = req.into_parts();
    // Keys belong to a credential; without one the request runs as if unkeyed.
    let Some(token) = token_of(&parts) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let scope = Sha256::digest(format!("readtrack-idempotency-v1\0{token}").as_bytes()).to_vec();
    let limit = state
        .config
        .json_body_limit
        .max(state.config.import_body_limit);
    let Ok(bytes) = to_bytes(body, limit).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
        .into_response();
    };
    let mut fingerprint = Sha256::new();
    fingerprint.update(parts.method.as_str().as_bytes());
    fingerprint.update(b"\0");
    fingerprint.update(parts.uri.to_string().as_bytes());
    fingerprint.update(b"\0");
    fingerprint.update(&bytes);
    let fingerprint = fingerprint.finalize().to_vec();
    match state
        .app
        .claim_idempotency_key(&scope, &key, &fingerprint)
        .await
    {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyClaim::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this `Idempotency-Key` was used for a different request; use a new key for a new request",
        )
        .into_response(),
        Ok(IdempotencyClaim::InFlight) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_flight",
            "a request with this `Idempotency-Key` is still being processed; retry shortly",
        )
        .into_response(),
        Ok(IdempotencyClaim::Replay { status, response }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut res = (status, response).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            res
        }
        Ok(IdempotencyClaim::New) => {
            let res = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let status = res.status();
            if status.is_server_error() {
                if let Err(e) = state.app.release_idempotency_key(&scope, &key).await {
                    tracing::warn!(error = %e.chain(), "could not release an idempotency key");
                }
                return res;
            }
            let (res_parts, res_body) = res.into_parts();
            let Ok(body) = to_bytes(res_body, usize::MAX).await else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let text = String::from_utf8_lossy(&body);
            if let Err(e) = state
                .app
                .finish_idempotency_key(&scope, &key, status.as_u16(), &text)
                .await
            {
                tracing::warn!(error = %e.chain(), "could not keep the answer for an idempotency key");
            }
            Response::from_parts(res_parts, Body::from(body))
        }
    }
}
