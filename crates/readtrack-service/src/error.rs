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
    /// The password was right but the account has two-step sign-in: ask for the code
    /// (401, code `second_factor_required`).
    #[error(
        "this account uses two-step sign-in: give the 6-digit code from your authenticator app"
    )]
    SecondFactorRequired,
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing visible to the caller (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or state rule (409).
    #[error("{0}")]
    Conflict(String),
    /// The resource changed since the version the caller names (412, SCIM `If-Match`).
    #[error("{0}")]
    PreconditionFailed(String),
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
    /// A fault of ours (500), with its cause and the cause's own chain. The server logs
    /// the whole chain once; the caller never sees it.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ServiceError {
    /// A fault of ours described by a message (no underlying error to keep).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }

    /// The error and every error it came from, outermost first, joined by `: `.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }

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
            // Kept whole, sources and all: the server logs it once, callers see a 500.
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// Result of a service call.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_the_chain_of_what_caused_it() {
        let e = ServiceError::from(StorageError::Corrupt("reminder plan \"x\"".into()));
        assert!(matches!(e, ServiceError::Internal(_)));
        assert_eq!(
            e.chain(),
            "internal error: corrupt stored data: reminder plan \"x\""
        );
        assert_eq!(
            ServiceError::internal("hashing failed").chain(),
            "internal error: hashing failed"
        );
        // What the caller may learn is decided by the server; a 4xx keeps its message.
        assert_eq!(
            ServiceError::from(StorageError::Conflict("taken".into())).chain(),
            "taken"
        );
    }
}
