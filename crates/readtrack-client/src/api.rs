//! A typed async client for readtrack's HTTP API (`/api/v1`), over the wire types of
//! `readtrack-protocol`. Every error answer becomes [`ClientError::Api`] with the
//! server's code and message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use readtrack_protocol::auth::{
    LoginRequest, LoginResponse, Me, OidcExchangeRequest, SetupRequest, SetupResponse,
};
use readtrack_protocol::directory::{Department, ImportResult, Member};
use readtrack_protocol::messages::{MessageDetail, MessageSummary, SendMessage, SentMessage};
use readtrack_protocol::receipts::{Board, ReceiptBatch, ReceiptItem, ReceiptResults};
use readtrack_protocol::{ErrorBody, Page};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, SERVER_TIME_HEADER, ServerClock, SystemClock, parse_server_time};
use crate::error::{ClientError, Result};

/// Timeouts of an [`ApiClient`].
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request, answer included.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Which page of the inbox (or sent box) to list.
#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    /// Page size, 1–500 (server default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only unread notices.
    pub unread_only: bool,
}

/// Which page of a read board to fetch.
#[derive(Debug, Clone, Default)]
pub struct BoardQuery {
    /// `unread`, `read` or `acknowledged`; everyone when `None`.
    pub state: Option<String>,
    /// Page size, 1–500.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Filters of the member list.
#[derive(Debug, Clone, Default)]
pub struct MemberQuery {
    /// Name or email containing this text.
    pub q: Option<String>,
    /// Only members of this department.
    pub department_id: Option<String>,
    /// Page size, 1–500.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A client of one readtrack server, optionally signed in. Cheap to clone (the
/// connection pool and the learned server clock are shared).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<str>>,
    clock: Arc<ServerClock>,
}

impl std::fmt::Debug for ApiClient {
    // By hand: the token is a secret and must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("signed_in", &self.token.is_some())
            .finish()
    }
}

/// Called with the bytes of the body sent so far, for upload progress.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

const UPLOAD_CHUNK: usize = 64 * 1024;

