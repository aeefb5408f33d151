//! The one place errors become HTTP responses in the shape API.md fixes.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use readtrack_protocol::ErrorBody;
use readtrack_service::ServiceError;

/// An error answer: a status, a stable code and a message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: String,
    /// Human message (names the field for 400s).
    pub message: String,
    /// Seconds to wait, for 429 and some 503s.
    pub retry_after: Option<u64>,
    /// What went wrong on our side, for the log (never shown).
    pub cause: Option<ErrorCause>,
}

/// The cause of a 5xx answer, with its chain, carried in the response's extensions to
/// [`log_server_errors`], the one place server errors are logged.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub Arc<str>);

impl ApiError {
    /// An error with a status and code.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// 400 naming a field.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let cause = matches!(e, ServiceError::Internal(_)).then(|| ErrorCause(e.chain().into()));
        match e {
            ServiceError::Invalid(f) => Self::new(StatusCode::BAD_REQUEST, f.code, f.message),
            ServiceError::Unauthenticated(m) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
            }
            ServiceError::SecondFactorRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_required",
                ServiceError::SecondFactorRequired.to_string(),
            ),
            ServiceError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            ServiceError::NotFound(what) => Self::not_found(what),
            ServiceError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            ServiceError::PreconditionFailed(m) => {
                Self::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", m)
            }
            ServiceError::RateLimited {
                retry_after_secs,
                message,
            } => Self {
                retry_after: Some(retry_after_secs.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            ServiceError::Unavailable(m) => Self {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            },
            ServiceError::Internal(_) => Self {
                cause,
                ..Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on the server; it has been logged",
                )
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            axum::Json(ErrorBody::new(self.code, self.message)),
        )
            .into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(cause);
        }
        res
    }
}

/// Logs every server error once, with its cause's whole chain when the handler gave one.
pub async fn log_server_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    if res.status().is_server_error() {
        match res.extensions().get::<ErrorCause>() {
            Some(cause) => tracing::error!(
                %method, %path, status = res.status().as_u16(), error = %cause.0,
                "request failed"
            ),
            None => tracing::error!(
                %method, %path, status = res.status().as_u16(),
                "request failed"
            ),
        }
    }
    res
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
