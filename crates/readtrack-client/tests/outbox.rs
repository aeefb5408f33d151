//! The outbox and the background sync against a scripted fake server: what leaves the
//! outbox when, how batches are cut, how refusals are kept, how retries wait, and that
//! a reconnecting stream wakes a sync that is backing off.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use readtrack_client::store::ClaimOutcome;
use readtrack_client::{
    ApiClient, Backoff, Outbox, ReceiptKind, Store, Stream, StreamEvent, StreamOptions, SyncEngine,
};
use serde_json::{Value, json};

/// How the fake server answers `POST /api/v1/receipts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Applies (or answers duplicate for event ids seen before).
    Normal,
    /// 503 with this `Retry-After`.
    Unavailable(u64),
    /// Never answers.
    Hang,
}

#[derive(Debug)]
struct Fake {
    mode: Mode,
    seen: HashSet<String>,
    /// Items per request, in order.
    batches: Vec<usize>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn receipts(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    let items = body["receipts"].as_array().cloned().unwrap_or_default();
    let mode = {
        let mut fake = lock(&s);
        fake.batches.push(items.len());
        fake.mode
    };
    match mode {
        Mode::Hang => std::future::pending::<Response>().await,
        Mode::Unavailable(secs) => {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", secs.into());
            let body = json!({"error": {"code": "unavailable", "message": "try later"}});
            (StatusCode::SERVICE_UNAVAILABLE, headers, Json(body)).into_response()
        }
        Mode::Normal => {
            // A poisoned item makes the whole request malformed, as a body the server
            // cannot read at all would.
            if items.iter().any(|i| i["message_id"] == "poison") {
                let body = json!({"error": {"code": "invalid_json", "message": "the body is not valid JSON"}});
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
            let mut fake = lock(&s);
            let results: Vec<Value> = items
                .iter()
                .map(|i| {
                    let id = i["event_id"].as_str().unwrap_or_default().to_string();
                    if i["message_id"] == "not-mine" {
                        json!({"event_id": id, "status": "rejected",
                               "error": {"code": "not_recipient", "message": "you did not receive this notice"}})
                    } else if fake.seen.insert(id.clone()) {
                        json!({"event_id": id, "status": "applied"})
                    } else {
                        json!({"event_id": id, "status": "duplicate"})
                    }
                })
                .collect();
            Json(json!({ "results": results })).into_response()
        }
    }
}

async fn stream(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        let hello = json!({"type": "hello", "member_id": "7", "last_seq": 42}).to_string();
        if socket.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        // Stay connected until the client leaves.
        while let Some(Ok(_)) = socket.recv().await {}
    })
}

struct Server {
    url: String,
    state: Shared,
}