impl ApiClient {
    /// A client of the server at `base_url` (`http://host:port`, or with a path prefix
    /// when behind a reverse proxy), with default timeouts.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_options(base_url, ClientOptions::default())
    }

    /// A client with the given timeouts.
    pub fn with_options(base_url: &str, options: ClientOptions) -> Result<Self> {
        crate::tls::install_crypto_provider();
        let base = Url::parse(base_url.trim()).map_err(|e| {
            ClientError::Invalid(format!("server URL {base_url:?} is not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ClientError::Invalid(format!(
                "server URL {base_url:?} must look like http://host:port or https://host"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("readtrack-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: None,
            clock: Arc::new(ServerClock::new(Arc::new(SystemClock))),
        })
    }

    /// The same client on another device clock (a test playing a device whose clock is
    /// off); the offset is learned afresh.
    pub fn with_device_clock(mut self, device: Arc<dyn Clock>) -> Self {
        self.clock = Arc::new(ServerClock::new(device));
        self
    }

    /// The server's clock as learned from its answers so far.
    pub fn server_clock(&self) -> &Arc<ServerClock> {
        &self.clock
    }

    /// The same client acting with `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self
    }

    /// Whether the client has a token.
    pub fn is_signed_in(&self) -> bool {
        self.token.is_some()
    }

    /// The token, for handing to another client (e.g. the WebSocket).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `base/api/v1/<segments...>`, each segment percent-encoded (ids are opaque).
    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|_| {
                ClientError::Invalid(format!("server URL {} cannot have a path", self.base))
            })?;
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        Ok(url)
    }

    /// The WebSocket URL of the stream, resuming after `since` when given.
    pub fn stream_url(&self, since: Option<i64>) -> Result<Url> {
        let mut url = self.url(&["stream"])?;
        let scheme = if self.base.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        url.set_scheme(scheme).map_err(|_| {
            ClientError::Invalid(format!("cannot make a WebSocket URL of {}", self.base))
        })?;
        if let Some(since) = since {
            url.query_pairs_mut()
                .append_pair("since", &since.to_string());
        }
        Ok(url)
    }

    fn request(&self, method: Method, segments: &[&str], auth: bool) -> Result<RequestBuilder> {
        let builder = self.http.request(method, self.url(segments)?);
        if !auth {
            return Ok(builder);
        }
        match &self.token {
            Some(token) => Ok(builder.bearer_auth(token)),
            None => Err(ClientError::NotSignedIn),
        }
    }

    /// Sends a request, learning the server's clock from the answer.
    async fn exchange(&self, builder: RequestBuilder) -> Result<Response> {
        let sent = self.clock.device_now();
        let response = builder.send().await.map_err(|e| ClientError::network(&e))?;
        let received = self.clock.device_now();
        if let Some(server) = response
            .headers()
            .get(SERVER_TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_server_time)
        {
            self.clock.observe(sent, received, server);
        }
        Ok(response)
    }

    async fn send<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T> {
        let response = self.exchange(builder).await?;
        let status = response.status();
        let bytes = Self::ok_bytes(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            status: status.as_u16(),
            detail: format!("the body does not match the API: {e}"),
        })
    }

    /// The body of a 2xx answer, or the error the answer stands for.
    async fn ok_bytes(response: Response) -> Result<Vec<u8>> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::network(&e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                retry_after,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let detail: String = text.trim().chars().take(200).collect();
                if status == StatusCode::TOO_MANY_REQUESTS || retry_after.is_some() {
                    // Keep the wait even when a proxy wrote the body.
                    ClientError::Api {
                        status: status.as_u16(),
                        code: "unavailable".into(),
                        message: detail,
                        retry_after,
                    }
                } else {
                    ClientError::Protocol {
                        status: status.as_u16(),
                        detail: if detail.is_empty() {
                            "empty body".into()
                        } else {
                            detail
                        },
                    }
                }
            }
        })
    }

    /// `POST /api/v1/setup`: creates the organisation and its first admin on a new server.
    pub async fn setup(&self, request: &SetupRequest) -> Result<SetupResponse> {
        self.send(self.request(Method::POST, &["setup"], false)?.json(request))
            .await
    }

    /// `POST /api/v1/auth/login`. The answer's token is not kept: build a new client
    /// with [`ApiClient::with_token`].
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse> {
        self.login_with_code(email, password, None).await
    }

    /// `POST /api/v1/auth/login` for an account with two-step sign-in: with the current
    /// code of the authenticator app (without one, such an account answers 401
    /// `second_factor_required`).
    pub async fn login_with_code(
        &self,
        email: &str,
        password: &str,
        second_factor_code: Option<&str>,
    ) -> Result<LoginResponse> {
        let body = LoginRequest {
            email: email.to_string(),
            password: password.to_string(),
            second_factor_code: second_factor_code.map(str::to_string),
        };
        self.send(
            self.request(Method::POST, &["auth", "login"], false)?
                .json(&body),
        )
        .await
    }

    /// `POST /api/v1/auth/oidc/exchange`: the one-time code of a sign-in with the company
    /// account, with the PKCE verifier the sign-in was started with, for a session. The
    /// answer's token is not kept: build a new client with [`ApiClient::with_token`].
    pub async fn oidc_exchange(&self, code: &str, code_verifier: &str) -> Result<LoginResponse> {
        let body = OidcExchangeRequest {
            code: code.to_string(),
            code_verifier: code_verifier.to_string(),
        };
        self.send(
            self.request(Method::POST, &["auth", "oidc", "exchange"], false)?
                .json(&body),
        )
        .await
    }

    /// `GET /api/v1/me`.
    pub async fn me(&self) -> Result<Me> {
        self.send(self.request(Method::GET, &["me"], true)?).await
    }

    async fn messages(&self, which: &str, q: &InboxQuery) -> Result<Page<MessageSummary>> {
        let mut params: Vec<(&str, String)> = vec![("box", which.to_string())];
        push_page(&mut params, q.limit, q.cursor.as_deref());
        if q.unread_only {
            params.push(("state", "unread".into()));
        }
        self.send(
            self.request(Method::GET, &["messages"], true)?
                .query(&params),
        )
        .await
    }

    /// One page of the inbox, newest first.
    pub async fn inbox(&self, q: &InboxQuery) -> Result<Page<MessageSummary>> {
        self.messages("inbox", q).await
    }

    /// One page of the notices the caller sent, newest first.
    pub async fn sent(&self, q: &InboxQuery) -> Result<Page<MessageSummary>> {
        self.messages("sent", q).await
    }

    /// `GET /api/v1/messages/{id}`: a notice in full (404 unless the caller sent or
    /// received it).
    pub async fn message(&self, id: &str) -> Result<MessageDetail> {
        let id = non_empty("message id", id)?;
        self.send(self.request(Method::GET, &["messages", id], true)?)
            .await
    }

    /// `POST /api/v1/messages`: sends a notice. Every try carries the same
    /// `Idempotency-Key`, so when an answer is lost (the connection broke, a proxy
    /// answered 502) the send is tried again up to [`SEND_ATTEMPTS`] times and the server
    /// answers the retry with the first notice instead of notifying everyone twice.
    pub async fn send_message(&self, message: &SendMessage) -> Result<SentMessage> {
        let key = uuid::Uuid::new_v4().to_string();
        let mut wait = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let result = self
                .send(
                    self.request(Method::POST, &["messages"], true)?
                        .header("idempotency-key", key.as_str())
                        .json(message),
                )
                .await;
            let again = match &result {
                Err(ClientError::Network(_)) => Some(wait),
                Err(ClientError::Protocol { status, .. }) if *status >= 500 => Some(wait),
                Err(ClientError::Api {
                    status,
                    code,
                    retry_after,
                    ..
                }) if *status >= 500 || code == "idempotency_key_in_flight" => {
                    Some(retry_after.unwrap_or(wait))
                }
                _ => None,
            };
            match again {
                Some(pause) if attempt < SEND_ATTEMPTS => {
                    tokio::time::sleep(pause.min(Duration::from_secs(10))).await;
                    wait *= 2;
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    /// `GET /api/v1/messages/{id}/receipts`: one page of a notice's read board.
    pub async fn board(&self, id: &str, q: &BoardQuery) -> Result<Board> {
        let id = non_empty("message id", id)?;
        let mut params: Vec<(&str, String)> = Vec::new();
        push_page(&mut params, q.limit, q.cursor.as_deref());
        if let Some(state) = &q.state {
            params.push(("state", state.clone()));
        }
        self.send(
            self.request(Method::GET, &["messages", id, "receipts"], true)?
                .query(&params),
        )
        .await
    }

    /// `POST /api/v1/receipts`: at most 1000 receipts; one result per item, in order.
    /// Apps should go through [`crate::Outbox`], which never loses one.
    pub async fn post_receipts(&self, receipts: &[ReceiptItem]) -> Result<ReceiptResults> {
        let body = ReceiptBatch {
            receipts: receipts.to_vec(),
        };
        self.send(self.request(Method::POST, &["receipts"], true)?.json(&body))
            .await
    }

    /// `GET /api/v1/departments`, every page.
    pub async fn departments(&self) -> Result<Vec<Department>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params: Vec<(&str, String)> = Vec::new();
            push_page(&mut params, Some(500), cursor.as_deref());
            let page: Page<Department> = self
                .send(
                    self.request(Method::GET, &["departments"], true)?
                        .query(&params),
                )
                .await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// `GET /api/v1/members`: one page.
    pub async fn members(&self, q: &MemberQuery) -> Result<Page<Member>> {
        let mut params: Vec<(&str, String)> = Vec::new();
        push_page(&mut params, q.limit, q.cursor.as_deref());
        if let Some(text) = &q.q {
            params.push(("q", text.clone()));
        }
        if let Some(d) = &q.department_id {
            params.push(("department_id", d.clone()));
        }
        self.send(
            self.request(Method::GET, &["members"], true)?
                .query(&params),
        )
        .await
    }

    /// The active member with exactly this email (case-insensitive), if any.
    pub async fn member_by_email(&self, email: &str) -> Result<Option<Member>> {
        let wanted = email.trim();
        let page = self
            .members(&MemberQuery {
                q: Some(wanted.to_string()),
                limit: Some(500),
                ..Default::default()
            })
            .await?;
        Ok(page
            .items
            .into_iter()
            .find(|m| m.email.eq_ignore_ascii_case(wanted)))
    }

    /// `POST /api/v1/members/import` (admin): a CSV file. A refused file (400) is
    /// [`ClientError::ImportRefused`] with every bad line. `progress` hears the bytes
    /// sent so far.
    pub async fn import_members(
        &self,
        csv: Vec<u8>,
        dry_run: bool,
        deactivate_missing: bool,
        progress: Option<ProgressFn>,
    ) -> Result<ImportResult> {
        let total = csv.len() as u64;
        let sent = Arc::new(AtomicU64::new(0));
        let chunks: Vec<Vec<u8>> = csv.chunks(UPLOAD_CHUNK).map(<[u8]>::to_vec).collect();
        let stream = futures_util::stream::iter(chunks.into_iter().map(move |chunk| {
            let so_far = sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if let Some(report) = &progress {
                report(so_far);
            }
            Ok::<Vec<u8>, std::io::Error>(chunk)
        }));
        let mut builder = self
            .request(Method::POST, &["members", "import"], true)?
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(stream));
        if dry_run {
            builder = builder.query(&[("dry_run", "true")]);
        }
        if deactivate_missing {
            builder = builder.query(&[("deactivate_missing", "true")]);
        }
        let response = builder.send().await.map_err(|e| ClientError::network(&e))?;
        let status = response.status();
        if status == StatusCode::BAD_REQUEST {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| ClientError::network(&e))?;
            // A refused file answers with the import result; anything else with the
            // usual error body.
            if let Ok(result) = serde_json::from_slice::<ImportResult>(&bytes) {
                return Err(ClientError::ImportRefused(result));
            }
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Api {
                    status: 400,
                    code: body.error.code,
                    message: body.error.message,
                    retry_after: None,
                },
                Err(e) => ClientError::Protocol {
                    status: 400,
                    detail: format!("the body does not match the API: {e}"),
                },
            });
        }
        let bytes = Self::ok_bytes(response).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            status: status.as_u16(),
            detail: format!("the body does not match the API: {e}"),
        })
    }

    /// `PATCH /api/v1/org/settings` (admin): changes the settings the patch names.
    pub async fn update_org_settings(
        &self,
        patch: &readtrack_protocol::privacy::OrgSettingsPatch,
    ) -> Result<serde_json::Value> {
        self.send(
            self.request(Method::PATCH, &["org", "settings"], true)?
                .json(patch),
        )
        .await
    }

    /// A raw authenticated GET of an API path, for endpoints this client has no typed
    /// call for yet.
    pub async fn get_json<T: DeserializeOwned, Q: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        query: &Q,
    ) -> Result<T> {
        self.send(self.request(Method::GET, segments, true)?.query(query))
            .await
    }
}

