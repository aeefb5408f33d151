//! What the command-line tests share: the real server binary on a random port with its
//! own data directory, an organisation made through the setup API, the CLI run as a
//! separate process with its own `READTRACK_HOME`, and a TCP proxy that can lose or
//! hold the answers of receipt requests.
//!
//! Nothing here sleeps to wait for something: every wait polls a condition against a
//! deadline.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The longest any single wait in these tests may take.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// The demo-style password every test member gets.
pub const PASSWORD: &str = "correct horse battery";

/// Polls `check` until it returns `Some`, or panics with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `readtrack serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its data directory.
    pub data: PathBuf,
}

impl Server {
    /// Starts the server binary on a random loopback port over `data`.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Self::start_on(data, "127.0.0.1:0", extra)
    }

    /// Starts the server binary on `listen` (an address a killed server had, say).
    pub fn start_on(data: &Path, listen: &str, extra: &[&str]) -> Server {
        let log = std::fs::File::create(data.with_extension(format!("log.{}", rand_suffix())))
            .expect("server log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", listen, "--print-addr", "--data"])
            .arg(data)
            .args(extra)
            .env("READTRACK_LOG", "warn")
            .env("READTRACK_SETUP_CODE", SETUP_CODE)
            .env_remove("READTRACK_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the readtrack binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // The address comes on the first line; read it on a thread so a server that
        // fails to start cannot hang the test.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("the server prints its address");
        let addr = line
            .strip_prefix("listening on ")
            .expect("`listening on ADDR`")
            .trim()
            .to_string();
        Server {
            child,
            url: format!("http://{addr}"),
            data: data.to_path_buf(),
        }
    }

    /// Kills the server (as a crash or a pulled plug would) and waits until it is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A plain HTTP client for the test's own calls (setup, the sender's board, metrics).
pub fn http() -> reqwest::Client {
    readtrack_client::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// Sends a JSON request and returns (status, body).
pub async fn call(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An organisation with a sender and a reader (who acknowledged the privacy policy, so
/// their row shows on per-person boards).
pub struct Org {
    pub admin_token: String,
    pub sender_token: String,
    pub sender_email: String,
    pub reader_id: String,
    pub reader_email: String,
    pub department_id: String,
}

/// An IANA zone in which it is now around midday, so that reads made by the tests
/// never fall into the default quiet hours (20:00–08:00), where the board would hide
/// their time.
fn midday_zone() -> String {
    let hour = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .hour() as i32;
    let mut offset = 12 - hour;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    // POSIX sign convention: Etc/GMT-3 is three hours *ahead* of UTC.
    match offset {
        0 => "Etc/UTC".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// The setup code the servers started here are given.
pub const SETUP_CODE: &str = "CLI-SUITE-SETUP";

impl Org {
    /// Creates the organisation through the setup API.
    pub async fn setup(server: &Server) -> Org {
        let base = &server.url;
        let (status, setup) = call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/setup"),
            None,
            Some(json!({
                "org_name": "Test Shipping",
                "time_zone": midday_zone(),
                "setup_code": SETUP_CODE,
                "admin": {"name": "Ada Admin", "email": "ada@test.example", "password": PASSWORD}
            })),
        )
        .await;
        assert_eq!(status, 201, "setup: {setup}");
        let admin_token = setup["token"].as_str().expect("admin token").to_string();
        let (status, dept) = call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/departments"),
            Some(&admin_token),
            Some(json!({"name": "Operations"})),
        )
        .await;
        assert_eq!(status, 201, "department: {dept}");
        let department_id = dept["id"].as_str().expect("department id").to_string();
        let mut ids: Vec<String> = Vec::new();
        // Sam manages Rita: a new organisation's sending rights let a manager send to
        // their own department.
        for (name, email) in [
            ("Sam Sender", "sam@test.example"),
            ("Rita Reader", "rita@test.example"),
        ] {
            let (status, member) = call(
                reqwest::Method::POST,
                &format!("{base}/api/v1/members"),
                Some(&admin_token),
                Some(
                    json!({"name": name, "email": email, "department_id": department_id,
                            "password": PASSWORD, "manager_id": ids.first()}),
                ),
            )
            .await;
            assert_eq!(status, 201, "member: {member}");
            ids.push(member["id"].as_str().expect("member id").to_string());
        }
        let sender_token = login(base, "sam@test.example").await;
        let reader_token = login(base, "rita@test.example").await;
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/policy/ack"),
            Some(&reader_token),
            Some(json!({"version": 1})),
        )
        .await;
        assert!(status < 300, "policy ack: {status} {body}");
        Org {
            admin_token,
            sender_token,
            sender_email: "sam@test.example".into(),
            reader_id: ids[1].clone(),
            reader_email: "rita@test.example".into(),
            department_id,
        }
    }

    /// The sender sends a tracked notice to the reader; returns its id.
    pub async fn notice_to_reader(&self, base: &str, title: &str) -> String {
        let (status, sent) = call(
            reqwest::Method::POST,
            &format!("{base}/api/v1/messages"),
            Some(&self.sender_token),
            Some(json!({
                "title": title, "body": "Please read this.", "priority": "important",
                "tracking": "per_person", "require_ack": true,
                "audience": {"members": [self.reader_id]}
            })),
        )
        .await;
        assert_eq!(status, 201, "send: {sent}");
        sent["id"].as_str().expect("message id").to_string()
    }

    /// `n` notices to the reader, a few requests at a time.
    pub async fn notices_to_reader(&self, base: &str, n: usize) -> Vec<String> {
        use futures_util::StreamExt;
        futures_util::stream::iter(0..n)
            .map(|i| async move { self.notice_to_reader(base, &format!("Notice {i}")).await })
            .buffered(8)
            .collect()
            .await
    }

    /// The sender's board of a notice.
    pub async fn board(&self, base: &str, id: &str) -> Value {
        let (status, board) = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/messages/{id}/receipts"),
            Some(&self.sender_token),
            None,
        )
        .await;
        assert_eq!(status, 200, "board: {board}");
        board
    }

    /// The reader's row on a board.
    pub fn reader_row<'a>(&self, board: &'a Value) -> &'a Value {
        board["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i["member_id"] == self.reader_id.as_str())
            })
            .unwrap_or_else(|| panic!("the reader's row is on the board: {board}"))
    }
}

