//! `readtrack backup` while a burst of receipts is being written, `readtrack restore`
//! into a new data directory, and a server on the restored copy: its boards hold every
//! receipt committed before the backup began, none half-written (every counter equals
//! its rows), and nothing from after the copy's instant is missing its counter.

mod cli_harness;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cli_harness::{Org, Server, call, login};
use serde_json::json;

/// Runs `readtrack backup --data A --to B` or `readtrack restore --from A --data B`;
/// answers whether it succeeded, and what it printed.
fn readtrack(command: &str, a: &std::path::Path, b: &std::path::Path) -> (bool, String) {
    let (first, second) = match command {
        "backup" => ("--data", "--to"),
        _ => ("--from", "--data"),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .arg(command)
        .arg(first)
        .arg(a)
        .arg(second)
        .arg(b)
        .output()
        .expect("the readtrack binary runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_burst_restores_to_a_consistent_copy_with_everything_committed_before_it()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let org = Org::setup(&server).await;
    let notices = org.notices_to_reader(&server.url, 150).await;
    let reader = login(&server.url, &org.reader_email).await;

    // The burst: one read per request, four in flight, counting the committed ones.
    let applied = Arc::new(AtomicUsize::new(0));
    let burst = {
        let (url, applied) = (format!("{}/api/v1/receipts", server.url), applied.clone());
        let (reader, notices) = (reader.clone(), notices.clone());
        tokio::spawn(async move {
            use futures_util::StreamExt;
            futures_util::stream::iter(notices.into_iter().enumerate())
                .map(|(i, id)| {
                    let (url, reader, applied) = (url.clone(), reader.clone(), applied.clone());
                    async move {
                        let at = jiff::Timestamp::now().to_string();
                        let body = json!({"receipts": [{"event_id": format!("burst-{i}"), "message_id": id, "kind": "read", "at": at}]});
                        let (status, res) =
                            call(reqwest::Method::POST, &url, Some(&reader), Some(body)).await;
                        assert_eq!(status, 200, "{res}");
                        if res["results"][0]["status"] == "applied" {
                            applied.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
                .buffer_unordered(4)
                .collect::<Vec<_>>()
                .await;
        })
    };
    // Back up once the burst is under way.
    cli_harness::eventually("the burst under way", || async {
        (applied.load(Ordering::SeqCst) >= 20).then_some(())
    })
    .await;
    let committed_before = applied.load(Ordering::SeqCst);
    let copy = dir.path().join("readtrack-backup.db");
    let (ok, said) = readtrack("backup", &data, &copy);
    assert!(ok && said.contains("receipts"), "backup: {said}");
    let committed_by_end_of_backup = applied.load(Ordering::SeqCst);
    burst.await.expect("the burst ran");
    assert_eq!(
        applied.load(Ordering::SeqCst),
        notices.len(),
        "every read committed"
    );
    // A second backup to the same file is refused rather than overwriting it.
    let (ok, said) = readtrack("backup", &data, &copy);
    assert!(!ok, "{said}");

    // Restore into a fresh directory; a directory that has a database is refused.
    let restored = dir.path().join("restored");
    let (ok, said) = readtrack("restore", &copy, &restored);
    assert!(ok, "restore: {said}");
    let (ok, _) = readtrack("restore", &copy, &data);
    assert!(!ok, "restore never overwrites a database");
    server.kill();

    let copy_server = Server::start(&restored, &[]);
    let mut rows_read = 0;
    for id in &notices {
        let (status, board) = call(
            reqwest::Method::GET,
            &format!("{}/api/v1/messages/{id}/receipts", copy_server.url),
            Some(&org.sender_token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{board}");
        let row_read = board["items"]
            .as_array()
            .and_then(|items| items.first())
            .is_some_and(|r| r["state"] == "read");
        let counted = board["summary"]["read"].as_i64() == Some(1);
        assert_eq!(row_read, counted, "counter and row agree: {board}");
        rows_read += usize::from(row_read);
    }
    assert!(
        (committed_before..=committed_by_end_of_backup).contains(&rows_read),
        "the copy holds {rows_read} reads; {committed_before} were committed when the backup began, \
         {committed_by_end_of_backup} when it ended"
    );
}
