//! Crash safety on the real binary: many clients report receipts while the server is
//! killed with SIGKILL at random moments and restarted on the same data directory.
//! Afterwards every receipt the server answered `applied` is in the database, every SDK
//! outbox has drained, no receipt was applied twice, and the board counters equal a
//! recount of the receipt rows, read straight from the SQLite file.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use readtrack_client::{ApiClient, NewReceipt, Outbox, ReceiptKind, Store};
use serde_json::{Value, json};
use sqlx::Row;

/// Raw HTTP clients, each a member with its own token.
const RAW_CLIENTS: usize = 8;
/// SDK clients with an offline outbox each.
const SDK_CLIENTS: usize = 2;
/// Notices the receipts are about.
const MESSAGES: usize = 4;
/// SIGKILLs in one run.
const KILLS: usize = 4;

struct Server {
    child: Child,
}

/// Starts `readtrack serve` on `listen` (port 0 the first time) and returns it with the
/// address it bound.
fn start(data: &Path, listen: &str) -> (Server, String) {
    let (child, addr) = support::spawn_server(
        Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", listen, "--print-addr", "--data"])
            .arg(data)
            .env("READTRACK_LOG", "error"),
        Duration::from_secs(60),
    );
    (Server { child }, addr)
}

impl Server {
    /// SIGKILL: no shutdown hook, no flush, no goodbye.
    fn kill_hard(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM and wait for the clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "SIGTERM is a clean exit: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One receipt a client made: who, about what, which kind.
#[derive(Debug, Clone)]
struct Made {
    event_id: String,
    member: i64,
    message: i64,
    kind: u8,
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "delivered" => 1,
        "read" => 2,
        "ack" => 3,
        other => panic!("unknown kind {other}"),
    }
}

const KINDS: [&str; 3] = ["delivered", "read", "ack"];

/// What a raw client saw: every event it made, and those answered `applied`.
struct RawOutcome {
    made: Vec<Made>,
    applied: HashSet<String>,
}

/// Posts batches of fresh receipts until `draining`, then finishes the batch in hand.
/// A batch without an answer (the server died under it) is sent again, unchanged,
/// until it gets one: the server must then say `duplicate` for what it had committed.
async fn raw_client(
    base: Arc<String>,
    token: String,
    member: i64,
    messages: Arc<Vec<String>>,
    draining: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> RawOutcome {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut made = Vec::new();
    let mut applied = HashSet::new();
    let mut serial = 0u64;
    let mut pending: Option<(Vec<Made>, Value)> = None;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "client {member} never drained");
        if pending.is_none() {
            if draining.load(Ordering::SeqCst) {
                break;
            }
            let n = rand::random_range(1..=20);
            let mut batch = Vec::with_capacity(n);
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                serial += 1;
                let message = &messages[rand::random_range(0..messages.len())];
                let kind = KINDS[rand::random_range(0..KINDS.len())];
                let event_id = format!("raw-{member}-{serial}-{:x}", rand::random::<u64>());
                items.push(
                    json!({"event_id": event_id, "message_id": message, "kind": kind,
                                  "at": jiff::Timestamp::now().to_string()}),
                );
                batch.push(Made {
                    event_id,
                    member,
                    message: message.parse().unwrap(),
                    kind: kind_rank(kind),
                });
            }
            made.extend(batch.iter().cloned());
            pending = Some((batch, json!({ "receipts": items })));
        }
        let (batch, body) = pending.as_ref().unwrap();
        let res = http
            .post(format!("{base}/api/v1/receipts"))
            .bearer_auth(&token)
            .json(body)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(_) => {
                // Down or dying: the batch stays in hand and goes again.
                tokio::time::sleep(Duration::from_millis(30)).await;
                continue;
            }
        };
        let status = res.status().as_u16();
        if status == 429 || status == 503 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let Ok(answer) = res.json::<Value>().await else {
            // The answer was cut off mid-body: it counts as no answer.
            continue;
        };
        assert_eq!(status, 200, "{answer}");
        let results = answer["results"].as_array().expect("results");
        assert_eq!(results.len(), batch.len(), "one result per item");
        for (r, m) in results.iter().zip(batch) {
            assert_eq!(r["event_id"], m.event_id.as_str(), "results keep the order");
            match r["status"].as_str() {
                Some("applied") => assert!(
                    applied.insert(m.event_id.clone()),
                    "{} was answered `applied` twice: counted twice",
                    m.event_id
                ),
                Some("duplicate") => {}
                other => panic!("receipt {} answered {other:?}: {r}", m.event_id),
            }
        }
        answered.fetch_add(batch.len() as u64, Ordering::Relaxed);
        pending = None;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    RawOutcome { made, applied }
}