/// Signs in through the API; returns the token.
pub async fn login(base: &str, email: &str) -> String {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "login: {body}");
    body["token"].as_str().expect("token").to_string()
}

/// A sum of the server's Prometheus samples whose line starts with `name` and contains
/// every one of `labels`.
pub async fn metric(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// POSTs to /api/v1/receipts answered 200, by the server's own count.
pub async fn receipt_requests(base: &str) -> f64 {
    metric(
        base,
        "readtrack_http_requests_total",
        &[
            r#"path="/api/v1/receipts""#,
            r#"method="POST""#,
            r#"status="200""#,
        ],
    )
    .await
}

/// Receipts the server applied (not duplicates), by its own count.
pub async fn receipts_applied(base: &str) -> f64 {
    metric(base, "readtrack_receipts_applied_total", &[]).await
}

/// The CLI with its own home, as a user would run it.
pub struct Cli {
    /// `READTRACK_HOME`.
    pub home: PathBuf,
}

/// What a CLI run produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics unless the run succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "the command failed:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Cli {
    /// A CLI whose profile and store live in `home`.
    pub fn new(home: &Path) -> Cli {
        Cli {
            home: home.to_path_buf(),
        }
    }

    /// A command ready to spawn.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_readtrack"));
        c.args(args)
            .env("READTRACK_HOME", &self.home)
            .env_remove("READTRACK_SERVER")
            .env("READTRACK_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Runs a command to completion (killed after the deadline).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None).await
    }

    /// Runs a command feeding `stdin`.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = self.command(args);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().expect("the CLI starts");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .expect("stdin written");
            drop(pipe);
        }
        let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`readtrack {}` did not finish in time", args.join(" ")))
            .expect("the CLI ran");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Signs in as `email` on `server`.
    pub async fn login(&self, server: &str, email: &str) {
        self.run_with_stdin(
            &[
                "--server",
                server,
                "login",
                "--email",
                email,
                "--password-stdin",
            ],
            Some(PASSWORD),
        )
        .await
        .ok();
    }

    /// The offline store file the CLI uses.
    pub fn store_path(&self) -> PathBuf {
        self.home.join("offline.db")
    }

    /// The outbox as `readtrack outbox --json` reports it.
    pub async fn outbox(&self) -> Value {
        self.run(&["--json", "outbox", "--limit", "5000"])
            .await
            .ok()
            .json()
    }
}

/// What a [`Proxy`] does with the answer to a receipts request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Relay it.
    Pass,
    /// Drop the connection as the answer starts to come back: the server has committed
    /// (it answers only after the commit), the client never hears.
    Cut,
    /// Keep it back (and the connection open) until the test ends.
    Hold,
}

/// A TCP proxy in front of the server that counts `POST /api/v1/receipts` requests and
/// decides the fate of each one's answer: `plan[n]` for the n-th (0-based), `Pass`
/// beyond the plan. It relies on HTTP/1.1 clients not pipelining: on one connection
/// the answer that comes back belongs to the request sent last.
pub struct Proxy {
    pub url: String,
    /// Receipts requests seen.
    pub receipts_requests: Arc<AtomicU64>,
    /// Answers cut or held so far.
    pub intercepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const RECEIPTS_REQUEST: &[u8] = b"POST /api/v1/receipts";

fn starts_request(chunk: &[u8]) -> bool {
    [
        &b"GET "[..],
        b"POST ",
        b"PUT ",
        b"PATCH ",
        b"DELETE ",
        b"HEAD ",
    ]
    .iter()
    .any(|m| chunk.starts_with(m))
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) following `plan`.
    pub async fn start(upstream: &str, plan: Vec<Fate>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let receipts_requests = Arc::new(AtomicU64::new(0));
        let intercepted = Arc::new(AtomicU64::new(0));
        let plan = Arc::new(plan);
        let (count, cut) = (receipts_requests.clone(), intercepted.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                connections.spawn(relay(
                    client,
                    server,
                    plan.clone(),
                    count.clone(),
                    cut.clone(),
                ));
            }
        });
        Proxy {
            url,
            receipts_requests,
            intercepted,
            task,
        }
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    plan: Arc<Vec<Fate>>,
    count: Arc<AtomicU64>,
    intercepted: Arc<AtomicU64>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let fate = Arc::new(Mutex::new(Fate::Pass));
    let up_fate = fate.clone();
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if chunk.starts_with(RECEIPTS_REQUEST) {
                let i = count.fetch_add(1, Ordering::SeqCst) as usize;
                *up_fate.lock().await = plan.get(i).copied().unwrap_or(Fate::Pass);
            } else if starts_request(chunk) {
                *up_fate.lock().await = Fate::Pass;
            }
            if server_wr.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match *fate.lock().await {
                Fate::Pass => {}
                Fate::Cut => {
                    intercepted.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Fate::Hold => {
                    intercepted.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
            }
            if client_wr.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever side ends first ends the connection: dropping both halves closes it,
    // which is exactly how a lost answer looks to the client.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