fn non_empty<'a>(what: &str, value: &'a str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        Err(ClientError::Invalid(format!("the {what} is empty")))
    } else {
        Ok(v)
    }
}

fn push_page(params: &mut Vec<(&str, String)>, limit: Option<u32>, cursor: Option<&str>) {
    if let Some(limit) = limit {
        params.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
        params.push(("cursor", cursor.to_string()));
    }
}

/// Tries of one send before its error is returned (all with one `Idempotency-Key`).
pub const SEND_ATTEMPTS: u32 = 4;

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_single_encoded_path_segments() {
        let c = ApiClient::new("http://127.0.0.1:8080/prefix/").expect("valid URL");
        let url = c.url(&["messages", "a/b c"]).expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/prefix/api/v1/messages/a%2Fb%20c"
        );
    }

    #[test]
    fn the_stream_url_speaks_websocket_and_resumes_after_since() {
        let c = ApiClient::new("https://rt.example").expect("valid URL");
        assert_eq!(
            c.stream_url(Some(42)).expect("url").as_str(),
            "wss://rt.example/api/v1/stream?since=42"
        );
        let c = ApiClient::new("http://127.0.0.1:1").expect("valid URL");
        assert_eq!(
            c.stream_url(None).expect("url").as_str(),
            "ws://127.0.0.1:1/api/v1/stream"
        );
    }

    #[test]
    fn a_server_url_must_be_http_or_https() {
        assert!(ApiClient::new("ftp://x").is_err());
        assert!(ApiClient::new("not a url").is_err());
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let c = ApiClient::new("http://127.0.0.1:1")
            .expect("valid URL")
            .with_token("rt_secret");
        assert!(!format!("{c:?}").contains("rt_secret"));
    }
}
