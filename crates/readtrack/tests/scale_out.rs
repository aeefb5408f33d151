//! Several real `readtrack serve` processes on one PostgreSQL database and one NATS
//! server: reads posted to any node reach a sender on another live and exactly once,
//! a node killed while reminders are due leaves every step to the others (each fires
//! once), every email goes out once whichever node gets there, and `readtrack migrate` moves an embedded deployment over with nothing lost.
//!
//! Each test makes its own database and NATS subject prefix and removes them. Without
//! `READTRACK_TEST_POSTGRES` / `READTRACK_TEST_NATS` a test says it is skipped; under
//! `CI=true` it fails instead.

#[path = "../../readtrack-server/tests/peers/smtp.rs"]
mod smtp;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use readtrack_storage::postgres::ScratchDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Tuesday 1 December 2026, 10:00 in Hong Kong: inside working hours.
const EPOCH: &str = "2026-12-01T02:00:00Z";
const WAIT: Duration = Duration::from_secs(30);

/// The services a test needs, or `None` (with a line saying what is missing).
fn services(test: &str, need_nats: bool) -> Option<(String, Option<String>)> {
    let pg = std::env::var("READTRACK_TEST_POSTGRES").ok();
    let nats = std::env::var("READTRACK_TEST_NATS").ok();
    let mut missing = Vec::new();
    if pg.is_none() {
        missing.push("PostgreSQL (READTRACK_TEST_POSTGRES)");
    }
    if need_nats && nats.is_none() {
        missing.push("NATS (READTRACK_TEST_NATS)");
    }
    if missing.is_empty() {
        return Some((pg?, nats));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {} not configured: the multi-node suite must run in CI",
        missing.join(" and ")
    );
    println!(
        "skipped: {} not configured, for {test}",
        missing.join(" and ")
    );
    None
}

/// A subject prefix no other run uses.
fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rt-test-{}-{nanos:x}", std::process::id())
}

/// One `readtrack serve` process; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    base: String,
    addr: String,
}

impl Node {
    /// Starts a node whose clock reads `clock_at` from its first instant, so nothing it
    /// does at start (overdue steps, retention) depends on the real date.
    fn start(data: &Path, clock_at: &str, extra: &[&str]) -> Self {
        let (child, addr) = support::spawn_server(
            Command::new(env!("CARGO_BIN_EXE_readtrack"))
                .args([
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--print-addr",
                    "--dev-clock-at",
                    clock_at,
                ])
                .arg("--data")
                .arg(data)
                .args(extra)
                .env("READTRACK_LOG", "warn")
                .env_remove("READTRACK_DATABASE")
                .env_remove("READTRACK_NATS"),
            WAIT,
        );
        Self {
            child,
            base: format!("http://{addr}/api/v1"),
            addr,
        }
    }

    /// Three nodes sharing one database and one NATS prefix.
    fn cluster(data: &Path, database: &str, nats: &str, prefix: &str) -> Vec<Node> {
        Self::cluster_with(data, database, nats, prefix, &[])
    }

    /// [`Node::cluster`] with more flags for every node.
    fn cluster_with(
        data: &Path,
        database: &str,
        nats: &str,
        prefix: &str,
        more: &[&str],
    ) -> Vec<Node> {
        (0..3)
            .map(|i| {
                let dir = data.join(format!("node{i}"));
                Node::start(
                    &dir,
                    EPOCH,
                    &[
                        "--database",
                        database,
                        "--nats",
                        nats,
                        "--nats-prefix",
                        prefix,
                        "--database-max-connections",
                        "6",
                    ]
                    .into_iter()
                    .chain(more.iter().copied())
                    .collect::<Vec<_>>(),
                )
            })
            .collect()
    }

    /// Stops the node the hard way, as a crash would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the node to stop (SIGTERM) and waits for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "a clean exit on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "a node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small HTTP client speaking the API.
struct Api {
    http: reqwest::Client,
}

impl Api {
    fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let bytes = res.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    async fn post(&self, node: &Node, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, v) = self
            .call(
                reqwest::Method::POST,
                format!("{}{path}", node.base),
                token,
                Some(body),
            )
            .await;
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    async fn get(&self, node: &Node, path: &str, token: &str) -> Value {
        let (status, v) = self
            .call(
                reqwest::Method::GET,
                format!("{}{path}", node.base),
                Some(token),
                None,
            )
            .await;
        assert!(status.is_success(), "GET {path}: {status} {v}");
        v
    }