impl Server {
    async fn start(mode: Mode) -> Server {
        let state: Shared = Arc::new(Mutex::new(Fake {
            mode,
            seen: HashSet::new(),
            batches: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/api/v1/receipts", post(receipts))
            .route("/api/v1/stream", get(stream))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    fn batches(&self) -> Vec<usize> {
        lock(&self.state).batches.clone()
    }
}

async fn outbox(dir: &tempfile::TempDir, server: &Server) -> Outbox {
    let store = Store::open(&dir.path().join("offline.db"))
        .await
        .expect("store opens");
    let api = ApiClient::new(&server.url)
        .expect("client")
        .with_token("rt_test");
    Outbox::new(store, api)
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn receipts_leave_the_outbox_only_once_the_server_answered_for_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Unavailable(1)).await;
    let outbox = outbox(&dir, &server).await;
    for id in ["1", "2", "3"] {
        outbox
            .record(ReceiptKind::Read, id, None)
            .await
            .expect("recorded");
    }

    let failure = outbox.sync().await.expect_err("the server is unavailable");
    assert!(failure.error.is_retryable());
    assert_eq!(failure.error.retry_after(), Some(Duration::from_secs(1)));
    let pending = outbox.store().pending(10).await.expect("pending");
    assert_eq!(pending.len(), 3);
    assert!(
        pending
            .iter()
            .all(|r| r.attempts == 1 && r.last_error.is_some()),
        "{pending:?}"
    );

    server.set_mode(Mode::Normal);
    let report = outbox.sync().await.expect("synced");
    assert_eq!((report.applied, report.remaining), (3, 0));
    let again = outbox.sync().await.expect("synced");
    assert_eq!(again.requests, 0, "nothing left to send");
}

#[tokio::test]
async fn a_receipt_sent_again_after_a_lost_answer_is_settled_as_a_duplicate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let outbox = outbox(&dir, &server).await;
    let r = outbox
        .record(ReceiptKind::Ack, "9", None)
        .await
        .expect("recorded");
    // The server has it already: the first sending's answer never arrived.
    lock(&server.state).seen.insert(r.event_id.clone());
    let report = outbox.sync().await.expect("synced");
    assert_eq!(
        (report.applied, report.duplicate, report.remaining),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn a_large_outbox_goes_in_batches_of_at_most_a_thousand() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let outbox = outbox(&dir, &server).await;
    let items: Vec<_> = (0..2500)
        .map(|i| readtrack_client::NewReceipt {
            kind: ReceiptKind::Read,
            message_id: format!("{}", i % 50),
            response: None,
        })
        .collect();
    outbox.record_batch(&items).await.expect("recorded");
    let report = outbox.sync().await.expect("synced");
    assert_eq!(
        (report.applied, report.requests, report.remaining),
        (2500, 3, 0)
    );
    assert_eq!(server.batches(), vec![1000, 1000, 500]);
}

#[tokio::test]
async fn a_rejected_receipt_is_dead_lettered_with_the_servers_code_and_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let outbox = outbox(&dir, &server).await;
    let bad = outbox
        .record(ReceiptKind::Read, "not-mine", None)
        .await
        .expect("recorded");
    outbox
        .record(ReceiptKind::Read, "5", None)
        .await
        .expect("recorded");
    let report = outbox.sync().await.expect("synced");
    assert_eq!(
        (report.applied, report.rejected, report.remaining),
        (1, 1, 0)
    );
    let dead = outbox.store().dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].event_id.as_str(), dead[0].code.as_str()),
        (bad.event_id.as_str(), "not_recipient")
    );
    assert_eq!(dead[0].message, "you did not receive this notice");
    assert_eq!(dead[0].at, bad.at, "kept as recorded");
}

#[tokio::test]
async fn a_whole_request_refused_with_400_is_split_until_the_culprit_stands_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let outbox = outbox(&dir, &server).await;
    for id in ["1", "2", "poison", "4", "5", "6", "7"] {
        outbox
            .record(ReceiptKind::Read, id, None)
            .await
            .expect("recorded");
    }
    let report = outbox.sync().await.expect("synced");
    assert_eq!(
        (report.applied, report.rejected, report.remaining),
        (6, 1, 0),
        "{:?}",
        server.batches()
    );
    let dead = outbox.store().dead_letters(10).await.expect("dead letters");
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].code.as_str()),
        ("poison", "invalid_json")
    );
}

#[tokio::test]
async fn a_retry_waits_at_least_as_long_as_retry_after_and_gives_up_at_the_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Unavailable(1)).await;
    let outbox = outbox(&dir, &server).await;
    outbox
        .record(ReceiptKind::Read, "1", None)
        .await
        .expect("recorded");

    // The server asks for a second; half a second of patience is not enough.
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let failure = outbox
        .sync_with_retry(&mut backoff, deadline)
        .await
        .expect_err("gave up");
    assert_eq!(
        failure.report.requests, 1,
        "no retry that would end past the deadline"
    );
    assert!(started.elapsed() < Duration::from_millis(500));

    // With time to wait, the retry comes after the second the server asked for.
    let flip = {
        let state = server.state.clone();
        tokio::spawn(async move {
            // Answer well on the second try, whenever it comes.
            eventually("the first try", || {
                let state = state.clone();
                async move { lock(&state).batches.len() >= 2 }
            })
            .await;
            lock(&state).mode = Mode::Normal;
        })
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = outbox
        .sync_with_retry(&mut backoff, deadline)
        .await
        .expect("synced");
    assert_eq!((report.applied, report.remaining), (1, 0));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    flip.await.expect("flipped");
}