/// Records receipts into an SDK outbox and syncs, through crashes, until `draining`;
/// then syncs until the outbox is empty.
async fn sdk_client(
    outbox: Outbox,
    member: i64,
    messages: Arc<Vec<String>>,
    draining: Arc<AtomicBool>,
) -> Vec<Made> {
    let mut made = Vec::new();
    while !draining.load(Ordering::SeqCst) {
        let n = rand::random_range(1..=10);
        let items: Vec<NewReceipt> = (0..n)
            .map(|_| NewReceipt {
                kind: [ReceiptKind::Delivered, ReceiptKind::Read, ReceiptKind::Ack]
                    [rand::random_range(0..3)],
                message_id: messages[rand::random_range(0..messages.len())].clone(),
                response: None,
            })
            .collect();
        for r in outbox.record_batch(&items).await.expect("record") {
            made.push(Made {
                event_id: r.event_id.clone(),
                member,
                message: r.message_id.parse().unwrap(),
                kind: kind_rank(r.kind.as_str()),
            });
        }
        // Failures while the server is down are expected: the receipts stay pending.
        let _ = outbox.sync_within(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match outbox.sync().await {
            Ok(report) if report.remaining == 0 => break,
            Ok(_) => {}
            Err(failure) => assert!(
                failure.error.is_retryable(),
                "the outbox hit a lasting failure: {failure}"
            ),
        }
        assert!(
            Instant::now() < deadline,
            "the outbox of {member} never drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outbox.store().pending_count().await.unwrap(), 0);
    assert_eq!(
        outbox.store().dead_letter_count().await.unwrap(),
        0,
        "no receipt was refused"
    );
    made
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_answered_applied_survive_repeated_sigkills_and_are_counted_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data_for_start = data.clone();
    let (mut server, addr) =
        tokio::task::spawn_blocking(move || start(&data_for_start, "127.0.0.1:0"))
            .await
            .unwrap();
    let base = Arc::new(format!("http://{addr}"));
    let http = reqwest::Client::new();

    // An organisation, one department of clients, notices to all of them.
    let setup = post(
        &http,
        format!("{base}/api/v1/setup"),
        None,
        json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE,
        "time_zone": "Asia/Hong_Kong", "admin": {"name": "Ivy", "email": "ivy@harbour.example",
        "password": "correct horse"}}),
    )
    .await;
    let admin = setup["token"].as_str().unwrap().to_string();
    let dept = post(
        &http,
        format!("{base}/api/v1/departments"),
        Some(&admin),
        json!({"name": "Kowloon"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut member_ids = Vec::new();
    for i in 0..RAW_CLIENTS + SDK_CLIENTS {
        let m = post(
            &http,
            format!("{base}/api/v1/members"),
            Some(&admin),
            json!({"name": format!("Client {i}"), "email": format!("client{i}@harbour.example"),
                   "department_id": dept}),
        )
        .await;
        member_ids.push(m["id"].as_str().unwrap().to_string());
    }
    let tokens = post(
        &http,
        format!("{base}/api/v1/tokens/batch"),
        Some(&admin),
        json!({"name": "crash test", "member_ids": member_ids}),
    )
    .await;
    let tokens: Vec<String> = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap().to_string())
        .collect();
    let mut messages = Vec::new();
    for i in 0..MESSAGES {
        let m = post(
            &http,
            format!("{base}/api/v1/messages"),
            Some(&admin),
            json!({"title": format!("Notice {i}"), "body": "Please confirm.", "priority": "urgent",
                   "tracking": "per_person", "require_ack": true,
                   "audience": {"departments": [dept]}}),
        )
        .await;
        messages.push(m["id"].as_str().unwrap().to_string());
    }
    let messages = Arc::new(messages);

    // The clients.
    let draining = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut raw = Vec::new();
    for i in 0..RAW_CLIENTS {
        raw.push(tokio::spawn(raw_client(
            base.clone(),
            tokens[i].clone(),
            member_ids[i].parse().unwrap(),
            messages.clone(),
            draining.clone(),
            answered.clone(),
        )));
    }
    let mut sdk = Vec::new();
    for i in RAW_CLIENTS..RAW_CLIENTS + SDK_CLIENTS {
        let store = Store::open(&dir.path().join(format!("outbox-{i}.db")))
            .await
            .expect("outbox store");
        let api = ApiClient::new(&base).unwrap().with_token(tokens[i].clone());
        let outbox = Outbox::new(store, api).with_batch_size(25);
        sdk.push(tokio::spawn(sdk_client(
            outbox,
            member_ids[i].parse().unwrap(),
            messages.clone(),
            draining.clone(),
        )));
    }

    // SIGKILL at random moments while receipts flow; restart on the same port and data.
    for kill in 0..KILLS {
        let before = answered.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Load must have reached this incarnation before it dies, or the kill tests nothing.
        while answered.load(Ordering::Relaxed) < before + 50 {
            assert!(
                Instant::now() < deadline,
                "no receipts flowed before kill {kill}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rand::random_range(20..600))).await;
        tokio::task::spawn_blocking(move || server.kill_hard())
            .await
            .unwrap();
        // Down for a moment: clients pile up retries.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..300))).await;
        let data = data.clone();
        let listen = addr.clone();
        let (restarted, _) = tokio::task::spawn_blocking(move || start(&data, &listen))
            .await
            .unwrap();
        server = restarted;
    }

    // Let the last incarnation carry some load too, then drain every client.
    let before = answered.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::Relaxed) < before + 50 {
        assert!(
            Instant::now() < deadline,
            "no receipts flowed after the last restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    draining.store(true, Ordering::SeqCst);
    let mut made: Vec<Made> = Vec::new();
    let mut applied: HashSet<String> = HashSet::new();
    for task in raw {
        let outcome = task.await.expect("raw client");
        made.extend(outcome.made);
        applied.extend(outcome.applied);
    }
    for task in sdk {
        made.extend(task.await.expect("sdk client"));
    }
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();

    // Read the database file itself.
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("readtrack.db"))
        .read_only(true);
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .expect("open the server's database");
    let stored: HashSet<String> = sqlx::query("SELECT event_id FROM receipt_events")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    for id in &applied {
        assert!(
            stored.contains(id),
            "{id} was answered applied but is not in the database"
        );
    }
    let made_ids: HashSet<String> = made.iter().map(|m| m.event_id.clone()).collect();
    assert_eq!(made_ids.len(), made.len(), "event ids are unique");
    assert_eq!(
        stored, made_ids,
        "every receipt sent is recorded exactly once, and nothing else is"
    );

    // Each person's state is the furthest they reported, whatever the crashes did.
    let mut expected: HashMap<(i64, i64), u8> = HashMap::new();
    for m in &made {
        let e = expected.entry((m.message, m.member)).or_insert(0);
        *e = (*e).max(m.kind);
    }
    let rows = sqlx::query(
        "SELECT message_id, member_id, department_id, state, delivered_at IS NOT NULL, \
         acked_at IS NOT NULL FROM receipts",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(rows.len(), MESSAGES * (RAW_CLIENTS + SDK_CLIENTS));
    let mut recount: HashMap<i64, [i64; 4]> = HashMap::new();
    let mut dept_recount: HashMap<(i64, i64), [i64; 3]> = HashMap::new();
    for r in &rows {
        let (message, member, department, state): (i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let want = expected.get(&(message, member)).copied().unwrap_or(0);
        assert_eq!(
            state,
            i64::from(want),
            "state of member {member} on {message}"
        );
        assert_eq!(
            r.get::<bool, _>(4),
            state >= 1,
            "delivered_at of {member} on {message}"
        );
        assert_eq!(
            r.get::<bool, _>(5),
            state >= 3,
            "acked_at of {member} on {message}"
        );
        let c = recount.entry(message).or_default();
        c[0] += 1;
        c[1] += i64::from(state >= 1);
        c[2] += i64::from(state >= 2);
        c[3] += i64::from(state >= 3);
        let d = dept_recount.entry((message, department)).or_default();
        d[0] += 1;
        d[1] += i64::from(state >= 2);
        d[2] += i64::from(state >= 3);
    }
    let counters = sqlx::query(
        "SELECT message_id, recipients, delivered, read, acknowledged FROM message_counters",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(counters.len(), MESSAGES);
    for c in &counters {
        let message: i64 = c.get(0);
        let kept = [c.get::<i64, _>(1), c.get(2), c.get(3), c.get(4)];
        assert_eq!(
            kept, recount[&message],
            "counters of {message} equal a recount"
        );
    }
    let dept_counters = sqlx::query(
        "SELECT message_id, department_id, recipients, read, acknowledged FROM department_counters",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(dept_counters.len(), dept_recount.len());
    for c in &dept_counters {
        let key = (c.get::<i64, _>(0), c.get::<i64, _>(1));
        let kept = [c.get::<i64, _>(2), c.get(3), c.get(4)];
        assert_eq!(kept, dept_recount[&key], "department counters of {key:?}");
    }
    eprintln!(
        "crash test: {} receipts from {} clients through {KILLS} SIGKILLs, {} answered applied on the first try",
        made.len(),
        RAW_CLIENTS + SDK_CLIENTS,
        applied.len()
    );
}
