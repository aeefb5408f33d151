//! The SDK's error: the server's JSON error body as a typed value, or the reason the
//! server could not be asked at all.

use std::time::Duration;

use readtrack_protocol::directory::ImportResult;

use crate::store::StoreError;

/// Result of an SDK call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with its error body
    /// (`{"error": {"code", "message"}}`).
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable snake_case code (`not_found`, `rate_limited`, ...).
        code: String,
        /// The server's sentence for people.
        message: String,
        /// `Retry-After`, on 429 and some 503s.
        retry_after: Option<Duration>,
    },
    /// A members import was refused (400): nothing was written; the body lists each
    /// bad line.
    #[error("the import was refused: {} line(s) need fixing", .0.errors.len())]
    ImportRefused(ImportResult),
    /// The server could not be reached, or the connection broke before an answer
    /// (offline, refused, timed out, reset).
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered something that is not readtrack's API (a proxy's error
    /// page, a body that does not parse).
    #[error("unexpected answer from the server (HTTP {status}): {detail}")]
    Protocol {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A caller-supplied value is unusable (a bad URL, an empty id).
    #[error("{0}")]
    Invalid(String),
    /// The request needs a token and the client has none: sign in first.
    #[error("not signed in: run `readtrack login` (or give the client a token)")]
    NotSignedIn,
}

impl ClientError {
    /// Whether trying the same request later may succeed: the server was unreachable,
    /// or answered 5xx, 429 or 408.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Network(_) => true,
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            _ => false,
        }
    }

    /// Whether the server could not be reached at all (the caller should use its cache).
    pub fn is_offline(&self) -> bool {
        matches!(self, ClientError::Network(_))
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The server's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for answers the server gave.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
            ClientError::ImportRefused(_) => Some(400),
            _ => None,
        }
    }

    pub(crate) fn network(e: &reqwest::Error) -> Self {
        // reqwest's own message ("error sending request for url (...)") hides the
        // cause; the innermost source says what happened ("Connection refused").
        let mut innermost: &dyn std::error::Error = e;
        while let Some(s) = innermost.source() {
            innermost = s;
        }
        let what = if e.is_timeout() {
            "no answer in time".to_string()
        } else if e.is_connect() {
            format!("cannot connect ({innermost})")
        } else {
            innermost.to_string()
        };
        let host = e
            .url()
            .and_then(|u| {
                u.host_str()
                    .map(|h| (h.to_string(), u.port_or_known_default()))
            })
            .map(|(h, p)| match p {
                Some(p) => format!("{h}:{p}: "),
                None => format!("{h}: "),
            })
            .unwrap_or_default();
        ClientError::Network(format!("{host}{what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> ClientError {
        ClientError::Api {
            status,
            code: "x".into(),
            message: "y".into(),
            retry_after: None,
        }
    }

    #[test]
    fn server_trouble_and_rate_limits_are_retryable_but_client_mistakes_are_not() {
        assert!(api(503).is_retryable());
        assert!(api(500).is_retryable());
        assert!(api(429).is_retryable());
        assert!(ClientError::Network("refused".into()).is_retryable());
        assert!(!api(400).is_retryable());
        assert!(!api(401).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(!ClientError::NotSignedIn.is_retryable());
    }
}
