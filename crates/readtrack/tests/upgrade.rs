//! Upgrades: a database made by an earlier release (the demo organisation after some of
//! its simulated reads, at schema version 7, kept in `tests/fixtures/`) is opened by this
//! build, which moves its schema forward at start; every row of every table is still
//! there and the API serves it. A backup whose schema is newer than this build knows is
//! refused by `readtrack restore`.

mod cli_harness;

use std::path::Path;

use cli_harness::{Server, call};
use readtrack_storage::sqlite;

const FIXTURE: &str = "tests/fixtures/schema-7-demo.db";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_the_previous_schema_is_upgraded_at_start_with_every_row_kept() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let before = sqlite::check_file(&fixture)
        .await
        .expect("the fixture is a readtrack database");
    assert_eq!(
        before.schema_version, 7,
        "the fixture is at the earlier schema"
    );
    assert!(
        before
            .tables
            .iter()
            .any(|(t, n)| t == "receipts" && *n > 100),
        "the fixture holds real data: {:?}",
        before.tables
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(&fixture, sqlite::database_file(&data)).unwrap();

    let server = Server::start(&data, &[]);
    let (status, login) = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/auth/login", server.url),
        None,
        Some(serde_json::json!({"email": "grace.wong@harbourline.example", "password": "readtrack-demo"})),
    )
    .await;
    assert_eq!(status, 200, "the demo sender signs in: {login}");
    let token = login["token"].as_str().unwrap().to_string();
    let (status, sent) = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/messages?box=sent", server.url),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let (status, policy) = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/policy", server.url),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    assert!(
        policy["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{policy}"
    );
    // Sending rights came later: an organisation from before keeps what it had (anyone
    // sends anything) until an admin narrows it.
    let (status, me) = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/me", server.url),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["may_send"]["reach"], "everyone", "{me}");
    assert_eq!(me["may_send"]["priorities"][2], "urgent", "{me}");
    server.kill();

    let after = sqlite::check_file(&sqlite::database_file(&data))
        .await
        .expect("the upgraded database checks");
    assert!(
        after.schema_version > before.schema_version,
        "moved forward"
    );
    for (table, rows) in &before.tables {
        if table == "_sqlx_migrations" {
            continue;
        }
        let now = after
            .tables
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, n)| *n);
        assert!(
            now.is_some_and(|n| n >= *rows),
            "{table}: {rows} rows before the upgrade, {now:?} after"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_from_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &newer).unwrap();
    // Marks the copy as migrated by a release this build does not know.
    let pool = sqlx::sqlite::SqlitePool::connect(&format!("sqlite://{}", newer.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (9999, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .args(["restore", "--from"])
        .arg(&newer)
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("newer than this build"), "{said}");
    assert!(
        !dir.path().join("data/readtrack.db").exists(),
        "nothing restored"
    );
}