#[tokio::test]
async fn recording_returns_at_once_while_the_background_sync_waits_on_a_silent_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Hang).await;
    let outbox = outbox(&dir, &server).await;
    let engine = SyncEngine::spawn(outbox.clone());
    outbox
        .record(ReceiptKind::Read, "1", None)
        .await
        .expect("recorded");
    eventually("the sync to be stuck on the server", || async {
        !server.batches().is_empty()
    })
    .await;

    let started = Instant::now();
    outbox
        .record(ReceiptKind::Read, "2", None)
        .await
        .expect("recorded");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "recording waited {:?}",
        started.elapsed()
    );
    assert_eq!(outbox.store().pending_count().await.expect("count"), 2);
    engine.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_reconnecting_stream_wakes_a_sync_that_is_backing_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The server asks for an hour's patience: only a wake-up can bring the sync back.
    let server = Server::start(Mode::Unavailable(3600)).await;
    let outbox = outbox(&dir, &server).await;
    outbox
        .record(ReceiptKind::Read, "1", None)
        .await
        .expect("recorded");
    let engine = SyncEngine::spawn(outbox.clone());
    let mut status = engine.status();
    eventually("the sync to back off", || {
        let s = status.borrow_and_update().clone();
        async move { s.retry_in.is_some_and(|d| d >= Duration::from_secs(3600)) }
    })
    .await;

    server.set_mode(Mode::Normal);
    let mut stream = Stream::spawn(
        outbox.api().clone(),
        Some(outbox.store().clone()),
        StreamOptions {
            on_connect: Some(engine.waker()),
            ..StreamOptions::default()
        },
    );
    assert_eq!(
        stream.next().await,
        Some(StreamEvent::Connected { last_seq: 42 })
    );
    eventually("the outbox to empty", || async {
        outbox.store().pending_count().await.ok() == Some(0)
    })
    .await;
    assert_eq!(
        outbox.store().last_seq().await.expect("seq"),
        Some(42),
        "the position is kept for resuming"
    );
    stream.shutdown().await;
    engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_recorded_receipt_survives_reopening_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let recorded = {
        let outbox = outbox(&dir, &server).await;
        outbox
            .record(ReceiptKind::Ack, "3", Some("Attending"))
            .await
            .expect("recorded")
        // Dropped without closing, as a crashing process would.
    };
    let reopened = Store::open(&dir.path().join("offline.db"))
        .await
        .expect("reopens");
    let pending = reopened.pending(10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_id, recorded.event_id);
    assert_eq!(pending[0].response.as_deref(), Some("Attending"));
}

#[tokio::test]
async fn the_stream_position_never_moves_backwards() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("offline.db"))
        .await
        .expect("opens");
    assert_eq!(store.last_seq().await.expect("seq"), None);
    store.set_last_seq(10).await.expect("set");
    store.set_last_seq(7).await.expect("set");
    assert_eq!(store.last_seq().await.expect("seq"), Some(10));
}

#[tokio::test]
async fn a_store_holding_someones_waiting_receipts_refuses_a_new_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Mode::Normal).await;
    let outbox = outbox(&dir, &server).await;
    let store = outbox.store();
    assert_eq!(
        store.claim("1/alice").await.expect("claim"),
        ClaimOutcome::Claimed
    );
    outbox
        .record(ReceiptKind::Read, "1", None)
        .await
        .expect("recorded");
    assert_eq!(
        store.claim("1/bob").await.expect("claim"),
        ClaimOutcome::Refused {
            previous: "1/alice".into(),
            pending: 1
        }
    );
    assert_eq!(
        store.claim("1/alice").await.expect("claim"),
        ClaimOutcome::Same
    );
    outbox.sync().await.expect("synced");
    assert_eq!(
        store.claim("1/bob").await.expect("claim"),
        ClaimOutcome::Claimed
    );
}
