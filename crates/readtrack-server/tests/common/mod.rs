//! The test harness: a real server on a random port with its own temporary data
//! directory, and a `TestApp` with one helper per endpoint.
//!
//! `READTRACK_TEST_BACKEND=postgres` (with `READTRACK_TEST_POSTGRES` naming a server)
//! puts every server on a fresh PostgreSQL database of its own instead of SQLite; the
//! database's name is kept in the data directory so a restart reopens the same one.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use readtrack_bus::InProcessBus;
use readtrack_server::{ServerConfig, ServerState};
use readtrack_service::backends::{
    PgConfig, PostgresStorage, ScratchDatabase, SqliteStorage, Storage, with_database,
};
use readtrack_service::clock::{AdjustableClock, Clock};
use readtrack_service::{App, AppConfig, Background};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<AdjustableClock>,
    /// The services behind the server, for what has no endpoint (a second organisation).
    pub service: App,
    data: PathBuf,
    _tmp: Option<KeptData>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// An organisation made by `setup`.
pub struct Org {
    pub admin: String,
    pub admin_id: String,
    pub root: String,
}

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
}

/// A test's data: its temporary directory and, on PostgreSQL, its database. Both go
/// away when this is dropped (after a panic too).
pub struct KeptData {
    _dir: tempfile::TempDir,
    _database: Option<ScratchDatabase>,
}

/// The file in a data directory naming its PostgreSQL test database.
const DATABASE_FILE: &str = "postgres-database";

/// The PostgreSQL server to use, when `READTRACK_TEST_BACKEND=postgres`.
fn postgres_admin_url() -> Option<String> {
    if std::env::var("READTRACK_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    Some(std::env::var("READTRACK_TEST_POSTGRES").expect(
        "READTRACK_TEST_BACKEND=postgres needs READTRACK_TEST_POSTGRES (postgres://user@host:port/db)",
    ))
}

/// Opens the storage of a data directory: its SQLite file, or the PostgreSQL database
/// named in it. A further call gives an independent handle, as another process has.
pub async fn open_storage(data: &Path) -> Arc<dyn Storage> {
    match postgres_admin_url() {
        None => Arc::new(SqliteStorage::open(data).await.expect("open storage")),
        Some(admin) => {
            let name = std::fs::read_to_string(data.join(DATABASE_FILE))
                .expect("the data directory names its database");
            let url = with_database(&admin, name.trim()).expect("database url");
            // Small pools: many servers run side by side on one shared PostgreSQL.
            let config = PgConfig {
                max_connections: 4,
                ..PgConfig::default()
            };
            Arc::new(
                PostgresStorage::connect_with(&url, config)
                    .await
                    .expect("connect to the test database"),
            )
        }
    }
}

