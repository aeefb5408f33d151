//! The few API calls the SDK has no typed method for (bulk tokens, relay tokens, policy
//! acknowledgements), as plain authenticated JSON requests.

use std::time::Duration;

use readtrack_client::api::parse_retry_after;
use reqwest::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A refused or failed request.
#[derive(Debug)]
pub enum RestError {
    /// The server answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The first part of the body.
        body: String,
    },
    /// No answer (refused, reset, timed out) or an unreadable one.
    Transport(String),
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Status { status, body, .. } => write!(f, "HTTP {status}: {body}"),
            RestError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RestError {}

impl RestError {
    /// Whether retrying the same request later may succeed (overload, rate limits,
    /// a dropped connection).
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            RestError::Transport(_) => true,
        }
    }

    /// How long the server asked to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::Status { retry_after, .. } => *retry_after,
            RestError::Transport(_) => None,
        }
    }
}

/// `POST base/api/v1/<path>` with a JSON body and a bearer token.
pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
    http: &reqwest::Client,
    base: &Url,
    token: &str,
    path: &str,
    body: &B,
) -> Result<T, RestError> {
    let url = format!("{}/api/v1/{path}", base.as_str().trim_end_matches('/'));
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| RestError::Transport(e.to_string()))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| RestError::Transport(e.to_string()))?;
    if !status.is_success() {
        return Err(RestError::Status {
            status: status.as_u16(),
            retry_after,
            body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| RestError::Transport(format!("the answer to POST {path} does not parse: {e}")))
}

/// `GET <url>` as text (for `/metrics`).
pub async fn get_text(http: &reqwest::Client, url: &str) -> Result<String, RestError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| RestError::Transport(e.to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| RestError::Transport(e.to_string()))?;
    if !status.is_success() {
        return Err(RestError::Status {
            status: status.as_u16(),
            retry_after: None,
            body: text.chars().take(300).collect(),
        });
    }
    Ok(text)
}
