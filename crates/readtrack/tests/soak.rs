//! Soak: mixed load on the real binary for a while, checking that nothing fails, the
//! server's memory stays flat and latency stays stable.
//!
//! In the normal suite it runs for `READTRACK_SOAK_SECS` (default 20 s) as a smoke test
//! of the same load; `scripts/soak` runs it for 30 minutes and prints the figures
//! recorded in BENCHMARKS.md. Memory and latency are judged only on runs of at least
//! five minutes, where a warm-up can be told apart from a trend.

mod support;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

/// Members reading notices.
const MEMBERS: usize = 200;
/// Departments the members are spread over; each notice goes to one of them.
const DEPARTMENTS: usize = 4;
/// Members with a password, who sign in now and then (the rest use API tokens).
const SIGN_INS: usize = 20;
/// Concurrent reader tasks.
const READERS: usize = 8;

struct Server {
    child: Child,
    base: String,
    pid: u32,
}

fn start(data: &Path) -> Server {
    let (child, addr) = support::spawn_server(
        Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", "127.0.0.1:0", "--print-addr", "--data"])
            .arg(data)
            .env("READTRACK_LOG", "warn"),
        Duration::from_secs(30),
    );
    let pid = child.id();
    Server {
        child,
        base: format!("http://{addr}"),
        pid,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Live allocations in KiB, from the server's `/metrics` (0 when it does not say).
async fn heap_kib(http: &reqwest::Client, base: &str) -> u64 {
    let Ok(res) = http.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = res.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("readtrack_memory_allocated_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |b| (b / 1024.0) as u64)
}

/// One time window's observations.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    errors: Vec<String>,
    rss_kib: Vec<u64>,
    /// Live allocations as the server's allocator reports them on `/metrics`, in KiB.
    heap_kib: Vec<u64>,
    receipts: u64,
    /// Database and write-ahead log sizes at the window's last sample, in KiB.
    files_kib: (u64, u64),
    /// The slowest request of each kind, in µs: tells which request a growing maximum
    /// comes from.
    slowest_us: std::collections::BTreeMap<&'static str, u64>,
}

/// Everything measured, window by window.
struct Stats {
    started: Instant,
    window: Duration,
    windows: Mutex<Vec<Window>>,
}

impl Stats {
    fn slot(&self) -> usize {
        (self.started.elapsed().as_secs_f64() / self.window.as_secs_f64()) as usize
    }

    fn with<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        let slot = self.slot();
        let mut w = self.windows.lock().unwrap();
        while w.len() <= slot {
            w.push(Window::default());
        }
        f(&mut w[slot])
    }

    fn record(&self, what: &'static str, took: Duration, outcome: Result<(), String>) {
        self.with(|w| {
            let us = took.as_micros() as u64;
            w.latencies_us.push(us);
            let slowest = w.slowest_us.entry(what).or_default();
            *slowest = (*slowest).max(us);
            if let Err(e) = outcome {
                w.errors.push(e);
            }
        });
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Makes a request, timing it and counting anything but a success as an error.
async fn timed(stats: &Stats, what: &'static str, req: reqwest::RequestBuilder) -> Option<Value> {
    let started = Instant::now();
    let res = req.send().await;
    let (outcome, body) = match res {
        Ok(r) if r.status().is_success() => {
            let body = r.bytes().await.ok();
            (
                Ok(()),
                body.and_then(|b| serde_json::from_slice(&b).ok())
                    .or(Some(Value::Null)),
            )
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            (Err(format!("{what}: {status} {text}")), None)
        }
        Err(e) => (Err(format!("{what}: {e}")), None),
    };
    stats.record(what, started.elapsed(), outcome);
    body
}

struct World {
    base: String,
    admin: String,
    departments: Vec<String>,
    tokens: Vec<String>,
    emails: Vec<String>,
}

async fn seed(http: &reqwest::Client, base: &str) -> World {
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.expect("seed request");
            let status = res.status();
            let v: Value = res.json().await.expect("seed json");
            assert!(status.is_success(), "{status}: {v}");
            v
        }
    };
    let setup = post(
        "/api/v1/setup",
        None,
        json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE,
        "time_zone": "UTC", "admin": {"name": "Ivy", "email": "ivy@harbour.example",
        "password": "correct horse"}}),
    )
    .await;
    let admin = setup["token"].as_str().unwrap().to_string();
    // Working hours all day, every day: reminders and quiet hours must not depend on
    // when the soak runs.
    let res = http
        .patch(format!("{base}/api/v1/org/settings"))
        .bearer_auth(&admin)
        .json(&json!({"working_hours": {"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59"},
                      "quiet_hours": {"start": "23:59", "end": "00:00", "reads": "coarse"}}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let mut departments = Vec::new();
    for d in 0..DEPARTMENTS {
        let v = post(
            "/api/v1/departments",
            Some(&admin),
            json!({"name": format!("Branch {d}")}),
        )
        .await;
        departments.push(v["id"].as_str().unwrap().to_string());
    }
    let mut ids = Vec::new();
    let mut emails = Vec::new();
    for i in 0..MEMBERS {
        let email = format!("staff{i}@harbour.example");
        let mut body = json!({"name": format!("Staff {i}"), "email": email,
            "department_id": departments[i % DEPARTMENTS]});
        if i < SIGN_INS {
            body["password"] = json!("password123");
        }
        let v = post("/api/v1/members", Some(&admin), body).await;
        ids.push(v["id"].as_str().unwrap().to_string());
        emails.push(email);
    }
    let tokens = post(
        "/api/v1/tokens/batch",
        Some(&admin),
        json!({"name": "soak", "member_ids": ids}),
    )
    .await;
    let tokens = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_string())
        .collect();
    World {
        base: base.to_string(),
        admin,
        departments,
        tokens,
        emails,
    }
}

