//! Extractors that answer malformed input in the API's error shape, naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::ServerState;
use readtrack_service::Caller;

/// A JSON body whose errors name the offending field (`audience.members[1]: invalid type`).
pub struct ApiJson<T>(pub T);

/// Reads the whole body, mapping "too large" to 413 in the API's shape.
pub async fn body_bytes(req: Request, state: &ServerState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::limits::body_too_large()
        } else {
            ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {e}"),
            )
        }
    })
}

/// Parses JSON, naming the path of the first problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; send a JSON object",
        ));
    }
    // Every request body of the API is an object. serde would also fill a struct from a
    // JSON array, field by field in declaration order, so `["Europe/London"]` sent to a
    // PATCH would set whatever field happens to come first: refuse anything else.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::bad_request(
            "invalid_field",
            "the body must be a JSON object ({...})",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = inner.to_string();
        // serde's messages end with " at line L column C": keep them, they help.
        let (code, message) = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => (
                "invalid_json",
                format!("the body is not valid JSON: {what}"),
            ),
            _ if path == "." || path.is_empty() => (
                "invalid_field",
                format!("the body does not have the expected shape: {what}"),
            ),
            _ => ("invalid_field", format!("`{path}`: {what}")),
        };
        ApiError::bad_request(code, message)
    })
}

impl<T: DeserializeOwned> FromRequest<ServerState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ServerState) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string whose errors are in the API's shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<ServerState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("the query string is invalid: {}", e.body_text()),
                )
            })
    }
}

/// Where a request's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`: set deliberately by a client, so no CSRF check is needed.
    Bearer,
    /// The web session cookie, which a browser attaches by itself: writes need a CSRF token.
    Cookie,
}

/// The header the web pages' scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The bearer token of a request and where it came from: `Authorization: Bearer`, else
/// the web session cookie.
pub fn token_with_source(parts: &Parts) -> Option<(String, TokenSource)> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((token.trim().to_string(), TokenSource::Bearer));
        }
        return None;
    }
    cookie(parts, crate::SESSION_COOKIE).map(|t| (t, TokenSource::Cookie))
}

/// The bearer token of a request: `Authorization: Bearer`, else the web session cookie.
pub fn token_of(parts: &Parts) -> Option<String> {
    token_with_source(parts).map(|(t, _)| t)
}

/// The value of the first cookie called `name`.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

/// The value of the first cookie called `name` in these request headers.
pub fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    for header in headers.get_all(axum::http::header::COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The CSRF token of a session: derived from the session's secret, so it is unguessable
/// without the cookie, needs no storage, and survives a server restart (a page loaded
/// before the restart can still send what it queued).
pub fn csrf_token(session_token: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("readtrack-csrf-v1\0{session_token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// Compares a presented CSRF token with the session's in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether a method may change state (and so needs a CSRF token when the cookie is used).
pub fn is_unsafe_method(method: &axum::http::Method) -> bool {
    !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// The authenticated caller; 401 in the API's shape otherwise. A write authenticated by
/// the session cookie must carry the session's CSRF token in `X-CSRF-Token` (403
/// otherwise): another site can make a browser send the cookie, never the header.
pub struct Auth(pub Caller);

impl FromRequestParts<ServerState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, ApiError> {
        let (token, source) = token_with_source(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send `Authorization: Bearer <token>`; get a token from POST /api/v1/auth/login",
            )
        })?;
        if source == TokenSource::Cookie && is_unsafe_method(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !csrf_matches(&token, presented) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "a request authenticated by the session cookie must send the page's CSRF token in `X-CSRF-Token`; reload the page",
                ));
            }
        }
        let caller = state.app.authenticate(&token).await?;
        // Nested routers see a shortened path; the original one is what the client asked for.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|u| u.0.path().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        require_token_scope(&caller, &path)?;
        Ok(Auth(caller))
    }
}

/// What a token's kind allows, for every way in (HTTP, the WebSocket and the pages
/// alike): a relay token speaks for many members, but only to report their receipts
/// through `POST /api/v1/receipts`; it never reads anything, the stream included. A SCIM
/// token provisions at `/scim/v2` (which checks for it itself) and is refused here, on
/// every other path.
pub fn require_token_scope(caller: &Caller, path: &str) -> Result<(), ApiError> {
    if caller.token_kind == readtrack_service::records::TokenKind::Scim {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "scim_token",
            "a SCIM token may only be used for provisioning at /scim/v2",
        ));
    }
    if caller.token_kind == readtrack_service::records::TokenKind::Relay
        && path != "/api/v1/receipts"
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "relay_token",
            "a relay token may only post receipts (POST /api/v1/receipts)",
        ));
    }
    Ok(())
}

/// Whether a request comes from a page of this server: its `Origin` names the host the
/// request was sent to. Browsers always send `Origin` on a WebSocket handshake, and
/// another site cannot forge it, so a cookie-authenticated stream from elsewhere fails.
pub fn same_origin(parts: &Parts) -> bool {
    let origin = parts
        .headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            origin.split_once("://").is_some_and(|(scheme, authority)| {
                matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
            })
        }
        _ => false,
    }
}

/// Page parameters every list takes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The checked page size.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=500).contains(&n) => Ok(n as u32),
            Some(_) => Err(ApiError::bad_request(
                "invalid_field",
                "`limit` must be between 1 and 500",
            )),
        }
    }

    /// A numeric keyset cursor.
    pub fn id_cursor(&self) -> Result<Option<i64>, ApiError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) if c.is_empty() => Ok(None),
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_field",
                        "`cursor` is not one this server handed out",
                    )
                }),
        }
    }
}

/// The client's address, when the server knows it (it does when served by [`crate::run`]):
/// the connection's, or a trusted proxy's word for it ([`crate::client_addr`]).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<crate::client_addr::Client>()
                .and_then(|c| c.ip),
        ))
    }
}
