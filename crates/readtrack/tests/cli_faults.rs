//! The faults the offline-first client must survive, each against the real server
//! binary and the real `readtrack` command line: the server down while a notice is
//! read, an answer lost after the commit, the client killed mid-sync, a clock too far
//! ahead, and a thousand reads queued offline.

mod cli_harness;

use std::sync::Arc;

use cli_harness::{
    Cli, Fate, Org, Proxy, Server, call, eventually, receipt_requests, receipts_applied,
};
use jiff::{SignedDuration, Timestamp};
use readtrack_client::{ApiClient, NewReceipt, OffsetClock, Outbox, ReceiptKind, Store};
use serde_json::{Value, json};

fn time(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("a time, got {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("an RFC 3339 time, got {v}: {e}"))
}

/// The reader's outbox, opened the way an app embedding the SDK would.
async fn sdk_outbox(cli: &Cli, server: &str) -> Outbox {
    let store = Store::open(&cli.store_path())
        .await
        .expect("the CLI's store opens");
    Outbox::new(store, ApiClient::new(server).expect("client"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_made_while_the_server_is_down_reaches_the_board_with_its_original_time_exactly_once()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--dev-clock"]);
    let org = Org::setup(&server).await;
    let id = org
        .notice_to_reader(&server.url, "Fire drill at 15:00")
        .await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;
    // Online once: the inbox caches the notice for reading offline.
    reader.run(&["inbox"]).await.ok();

    server.kill();
    let read = reader.run(&["--json", "read", &id]).await.ok().json();
    assert_eq!(read["source"], "cache", "{read}");
    assert_eq!(read["pending_receipts"], 1, "{read}");
    let read_at = time(&read["receipt"]["at"]);

    // The server comes back on the same data, its clock minutes later.
    let server = Server::start(&data, &["--dev-clock"]);
    let (status, clock) = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/dev/clock", server.url),
        None,
        Some(json!({"advance_minutes": 7})),
    )
    .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(org.board(&server.url, &id).await["summary"]["read"], 0);

    let sync = reader
        .run(&["--server", &server.url, "--json", "sync"])
        .await
        .ok()
        .json();
    assert_eq!(
        (sync["applied"].as_u64(), sync["remaining"].as_u64()),
        (Some(1), Some(0)),
        "{sync}"
    );

    let board = org.board(&server.url, &id).await;
    assert_eq!(board["summary"]["read"], 1, "{board}");
    let row = org.reader_row(&board);
    assert_eq!(
        time(&row["read_at"]),
        read_at,
        "the board shows the time it was read, not the time it arrived"
    );
    assert!(time(&clock["now"]) > read_at + SignedDuration::from_mins(6));

    // Syncing again sends nothing, and the read is still counted once.
    let again = reader
        .run(&["--server", &server.url, "--json", "sync"])
        .await
        .ok()
        .json();
    assert_eq!(again["requests"], 0, "{again}");
    assert_eq!(org.board(&server.url, &id).await["summary"]["read"], 1);
    assert_eq!(receipts_applied(&server.url).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_answer_is_lost_after_the_commit_is_resent_as_a_duplicate_and_counted_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let id = org.notice_to_reader(&server.url, "New rota").await;
    // The first receipts request reaches the server; its answer does not come back.
    let proxy = Proxy::start(&server.url, vec![Fate::Cut]).await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&proxy.url, &org.reader_email).await;

    let read = reader.run(&["--json", "read", &id]).await.ok().json();
    assert_eq!(
        proxy.intercepted.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        read["pending_receipts"], 1,
        "the receipt stays until an answer comes: {read}"
    );
    let read_at = time(&read["receipt"]["at"]);
    assert_eq!(
        org.board(&server.url, &id).await["summary"]["read"],
        1,
        "the server did commit it"
    );
    let outbox = reader.outbox().await;
    assert_eq!(outbox["pending"][0]["attempts"], 1, "{outbox}");

    let sync = reader.run(&["--json", "sync"]).await.ok().json();
    assert_eq!(
        (
            sync["applied"].as_u64(),
            sync["duplicate"].as_u64(),
            sync["remaining"].as_u64()
        ),
        (Some(0), Some(1), Some(0)),
        "{sync}"
    );
    let board = org.board(&server.url, &id).await;
    assert_eq!(board["summary"]["read"], 1, "{board}");
    assert_eq!(time(&org.reader_row(&board)["read_at"]), read_at);
    assert_eq!(
        receipts_applied(&server.url).await,
        1.0,
        "applied once, however often sent"
    );
    assert_eq!(receipt_requests(&server.url).await, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_flight_loses_and_doubles_nothing_once_run_again() {
    // Three receipts per notice, sent 200 per request: three batches.
    const NOTICES: usize = 200;
    const BATCH: &str = "200";
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let ids = org.notices_to_reader(&server.url, NOTICES).await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;

    let outbox = sdk_outbox(&reader, &server.url).await;
    let mut recorded = Vec::new();
    for id in &ids {
        let items: Vec<NewReceipt> = [ReceiptKind::Delivered, ReceiptKind::Read, ReceiptKind::Ack]
            .into_iter()
            .map(|kind| NewReceipt {
                kind,
                message_id: id.clone(),
                response: None,
            })
            .collect();
        recorded.extend(outbox.record_batch(&items).await.expect("recorded"));
    }
    outbox.store().close().await;
    let total = recorded.len();
    assert_eq!(total, 3 * NOTICES);

    // The second batch reaches the server and is committed; its answer is held back
    // while the client is killed.
    let proxy = Proxy::start(&server.url, vec![Fate::Pass, Fate::Hold]).await;
    let mut sync = reader
        .command(&["--server", &proxy.url, "sync", "--batch-size", BATCH])
        .spawn()
        .expect("sync starts");
    let held = proxy.intercepted.clone();
    eventually("the second batch's answer to be held", || {
        let held = held.clone();
        async move { (held.load(std::sync::atomic::Ordering::SeqCst) == 1).then_some(()) }
    })
    .await;
    sync.kill().await.expect("SIGKILL delivered");
    assert_eq!(
        receipts_applied(&server.url).await,
        400.0,
        "two batches reached the server"
    );

    let outbox = reader.outbox().await;
    assert_eq!(
        outbox["pending_count"], 400,
        "the unanswered batch and the unsent one stay"
    );

    let again = reader
        .run(&[
            "--server",
            &server.url,
            "--json",
            "sync",
            "--batch-size",
            BATCH,
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (
            again["applied"].as_u64(),
            again["duplicate"].as_u64(),
            again["rejected"].as_u64(),
            again["remaining"].as_u64()
        ),
        (Some(200), Some(200), Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(
        receipts_applied(&server.url).await,
        total as f64,
        "every receipt applied exactly once"
    );
    let outbox = reader.outbox().await;
    assert_eq!(
        (
            outbox["pending_count"].as_u64(),
            outbox["dead_letter_count"].as_u64()
        ),
        (Some(0), Some(0))
    );

    for id in &ids {
        let board = org.board(&server.url, id).await;
        assert_eq!(
            (
                board["summary"]["delivered"].as_i64(),
                board["summary"]["read"].as_i64(),
                board["summary"]["acknowledged"].as_i64()
            ),
            (Some(1), Some(1), Some(1)),
            "{board}"
        );
        let at = recorded
            .iter()
            .find(|r| &r.message_id == id)
            .map(|r| r.at.clone())
            .expect("recorded");
        assert_eq!(
            time(&org.reader_row(&board)["acked_at"]),
            time(&Value::String(at))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_clock_ten_minutes_behind_is_corrected_from_the_servers_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The server's clock runs ten minutes ahead of this machine's: this device lags ten
    // minutes, twice what an uncorrected report may be off by.
    let ahead = Timestamp::now() + SignedDuration::from_mins(10);
    let server = Server::start(
        &dir.path().join("data"),
        &["--dev-clock-at", &ahead.to_string()],
    );
    let org = Org::setup(&server).await;
    let first = org
        .notice_to_reader(&server.url, "Gas works on Monday")
        .await;
    let second = org.notice_to_reader(&server.url, "Lift closed").await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;
    let lag = |at: Timestamp, device: Timestamp| at.duration_since(device).as_secs() - 600;

    // `read` fetches the notice, learns the offset from the answer, and reports the read
    // on the server's time line.
    let read = reader.run(&["--json", "read", &first]).await.ok().json();
    let at = time(&read["receipt"]["at"]);
    assert!(
        lag(at, Timestamp::now()).abs() <= 30,
        "stamped ten minutes on from the device's clock: {read}"
    );
    let read_at = eventually("the read on the board", || async {
        let board = org.board(&server.url, &first).await;
        let row = org.reader_row(&board);
        (row["state"] != "delivered" && row["state"] != "sent").then(|| time(&row["read_at"]))
    })
    .await;
    assert_eq!(read_at, at, "taken as reported, not clamped to the send");

    // An app on the same device that starts offline stamps with the offset kept in the
    // store by the run before.
    let offline = Outbox::new(
        Store::open(&reader.store_path()).await.expect("store"),
        ApiClient::new("http://127.0.0.1:9").expect("client"),
    );
    let pending = offline
        .record(ReceiptKind::Read, &second, None)
        .await
        .expect("recorded");
    offline.store().close().await;
    assert!(
        lag(time(&json!(pending.at)), time(&json!(pending.created_at))).abs() <= 30,
        "{pending:?}"
    );
    let sync = reader.run(&["--json", "sync"]).await.ok().json();
    assert_eq!(
        (sync["rejected"].as_u64(), sync["remaining"].as_u64()),
        (Some(0), Some(0)),
        "{sync}"
    );
    let board = org.board(&server.url, &second).await;
    assert_eq!(
        time(&org.reader_row(&board)["read_at"]),
        time(&json!(pending.at))
    );
    let corrections = cli_harness::metric(
        &server.url,
        "readtrack_device_clock_correction_seconds_count",
        &[],
    )
    .await;
    assert!(
        corrections >= 2.0,
        "the server saw the corrections: {corrections}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_from_a_clock_ten_minutes_ahead_is_dead_lettered_with_the_servers_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let skewed = org.notice_to_reader(&server.url, "Quarterly figures").await;
    let fine = org.notice_to_reader(&server.url, "Canteen menu").await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;

    // A device whose clock runs ten minutes fast reads one notice; a correct clock the other.
    let fast = sdk_outbox(&reader, &server.url)
        .await
        .with_clock(Arc::new(OffsetClock::new(SignedDuration::from_mins(10))));
    let bad = fast
        .record(ReceiptKind::Read, &skewed, None)
        .await
        .expect("recorded");
    let good = fast
        .clone()
        .with_clock(Arc::new(OffsetClock::new(SignedDuration::ZERO)))
        .record(ReceiptKind::Read, &fine, None)
        .await
        .expect("recorded");
    fast.store().close().await;

    let sync = reader.run(&["--json", "sync"]).await.ok().json();
    assert_eq!(
        (
            sync["applied"].as_u64(),
            sync["rejected"].as_u64(),
            sync["remaining"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "one bad receipt fails alone: {sync}"
    );

    let outbox = reader.outbox().await;
    assert_eq!(outbox["pending_count"], 0, "{outbox}");
    assert_eq!(outbox["dead_letter_count"], 1, "{outbox}");
    let dead = &outbox["dead_letters"][0];
    assert_eq!(dead["event_id"], bad.event_id.as_str());
    assert_eq!(dead["message_id"], skewed.as_str());
    assert_eq!(dead["code"], "time_in_future");
    assert!(
        dead["message"]
            .as_str()
            .is_some_and(|m| m.contains("ahead of the server clock")),
        "{dead}"
    );

    let text = reader.run(&["outbox"]).await.ok();
    assert!(text.stdout.contains("time_in_future"), "{}", text.stdout);
    assert_eq!(org.board(&server.url, &skewed).await["summary"]["read"], 0);
    let board = org.board(&server.url, &fine).await;
    assert_eq!(
        time(&org.reader_row(&board)["read_at"]),
        time(&Value::String(good.at))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_reads_queued_offline_flush_in_one_request_not_a_thousand() {
    // 200 notices, each opened five times: an app may record every opening (the server
    // keeps the earliest), and fewer notices keep the test fast.
    const NOTICES: usize = 200;
    const OPENINGS: usize = 5;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let org = Org::setup(&server).await;
    let ids = org.notices_to_reader(&server.url, NOTICES).await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;
    server.kill();

    // Offline, one read at a time, each its own durable commit.
    let outbox = sdk_outbox(&reader, "http://127.0.0.1:9").await;
    let mut first = Vec::new();
    for round in 0..OPENINGS {
        for id in &ids {
            let r = outbox
                .record(ReceiptKind::Read, id, None)
                .await
                .expect("recorded offline");
            if round == 0 {
                first.push(r);
            }
        }
    }
    outbox.store().close().await;
    let reads = NOTICES * OPENINGS;
    assert_eq!(reads, 1000);

    let server = Server::start(&data, &[]);
    let sync = reader
        .run(&["--server", &server.url, "--json", "sync"])
        .await
        .ok()
        .json();
    assert_eq!(
        (sync["applied"].as_u64(), sync["requests"].as_u64()),
        (Some(reads as u64), Some(1)),
        "{sync}"
    );
    assert_eq!(
        receipt_requests(&server.url).await,
        1.0,
        "the server saw one request"
    );
    assert_eq!(receipts_applied(&server.url).await, reads as f64);
    for r in [&first[0], &first[NOTICES - 1]] {
        let board = org.board(&server.url, &r.message_id).await;
        assert_eq!(board["summary"]["read"], 1, "{board}");
        assert_eq!(
            time(&org.reader_row(&board)["read_at"]),
            time(&Value::String(r.at.clone())),
            "the first opening counts"
        );
    }
}