    /// Every row of a notice's board (all pages), by member id.
    async fn board(&self, node: &Node, token: &str, message: &str) -> BTreeMap<String, Value> {
        let mut rows = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/messages/{message}/receipts?limit=500");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(node, &path, token).await;
            for item in page["items"].as_array().expect("items") {
                rows.insert(
                    item["member_id"].as_str().unwrap().to_string(),
                    item.clone(),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return rows,
            }
        }
    }

    /// Sets every node's clock to the same moment.
    async fn set_clocks(&self, nodes: &[&Node], at: &str) {
        for n in nodes {
            self.post(n, "/dev/clock", None, json!({"set": at})).await;
        }
    }

    /// Moves every node's clock forward.
    async fn advance_clocks(&self, nodes: &[&Node], minutes: i64) {
        for n in nodes {
            self.post(n, "/dev/clock", None, json!({"advance_minutes": minutes}))
                .await;
        }
    }
}

/// An organisation with `people` members in one department, each with an API token and
/// the policy acknowledged (so the sender's board shows them). The sender is the first.
struct Org {
    admin: String,
    department: String,
    /// (member id, token), sender first.
    people: Vec<(String, String)>,
}

async fn organisation(api: &Api, nodes: &[&Node], people: usize) -> Org {
    let first = nodes[0];
    let setup = api
        .post(
            first,
            "/setup",
            None,
            json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE, "time_zone": "Asia/Hong_Kong",
                   "admin": {"name": "Ivy Lam", "email": "ivy@hl.example", "password": "correct horse"}}),
        )
        .await;
    let admin = setup["token"].as_str().unwrap().to_string();
    // Everyone sends anything: the nodes' agreement is under test, not the rights.
    let all = json!({"reach": "everyone", "max_priority": "urgent", "max_tracking": "per_person"});
    let res = api
        .http
        .patch(format!("{}/org/settings", first.base))
        .bearer_auth(&admin)
        .json(&json!({"sending_rights": {"staff": all, "managers": all}}))
        .send()
        .await
        .expect("settings");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let mut csv = String::from("name,email,department,manager_email,backup_email,role\n");
    for i in 0..people {
        csv.push_str(&format!("Person {i:04},p{i}@hl.example,Floor,,,\n"));
    }
    let res = api
        .http
        .post(format!("{}/members/import", nodes[1 % nodes.len()].base))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let depts = api.get(first, "/departments", &admin).await;
    let department = depts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Floor")
        .expect("the imported department")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/members?department_id={department}&limit=500");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(first, &path, &admin).await;
        for m in page["items"].as_array().unwrap() {
            ids.push(m["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(ids.len(), people);
    let tokens = api
        .post(
            first,
            "/tokens/batch",
            Some(&admin),
            json!({"name": "scale-out test", "member_ids": ids}),
        )
        .await;
    let people: Vec<(String, String)> = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["member_id"].as_str().unwrap().to_string(),
                t["token"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Acknowledgements spread over the nodes, a few at a time.
    for (i, chunk) in people.chunks(16).enumerate() {
        let acks = chunk.iter().map(|(_, token)| {
            let node = nodes[i % nodes.len()];
            api.post(node, "/policy/ack", Some(token), json!({"version": 1}))
        });
        futures_util::future::join_all(acks).await;
    }
    Org {
        admin,
        department,
        people,
    }
}

/// A WebSocket client of one node.
struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    async fn connect(node: &Node, token: &str, since: Option<i64>) -> Self {
        let mut url = format!("ws://{}/api/v1/stream?token={token}", node.addr);
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        Self { stream }
    }

    /// The next JSON frame before `deadline`, or `None`.
    async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
                Message::Close(c) => panic!("the server closed the stream: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Frames up to and including `hello` (the backlog after `since`).
    async fn until_hello(&mut self) -> (Vec<Value>, Value) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut frames = Vec::new();
        loop {
            let f = self.next(deadline).await.expect("hello");
            if f["type"] == "hello" {
                return (frames, f);
            }
            frames.push(f);
        }
    }
}

fn notice(department: &str, reminders: Option<Value>) -> Value {
    let mut body = json!({"title": "Typhoon signal No. 8", "body": "Stores close at 15:00.",
        "priority": "urgent", "tracking": "per_person", "require_ack": false,
        "audience": {"departments": [department]}});
    if let Some(plan) = reminders {
        body["reminders"] = plan;
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_posted_round_robin_to_three_nodes_reach_a_sender_on_one_node_live_and_once() {
    let Some((pg, Some(nats))) = services(
        "reads_posted_round_robin_to_three_nodes_reach_a_sender_on_one_node_live_and_once",
        true,
    ) else {
        return;
    };
    let db = ScratchDatabase::create(&pg).await.expect("a test database");
    let dir = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(dir.path(), db.url(), &nats, &unique_prefix());
    let all: Vec<&Node> = nodes.iter().collect();
    let api = Api::new();
    api.set_clocks(&all, EPOCH).await;
    const READERS: usize = 90;
    let org = organisation(&api, &all, READERS + 1).await;
    let sender_token = org.people[0].1.clone();
    let readers = &org.people[1..];

    let mut ws = Ws::connect(&nodes[0], &sender_token, None).await;
    ws.until_hello().await;
    let sent = api
        .post(
            &nodes[1],
            "/messages",
            Some(&sender_token),
            notice(&org.department, None),
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(sent["recipient_count"], READERS as i64);

    // Every reader reports on "their" node, all at once, so the nodes commit interleaved
    // and publish in an order of their own.
    // Read the moment it was sent, by the clients' clocks.
    let now = sent["created_at"].as_str().unwrap().to_string();
    let posts = readers.iter().enumerate().map(|(i, (_, token))| {
        let node = &nodes[i % 3];
        let body = json!({"receipts": [{"event_id": format!("read-{i}"), "message_id": id,
                                         "kind": "read", "at": now}]});
        let api = &api;
        async move {
            let res = api.post(node, "/receipts", Some(token), body).await;
            assert_eq!(res["results"][0]["status"], "applied", "{res}");
        }
    });
    let started = Instant::now();
    futures_util::future::join_all(posts).await;

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_seq = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < READERS {
        let Some(f) = ws.next(deadline).await else {
            panic!("only {} of {READERS} reads arrived: {seen:?}", seen.len());
        };
        if f["type"] != "receipt.updated" {
            continue;
        }
        assert_eq!(f["message_id"], id.as_str());
        assert_eq!(f["state"], "read");
        let seq = f["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "frames in sequence order");
        last_seq = seq;
        *seen
            .entry(f["member_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let elapsed = started.elapsed();
    // Anything still coming would be a duplicate.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Some(f) = ws.next(quiet).await {
        assert_ne!(f["type"], "receipt.updated", "a read arrived twice: {f}");
    }
    for (member, _) in readers {
        assert_eq!(seen.get(member), Some(&1), "member {member}");
    }
    println!("{READERS} reads posted round-robin to 3 nodes, all seen live on one in {elapsed:?}");
    let board = api.board(&nodes[2], &sender_token, &id).await;
    assert_eq!(board.len(), READERS);
    assert!(board.values().all(|r| r["state"] == "read"));
    drop(nodes);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_email_each_person_once_for_the_notice_and_once_per_reminder() {
    let Some((pg, Some(nats))) = services(
        "three_nodes_email_each_person_once_for_the_notice_and_once_per_reminder",
        true,
    ) else {
        return;
    };
    let Some(smtp) = smtp::SmtpPeer::start() else {
        return;
    };
    let db = ScratchDatabase::create(&pg).await.expect("a test database");
    let dir = tempfile::tempdir().unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let nodes = Node::cluster_with(
        dir.path(),
        db.url(),
        &nats,
        &unique_prefix(),
        &[
            "--smtp-url",
            &smtp_url,
            "--mail-from",
            "readtrack <noreply@hl.example>",
            "--public-url",
            "https://readtrack.test",
        ],
    );
    let api = Api::new();
    let all: Vec<&Node> = nodes.iter().collect();
    api.set_clocks(&all, EPOCH).await;
    const PEOPLE: usize = 60;
    let org = organisation(&api, &all, PEOPLE).await;
    let plan = json!({"remind_after_minutes": 60, "remind_every_minutes": 60, "max_reminders": 1});
    api.post(
        &nodes[1],
        "/messages",
        Some(&org.people[0].1),
        notice(&org.department, Some(plan)),
    )
    .await;
    // The urgent notice: one email each, whichever node queued and sent it.
    let everyone: Vec<String> = (1..PEOPLE).map(|i| format!("p{i}@hl.example")).collect();
    for to in &everyone {
        smtp.until_mails(to, 1).await;
    }
    // The reminder an hour later, due on every node at once: one more each.
    api.advance_clocks(&all, 60).await;
    for to in &everyone {
        smtp.until_mails(to, 2).await;
    }
    // Nothing twice: every node has had the time to send anything it would.
    api.advance_clocks(&all, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for to in &everyone {
        assert_eq!(smtp.mails_to(to).len(), 2, "{to}");
    }
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_while_reminders_are_due_leaves_every_step_to_the_others_once() {
    let Some((pg, Some(nats))) = services(
        "a_node_killed_while_reminders_are_due_leaves_every_step_to_the_others_once",
        true,
    ) else {
        return;
    };
    let db = ScratchDatabase::create(&pg).await.expect("a test database");
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Node::cluster(dir.path(), db.url(), &nats, &unique_prefix());
    let api = Api::new();
    let all: Vec<&Node> = nodes.iter().collect();
    api.set_clocks(&all, EPOCH).await;
    const RECIPIENTS: usize = 400;
    const PLANNED: i64 = 3;
    let org = organisation(&api, &all, RECIPIENTS + 1).await;
    let sender_token = org.people[0].1.clone();
    let plan =
        json!({"remind_after_minutes": 60, "remind_every_minutes": 60, "max_reminders": PLANNED});
    let sent = api
        .post(
            &nodes[0],
            "/messages",
            Some(&sender_token),
            notice(&org.department, Some(plan)),
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_string();

    // The first reminders fall due on one node, which claims them all in one transaction
    // and is killed in the middle of it (when the machine is quick enough to be caught
    // mid-pass; otherwise it is killed right after). Its claim dies with it.
    api.advance_clocks(&[&nodes[2]], 61).await;
    let deadline = Instant::now() + WAIT;
    let mid_claim = loop {
        if db
            .claim_in_flight("due_steps")
            .await
            .expect("look at locks")
        {
            break true;
        }
        let reminded = api
            .board(&nodes[0], &sender_token, &id)
            .await
            .values()
            .filter(|r| r["reminders"] == 1)
            .count();
        if reminded == RECIPIENTS {
            break false;
        }
        assert!(Instant::now() < deadline, "the node never fired");
    };
    nodes[2].kill();
    let reminded_at_kill = api
        .board(&nodes[0], &sender_token, &id)
        .await
        .values()
        .filter(|r| r["reminders"] == 1)
        .count();
    println!(
        "node 2 killed {}; {reminded_at_kill} of {RECIPIENTS} reminded by then",
        if mid_claim {
            "in the middle of its pass"
        } else {
            "after its pass"
        }
    );
    if mid_claim {
        assert_eq!(reminded_at_kill, 0, "nothing of an aborted pass is visible");
    }
    let alive: Vec<&Node> = nodes[..2].iter().collect();
    api.advance_clocks(&alive, 61).await;

    // Each later reminder falls due on the two survivors only.
    for round in 1..=PLANNED {
        let deadline = Instant::now() + WAIT;
        loop {
            let board = api.board(alive[0], &sender_token, &id).await;
            assert_eq!(board.len(), RECIPIENTS);
            let counts: Vec<i64> = board
                .values()
                .map(|r| r["reminders"].as_i64().unwrap())
                .collect();
            assert!(
                counts.iter().all(|c| *c <= round),
                "a step fired twice in round {round}: {:?}",
                counts.iter().filter(|c| **c > round).collect::<Vec<_>>()
            );
            if counts.iter().all(|c| *c == round) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: {} of {RECIPIENTS} reminded",
                counts.iter().filter(|c| **c == round).count()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        api.advance_clocks(&alive, 60).await;
    }
    // The plan is done: a working day later nobody has been reminded again.
    api.advance_clocks(&alive, 8 * 60).await;
    let first = api
        .get(alive[0], &format!("/messages/{id}"), &sender_token)
        .await;
    assert_eq!(first["id"], id.as_str());
    let board = api.board(alive[1], &sender_token, &id).await;
    assert!(
        board.values().all(|r| r["reminders"] == PLANNED),
        "exactly the planned number of reminders each"
    );
    drop(nodes);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_moves_an_embedded_deployment_to_postgres_and_clients_resume_without_duplicates() {
    let Some((pg, _)) = services(
        "migrate_moves_an_embedded_deployment_to_postgres_and_clients_resume_without_duplicates",
        false,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let embedded = dir.path().join("embedded");
    let api = Api::new();

    // An embedded deployment with some history: notices, reads, reminders, a webhook.
    let node = Node::start(&embedded, EPOCH, &[]);
    let org = organisation(&api, &[&node], 12).await;
    let sender_token = org.people[0].1.clone();
    let reader = org.people[1].clone();
    api.post(
        &node,
        "/webhooks",
        Some(&org.admin),
        json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.updated"],
               "secret": "a-long-enough-hmac-key"}),
    )
    .await;
    let plan = json!({"remind_after_minutes": 60, "remind_every_minutes": 60, "max_reminders": 2});
    let first = api
        .post(
            &node,
            "/messages",
            Some(&sender_token),
            notice(&org.department, Some(plan)),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = api
        .post(
            &node,
            "/messages",
            Some(&sender_token),
            notice(&org.department, None),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, (_, token)) in org.people[1..].iter().enumerate() {
        let kind = if i % 2 == 0 { "read" } else { "delivered" };
        api.post(
            &node,
            "/receipts",
            Some(token),
            json!({"receipts": [{"event_id": format!("e{i}"), "message_id": first, "kind": kind,
                                 "at": "2026-12-01T02:00:30Z"}]}),
        )
        .await;
    }
    api.advance_clocks(&[&node], 61).await;
    let deadline = Instant::now() + WAIT;
    while !api
        .board(&node, &sender_token, &first)
        .await
        .values()
        .any(|r| r["reminders"] == 1)
    {
        assert!(Instant::now() < deadline, "the first reminders never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A client that saw part of the stream; it will resume after `since` later.
    let mut ws = Ws::connect(&node, &sender_token, Some(0)).await;
    let (backlog, hello) = ws.until_hello().await;
    let since = backlog[backlog.len() / 2]["seq"].as_i64().unwrap();
    let last_seq = hello["last_seq"].as_i64().unwrap();
    drop(ws);
    let before = (
        api.board(&node, &sender_token, &first).await,
        api.board(&node, &sender_token, &second).await,
        api.get(&node, "/messages?box=inbox", &reader.1).await,
        api.get(&node, "/messages?box=sent", &sender_token).await,
    );
    let mut ws = Ws::connect(&node, &sender_token, Some(since)).await;
    let (replay_before, _) = ws.until_hello().await;
    drop(ws);
    node.terminate();

    // The move.
    let db = ScratchDatabase::create(&pg).await.expect("a test database");
    let out = Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .args(["migrate", "--from"])
        .arg(&embedded)
        .args(["--to", db.url()])
        .env_remove("READTRACK_DATABASE")
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every count matches"), "{stdout}");
    for table in [
        "receipts",
        "events",
        "due_steps",
        "webhook_deliveries",
        "tokens",
    ] {
        assert!(stdout.contains(table), "{table} is copied: {stdout}");
    }
    let again = Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .args(["migrate", "--from"])
        .arg(&embedded)
        .args(["--to", db.url()])
        .output()
        .expect("run migrate");
    assert!(!again.status.success(), "a database with data is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // The same deployment, served from PostgreSQL.
    let node = Node::start(
        &dir.path().join("unused"),
        "2026-12-01T03:01:30Z",
        &["--database", db.url()],
    );
    let after = (
        api.board(&node, &sender_token, &first).await,
        api.board(&node, &sender_token, &second).await,
        api.get(&node, "/messages?box=inbox", &reader.1).await,
        api.get(&node, "/messages?box=sent", &sender_token).await,
    );
    assert_eq!(after, before, "boards, inbox and sent list are the same");
    let mut ws = Ws::connect(&node, &sender_token, Some(since)).await;
    let (replay_after, hello) = ws.until_hello().await;
    assert_eq!(
        replay_after, replay_before,
        "the same frames after the old `since`"
    );
    assert_eq!(hello["last_seq"], last_seq, "the sequence is where it was");
    // New activity continues the sequence: exactly one new frame, numbered next.
    let (unread_id, unread_token) = &org.people[2];
    api.post(
        &node,
        "/receipts",
        Some(unread_token),
        json!({"receipts": [{"event_id": "after-move", "message_id": first, "kind": "read",
                             "at": "2026-12-01T03:01:00Z"}]}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let frame = loop {
        let f = ws.next(deadline).await.expect("the new read");
        if f["type"] == "receipt.updated" {
            break f;
        }
    };
    assert_eq!(frame["seq"], last_seq + 1);
    assert_eq!(frame["member_id"], unread_id.as_str());
    // New rows get fresh ids after the copied ones.
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            format!("{}/members", node.base),
            Some(&org.admin),
            Some(json!({"name": "New Hire", "email": "new@hl.example", "department_id": org.department})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The second reminders fall due after the move and fire once.
    api.advance_clocks(&[&node], 60).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let board = api.board(&node, &sender_token, &first).await;
        let unread_reminded: Vec<i64> = board
            .values()
            .filter(|r| r["state"] != "read")
            .map(|r| r["reminders"].as_i64().unwrap())
            .collect();
        assert!(unread_reminded.iter().all(|c| *c <= 2));
        if unread_reminded.iter().all(|c| *c == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "second reminders: {unread_reminded:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(ws);
    node.terminate();
    drop(db);
}

/// A TCP relay to NATS that the test can cut and restore, standing in for a broker that
/// goes away.
struct Relay {
    addr: std::net::SocketAddr,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut relay = Relay {
            addr,
            upstream: upstream.to_string(),
            task: None,
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                links.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    /// Drops the listener and every link (the broker is gone).
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens on the same address again.
    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_not_ready_while_nats_is_away_and_ready_again_once_it_is_back() {
    let Ok(nats) = std::env::var("READTRACK_TEST_NATS") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but NATS (READTRACK_TEST_NATS) is not configured"
        );
        println!("skipped: NATS (READTRACK_TEST_NATS) not configured");
        return;
    };
    let upstream = nats
        .trim_start_matches("nats://")
        .trim_end_matches('/')
        .to_string();
    let mut relay = Relay::start(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        dir.path(),
        EPOCH,
        &[
            "--nats",
            &format!("nats://{}", relay.addr),
            "--nats-prefix",
            &unique_prefix(),
        ],
    );
    let readyz = format!("http://{}/readyz", node.addr);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let status = |want: StatusCode| {
        let (http, readyz) = (http.clone(), readyz.clone());
        async move {
            let deadline = Instant::now() + WAIT;
            loop {
                let res = http.get(&readyz).send().await.expect("the node answers");
                let got = res.status();
                let body = res.text().await.unwrap_or_default();
                if got == want {
                    return body;
                }
                assert!(
                    Instant::now() < deadline,
                    "/readyz stayed {got} ({body}), expected {want}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    status(StatusCode::OK).await;
    relay.cut();
    let body = status(StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(body.contains("event bus"), "{body}");
    relay.restore().await;
    status(StatusCode::OK).await;
    node.terminate();
}