impl TestApp {
    /// A server on a fresh temporary data directory (and database).
    pub async fn spawn() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().to_path_buf();
        let database = match postgres_admin_url() {
            None => None,
            Some(admin) => {
                let db = ScratchDatabase::create(&admin)
                    .await
                    .expect("create a test database");
                std::fs::write(data.join(DATABASE_FILE), db.name()).expect("note the database");
                Some(db)
            }
        };
        let mut app = Self::spawn_at(&data, None).await;
        app._tmp = Some(KeptData {
            _dir: tmp,
            _database: database,
        });
        app
    }

    /// A server on a fresh data directory with its own HTTP and service settings
    /// (small queues and caps, to reach overload on purpose).
    pub async fn spawn_with(server: ServerConfig, service: AppConfig) -> Self {
        assert!(
            postgres_admin_url().is_none(),
            "spawn_with runs on SQLite only"
        );
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().to_path_buf();
        let mut app = Self::spawn_configured(&data, None, server, service).await;
        app._tmp = Some(KeptData {
            _dir: tmp,
            _database: None,
        });
        app
    }

    /// A server on a fresh data directory, on a given port (for settings that must name
    /// the server's own address before it starts, as an identity provider's redirect).
    pub async fn spawn_with_port(port: u16, server: ServerConfig, service: AppConfig) -> Self {
        assert!(
            postgres_admin_url().is_none(),
            "spawn_with_port runs on SQLite only"
        );
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().to_path_buf();
        let mut app = Self::spawn_configured(&data, Some(port), server, service).await;
        app._tmp = Some(KeptData {
            _dir: tmp,
            _database: None,
        });
        app
    }

    /// A server on an existing data directory (a restart), optionally on a given port.
    pub async fn spawn_at(data: &Path, port: Option<u16>) -> Self {
        Self::spawn_configured(data, port, ServerConfig::default(), AppConfig::default()).await
    }

    async fn spawn_configured(
        data: &Path,
        port: Option<u16>,
        server: ServerConfig,
        service: AppConfig,
    ) -> Self {
        init();
        let storage = open_storage(data).await;
        let clock = Arc::new(AdjustableClock::new());
        clock.advance(jiff::SignedDuration::from_millis(clock_offset_ms()));
        let (app, background): (App, Background) = App::start(
            storage,
            Arc::new(InProcessBus::new()),
            clock.clone() as Arc<dyn Clock>,
            Some(clock.clone()),
            AppConfig {
                webhook_renderer: Some(readtrack_server::webhook_renderer()),
                ..service
            },
        )
        .await
        .expect("start app");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = ServerState {
            app: app.clone(),
            config: Arc::new(ServerConfig {
                dev_clock: true,
                ..server
            }),
            metrics: readtrack_server::metrics_handle(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            readtrack_server::run(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .expect("server");
            background.stop().await;
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            clock,
            service: app,
            data: data.to_path_buf(),
            _tmp: None,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and returns its data directory (kept alive until the
    /// returned value is dropped).
    pub async fn stop(mut self) -> (PathBuf, Option<KeptData>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
        }
        (self.data.clone(), self._tmp.take())
    }

    /// This server's clock, RFC 3339 (differs from [`now`] once the clock was moved).
    pub fn clock_now(&self) -> String {
        self.clock.now().to_string()
    }

    /// Moves this server's clock through the test endpoint.
    pub async fn advance(&self, minutes: i64) {
        let (status, body) = self
            .post(
                "/api/v1/dev/clock",
                None,
                json!({"advance_minutes": minutes}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Sets this server's clock through the test endpoint.
    pub async fn set_clock(&self, at: &str) {
        let (status, body) = self
            .post("/api/v1/dev/clock", None, json!({"set": at}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value, headers)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send_raw(
                reqwest::Method::POST,
                path,
                token,
                Some(body.to_string().into_bytes()),
                "application/json",
            )
            .await;
        (s, v)
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.json_with(reqwest::Method::PATCH, path, token, body)
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.json_with(reqwest::Method::PUT, path, token, body)
            .await
    }

    /// A JSON body sent with `method`.
    async fn json_with(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send_raw(
                method,
                path,
                token,
                Some(body.to_string().into_bytes()),
                "application/json",
            )
            .await;
        (s, v)
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send_raw(reqwest::Method::DELETE, path, token, None, "")
            .await;
        (s, v)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, v, _) = self
            .send_raw(reqwest::Method::GET, path, token, None, "")
            .await;
        (s, v)
    }

    /// A page as the signed-in member of `token` sees it (redirects not followed).
    pub async fn page_as(&self, token: &str, path: &str) -> (StatusCode, String) {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(self.url(path))
            .header("cookie", format!("rt_session={token}"))
            .send()
            .await
            .expect("request");
        (res.status(), res.text().await.expect("body"))
    }

    /// The actions of the audit log's newest page, as an admin or auditor reads it.
    pub async fn audit_actions(&self, token: &str) -> Vec<String> {
        let (status, audit) = self.get("/api/v1/audit", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{audit}");
        audit["items"]
            .as_array()
            .expect("audit items")
            .iter()
            .filter_map(|e| e["action"].as_str().map(String::from))
            .collect()
    }

    /// First-run setup in Asia/Hong_Kong, in which everyone may send anything: the suites
    /// test what notices do, and the sending rights have their own tests (from the
    /// defaults, with [`TestApp::setup_with_default_rights`]).
    pub async fn setup(&self) -> Org {
        let org = self.setup_with_default_rights().await;
        let (status, body) = self
            .patch(
                "/api/v1/org/settings",
                Some(&org.admin),
                json!({"sending_rights": everyone_sends_everything()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        org
    }

    /// First-run setup in Asia/Hong_Kong with a new organisation's sending rights.
    pub async fn setup_with_default_rights(&self) -> Org {
        let (status, body) = self
            .post(
                "/api/v1/setup",
                None,
                json!({"org_name": "Harbour Line", "time_zone": "Asia/Hong_Kong",
                       "setup_code": self.service.setup_code(),
                       "admin": {"name": "Ivy Lam", "email": "ivy@harbour.example", "password": "correct horse"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let admin = body["token"].as_str().unwrap().to_string();
        let (_, me) = self.get("/api/v1/me", Some(&admin)).await;
        Org {
            admin,
            admin_id: body["admin_id"].as_str().unwrap().to_string(),
            root: me["department_id"].as_str().unwrap().to_string(),
        }
    }

    pub async fn department(&self, token: &str, name: &str, parent: Option<&str>) -> String {
        let (status, body) = self
            .post(
                "/api/v1/departments",
                Some(token),
                json!({"name": name, "parent_id": parent}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// A member with a password; returns (id, token). The member acknowledges the policy
    /// when `acks_policy`, so their per-person data may be shown.
    pub async fn person(
        &self,
        admin: &str,
        name: &str,
        email: &str,
        dept: &str,
        acks_policy: bool,
    ) -> (String, String) {
        self.person_with(
            admin,
            json!({"name": name, "email": email, "department_id": dept}),
            acks_policy,
        )
        .await
    }

    /// A member from a full creation body (password added); returns (id, token).
    pub async fn person_with(
        &self,
        admin: &str,
        mut body: Value,
        acks_policy: bool,
    ) -> (String, String) {
        body["password"] = json!("password123");
        let email = body["email"].as_str().unwrap().to_string();
        let (status, body) = self.post("/api/v1/members", Some(admin), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let token = self.login(&email, "password123").await;
        if acks_policy {
            let (_, me) = self.get("/api/v1/me", Some(&token)).await;
            let (s, b) = self
                .post(
                    "/api/v1/policy/ack",
                    Some(&token),
                    json!({"version": me["policy_version"]}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        (id, token)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Sends a notice; returns its id.
    pub async fn send(&self, token: &str, body: Value) -> String {
        let (status, res) = self.post("/api/v1/messages", Some(token), body).await;
        assert_eq!(status, StatusCode::CREATED, "{res}");
        res["id"].as_str().unwrap().to_string()
    }

    /// Posts receipts; returns the results list.
    pub async fn receipts(&self, token: &str, items: Value) -> Vec<Value> {
        let (status, res) = self
            .post("/api/v1/receipts", Some(token), json!({"receipts": items}))
            .await;
        assert_eq!(status, StatusCode::OK, "{res}");
        res["results"].as_array().unwrap().clone()
    }

    pub async fn board(&self, token: &str, id: &str, query: &str) -> (StatusCode, Value) {
        self.get(
            &format!("/api/v1/messages/{id}/receipts{query}"),
            Some(token),
        )
        .await
    }

    pub async fn ws(&self, token: &str, since: Option<i64>) -> Ws {
        let mut url = format!("ws://{}/api/v1/stream?token={token}", self.addr);
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        Ws { stream }
    }
}

/// A receipt item at the current time (by the test's clock).
pub fn receipt(event_id: &str, message: &str, kind: &str, at: &str) -> Value {
    json!({"event_id": event_id, "message_id": message, "kind": kind, "at": at})
}

/// Tests run at a fixed, ordinary moment: Tuesday 1 December 2026, 10:00 in Hong Kong,
/// inside working hours, so results never depend on when the suite runs. Every server's
/// clock and [`now`] share one offset from the system clock.
pub const TEST_EPOCH: &str = "2026-12-01T02:00:00Z";

fn clock_offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        TEST_EPOCH
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
            - jiff::Timestamp::now().as_millisecond()
    })
}

/// The test clock's now.
pub fn now_ts() -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(jiff::Timestamp::now().as_millisecond() + clock_offset_ms())
        .unwrap()
}

/// The test clock's now, RFC 3339.
pub fn now() -> String {
    now_ts().to_string()
}

/// A WebSocket client.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    /// The next JSON text frame within `timeout`, or None.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Frames until one matches `pred` (returned) within `timeout`.
    pub async fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next(left).await?;
            if pred(&frame) {
                return Some(frame);
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }
}

/// An `application/x-www-form-urlencoded` body, as a browser sends a form.
pub trait FormBody {
    /// The form as the body, with its content type.
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
    }
}

/// Sending rights under which everyone may send anything.
pub fn everyone_sends_everything() -> Value {
    let all = json!({"reach": "everyone", "max_priority": "urgent", "max_tracking": "per_person"});
    json!({"staff": all, "managers": all, "departments": []})
}

/// Every `Set-Cookie` of an answer.
pub fn set_cookies(h: &reqwest::header::HeaderMap) -> Vec<String> {
    h.get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(String::from)
        .collect()
}

/// The value an answer sets for cookie `name`.
pub fn cookie_value(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    set_cookies(h).iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    })
}

/// A page's CSRF token, from its `<meta name="csrf-token">`.
pub fn meta_csrf(page: &str) -> String {
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = page.find(marker).expect("a CSRF meta tag") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}
