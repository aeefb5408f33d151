//! The service error: "your fault" (4xx) kept apart from "ours" (5xx).

use readtrack_domain::FieldError;
use readtrack_storage::StorageError;

/// Why a service call failed. The server maps each variant to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is malformed or breaks a rule (400); names the field.
    #[error("{0}")]
    Invalid(FieldError),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing visible to the caller (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state rule (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests (429); try again after this many seconds.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
        /// What was limited.
        message: String,
    },
    /// Temporarily unable, e.g. overloaded or shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours (500). The cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A 400 naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::invalid(field, message))
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => Self::NotFound(what),
            StorageError::Conflict(what) => Self::Conflict(what),
            StorageError::Invalid(f) => Self::Invalid(f),
            other => {
                // The chain is logged once here; callers see only an opaque 500.
                tracing::error!(error = ?other, "storage failure");
                Self::Internal(other.to_string())
            }
        }
    }
}

/// Result of a service call.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