/// Sends a notice to one department after another.
async fn sender(
    world: Arc<World>,
    http: reqwest::Client,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let dept = &world.departments[n % DEPARTMENTS];
        let priority = ["normal", "important", "urgent"][n % 3];
        let req = http
            .post(format!("{}/api/v1/messages", world.base))
            .bearer_auth(&world.admin)
            .json(
                &json!({"title": format!("Notice {n}"), "body": "Please read and confirm.",
                          "priority": priority, "require_ack": n.is_multiple_of(2),
                          "audience": {"departments": [dept]}}),
            );
        timed(&stats, "send", req).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// Plays members: inbox, then receipts for what is not yet read, sometimes resending a
/// batch to check it comes back `duplicate`.
async fn reader(
    k: usize,
    world: Arc<World>,
    http: reqwest::Client,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    serial: Arc<AtomicU64>,
) {
    let mut i = k;
    while !stop.load(Ordering::Relaxed) {
        let token = &world.tokens[i % MEMBERS];
        i += READERS;
        let inbox = timed(
            &stats,
            "inbox",
            http.get(format!("{}/api/v1/messages?limit=20", world.base))
                .bearer_auth(token),
        )
        .await;
        let Some(inbox) = inbox else { continue };
        let now = jiff::Timestamp::now().to_string();
        let mut items = Vec::new();
        for m in inbox["items"].as_array().into_iter().flatten() {
            let state = m["my_state"].as_str().unwrap_or("sent");
            let kind = match (state, m["require_ack"].as_bool().unwrap_or(false)) {
                ("sent", _) => "delivered",
                ("delivered", _) => "read",
                ("read", true) => "ack",
                _ => continue,
            };
            let id = serial.fetch_add(1, Ordering::Relaxed);
            items.push(
                json!({"event_id": format!("soak-{id}"), "message_id": m["id"],
                              "kind": kind, "at": now}),
            );
        }
        if items.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let body = json!({ "receipts": items });
        let answer = timed(
            &stats,
            "receipts",
            http.post(format!("{}/api/v1/receipts", world.base))
                .bearer_auth(token)
                .json(&body),
        )
        .await;
        if let Some(answer) = answer {
            let bad: Vec<&Value> = answer["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["status"] != "applied")
                .collect();
            stats.with(|w| {
                w.receipts += items.len() as u64;
                if !bad.is_empty() {
                    w.errors.push(format!("receipts not applied: {bad:?}"));
                }
            });
            if i.is_multiple_of(17) {
                // A client that lost the answer sends the same batch again.
                let again = timed(
                    &stats,
                    "receipts",
                    http.post(format!("{}/api/v1/receipts", world.base))
                        .bearer_auth(token)
                        .json(&body),
                )
                .await;
                if let Some(again) = again
                    && again["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["status"] != "duplicate")
                {
                    stats.with(|w| {
                        w.errors
                            .push(format!("a resent batch was not duplicate: {again}"))
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sender's side: boards, analytics, exports, sign-ins, a dry-run import.
async fn office(
    world: Arc<World>,
    http: reqwest::Client,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let sent = timed(
            &stats,
            "sent",
            http.get(format!("{}/api/v1/messages?box=sent&limit=5", world.base))
                .bearer_auth(&world.admin),
        )
        .await;
        if let Some(id) = sent.as_ref().and_then(|s| s["items"][0]["id"].as_str()) {
            timed(
                &stats,
                "board",
                http.get(format!(
                    "{}/api/v1/messages/{id}/receipts?state=unread",
                    world.base
                ))
                .bearer_auth(&world.admin),
            )
            .await;
        }
        if n.is_multiple_of(5) {
            timed(
                &stats,
                "analytics",
                http.get(format!(
                    "{}/api/v1/analytics/departments?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
                    world.base
                ))
                .bearer_auth(&world.admin),
            )
            .await;
            timed(
                &stats,
                "export",
                http.get(format!("{}/api/v1/me/export", world.base))
                    .bearer_auth(&world.tokens[n % MEMBERS]),
            )
            .await;
        }
        if n.is_multiple_of(20) {
            // One sign-in per account per ten minutes or so: far under the limits.
            timed(
                &stats,
                "login",
                http.post(format!("{}/api/v1/auth/login", world.base)).json(
                    &json!({"email": world.emails[(n / 20) % SIGN_INS], "password": "password123"}),
                ),
            )
            .await;
            let csv = "name,email,department,manager_email,backup_email,role\nNew Person,new.person@harbour.example,Branch 0,,,\n";
            timed(
                &stats,
                "import",
                http.post(format!("{}/api/v1/members/import?dry_run=true", world.base))
                    .bearer_auth(&world.admin)
                    .header("content-type", "text/csv")
                    .body(csv),
            )
            .await;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sender's live board: a WebSocket that reconnects with `since` now and then and
/// must see sequence numbers only go up.
async fn watcher(world: Arc<World>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let ws_base = world.base.replacen("http://", "ws://", 1);
    let mut since: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let url = format!(
            "{ws_base}/api/v1/stream?token={}&since={since}",
            world.admin
        );
        let started = Instant::now();
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
            stats.with(|w| w.errors.push("websocket connect failed".into()));
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        stats.record("stream", started.elapsed(), Ok(()));
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            let msg = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(msg))) => msg,
                Ok(_) => {
                    stats.with(|w| w.errors.push("websocket closed by the server".into()));
                    break;
                }
            };
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg
                && let Ok(v) = serde_json::from_str::<Value>(t.as_str())
                && let Some(seq) = v["seq"].as_i64()
            {
                if seq <= since {
                    stats.with(|w| w.errors.push(format!("frame {seq} after {since}")));
                }
                since = seq;
            }
        }
        let _ = ws.close(None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_runs_without_errors_with_flat_memory_and_stable_latency() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secs: u64 = std::env::var("READTRACK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let duration = Duration::from_secs(secs);
    // Ten windows: the first is the warm-up.
    let window = duration / 10;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let world = Arc::new(seed(&http, &server.base).await);
    let stats = Arc::new(Stats {
        started: Instant::now(),
        window,
        windows: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let serial = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![
        tokio::spawn(sender(
            world.clone(),
            http.clone(),
            stats.clone(),
            stop.clone(),
        )),
        tokio::spawn(office(
            world.clone(),
            http.clone(),
            stats.clone(),
            stop.clone(),
        )),
        tokio::spawn(watcher(world.clone(), stats.clone(), stop.clone())),
    ];
    for k in 0..READERS {
        tasks.push(tokio::spawn(reader(
            k,
            world.clone(),
            http.clone(),
            stats.clone(),
            stop.clone(),
            serial.clone(),
        )));
    }
    let deadline = Instant::now() + duration;
    let data = dir.path().join("data");
    let size = |name: &str| {
        std::fs::metadata(data.join(name))
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    };
    while Instant::now() < deadline {
        let rss = rss_kib(server.pid);
        let heap = heap_kib(&http, &server.base).await;
        let files = (size("readtrack.db"), size("readtrack.db-wal"));
        stats.with(|w| {
            w.rss_kib.push(rss);
            w.heap_kib.push(heap);
            w.files_kib = files;
        });
        tokio::time::sleep(Duration::from_secs(1).min(window / 4)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }

    let mut windows = std::mem::take(&mut *stats.windows.lock().unwrap());
    windows.truncate(10);
    println!(
        "soak: {secs} s, {MEMBERS} members, {READERS} readers, 1 sender, 1 office, 1 live board"
    );
    println!(
        "window  requests  receipts  errors  p50_ms  p99_ms  max_ms  rss_mib  heap_mib  db_mib  wal_mib"
    );
    let mut summary = Vec::new();
    for (i, w) in windows.iter_mut().enumerate() {
        w.latencies_us.sort_unstable();
        let rss = w.rss_kib.iter().copied().max().unwrap_or(0);
        let heap = w.heap_kib.iter().copied().max().unwrap_or(0);
        let p50 = percentile(&w.latencies_us, 0.5);
        let p99 = percentile(&w.latencies_us, 0.99);
        let max = w.latencies_us.last().copied().unwrap_or(0);
        println!(
            "{:>6}  {:>8}  {:>8}  {:>6}  {:>6.1}  {:>6.1}  {:>6.1}  {:>7.1}  {:>8.1}  {:>6.1}  {:>7.1}",
            i + 1,
            w.latencies_us.len(),
            w.receipts,
            w.errors.len(),
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            max as f64 / 1000.0,
            rss as f64 / 1024.0,
            heap as f64 / 1024.0,
            w.files_kib.0 as f64 / 1024.0,
            w.files_kib.1 as f64 / 1024.0
        );
        summary.push((rss, p99));
    }
    for (label, w) in [("first", windows.first()), ("last", windows.last())] {
        if let Some(w) = w {
            let kinds: Vec<String> = w
                .slowest_us
                .iter()
                .map(|(what, us)| format!("{what} {:.1}", *us as f64 / 1000.0))
                .collect();
            println!("slowest in the {label} window (ms): {}", kinds.join(", "));
        }
    }
    let errors: Vec<&String> = windows.iter().flat_map(|w| &w.errors).collect();
    assert!(errors.is_empty(), "errors under load: {errors:#?}");
    let total: usize = windows.iter().map(|w| w.latencies_us.len()).sum();
    assert!(total > 100, "the load ran ({total} requests)");
    if secs >= 300 {
        // After the warm-up window, memory levels off: the last three windows hold no
        // more than a quarter above windows 2-4, plus 16 MiB of slack for allocator
        // noise, plus what SQLite's page caches may have filled meanwhile. Those caches
        // grow with the database file up to a fixed bound each (the writer's 64 MiB, 8
        // MiB per reader), so a run shorter than it takes the file to outgrow them sees
        // them fill; anything else growing is a leak.
        let early_rss = summary[1..4].iter().map(|s| s.0).max().unwrap();
        let late_rss = summary[7..10].iter().map(|s| s.0).max().unwrap();
        let caches = |db_kib: u64| {
            use readtrack_storage::sqlite::{READER_CACHE_KIB, WRITER_CACHE_KIB};
            // A cached page costs about a quarter more than its 4 KiB (header, size class).
            (db_kib.min(WRITER_CACHE_KIB) + 4 * db_kib.min(READER_CACHE_KIB)) * 5 / 4
        };
        let cache_fill =
            caches(windows[9].files_kib.0).saturating_sub(caches(windows[3].files_kib.0));
        assert!(
            late_rss <= early_rss + early_rss / 4 + 16 * 1024 + cache_fill,
            "memory grew from {early_rss} KiB to {late_rss} KiB \
             (SQLite's page caches account for {cache_fill} KiB of growth)"
        );
        let early_p99 = summary[1..4].iter().map(|s| s.1).max().unwrap();
        let late_p99 = summary[7..10].iter().map(|s| s.1).max().unwrap();
        assert!(
            late_p99 <= early_p99 * 3 + 20_000,
            "p99 latency went from {early_p99} µs to {late_p99} µs"
        );
    }
}
