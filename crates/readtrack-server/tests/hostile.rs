//! Hostile bodies and frames: oversized, deeply nested, invalid UTF-8 and truncated
//! bodies against the JSON endpoints and the CSV import get a clear 4xx in the API's
//! error shape and change nothing; huge, binary and garbage WebSocket frames get an
//! error frame or a close with a reason, and the server stays healthy.

mod common;

use std::time::Duration;

use common::{TestApp, receipt};
use futures_util::{SinkExt, StreamExt};
use readtrack_server::ServerConfig;
use readtrack_service::AppConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);
/// A small JSON limit keeps the oversized bodies cheap to send.
const JSON_LIMIT: usize = 64 * 1024;
const IMPORT_LIMIT: usize = 128 * 1024;

struct World {
    app: TestApp,
    admin: String,
    dept: String,
    reader: String,
    message: String,
}

async fn world() -> World {
    let app = TestApp::spawn_with(
        ServerConfig {
            json_body_limit: JSON_LIMIT,
            import_body_limit: IMPORT_LIMIT,
            ..ServerConfig::default()
        },
        AppConfig::default(),
    )
    .await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Kowloon", Some(&org.root)).await;
    let (_, reader) = app
        .person(&org.admin, "Ada", "ada@harbour.example", &dept, true)
        .await;
    let message = app
        .send(
            &org.admin,
            json!({"title": "Typhoon signal No. 8", "priority": "urgent", "require_ack": true,
                   "audience": {"departments": [dept]}}),
        )
        .await;
    World {
        app,
        admin: org.admin,
        dept,
        reader,
        message,
    }
}

/// What the bad requests could have changed.
async fn snapshot(w: &World) -> Value {
    let (_, members) = w.app.get("/api/v1/members?limit=500", Some(&w.admin)).await;
    let (_, departments) = w.app.get("/api/v1/departments", Some(&w.admin)).await;
    let (_, sent) = w
        .app
        .get("/api/v1/messages?box=sent&limit=500", Some(&w.admin))
        .await;
    let (_, board) = w.app.board(&w.admin, &w.message, "").await;
    json!({"members": members["items"], "departments": departments["items"],
           "sent": sent["items"].as_array().map(Vec::len), "summary": board["summary"]})
}

fn nested(depth: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(depth * 2 + 20);
    v.extend(std::iter::repeat_n(b'[', depth));
    v.extend(std::iter::repeat_n(b']', depth));
    v
}

fn nested_objects(depth: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..depth {
        v.extend_from_slice(b"{\"title\":");
    }
    v.extend_from_slice(b"\"x\"");
    v.extend(std::iter::repeat_n(b'}', depth));
    v
}

#[tokio::test]
async fn hostile_json_bodies_get_a_clear_4xx_in_the_error_shape_and_change_nothing() {
    let w = world().await;
    let before = snapshot(&w).await;
    let mut invalid_utf8 = br#"{"title": "caf"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"", "audience": {"departments": ["1"]}}"#);
    let oversized = format!(
        r#"{{"title": "x", "body": "{}", "audience": {{"departments": ["{}"]}}}}"#,
        "a".repeat(JSON_LIMIT),
        w.dept
    )
    .into_bytes();
    let bodies: Vec<(&str, Vec<u8>, u16)> = vec![
        ("oversized", oversized, 413),
        ("deeply nested arrays", nested(JSON_LIMIT / 2 - 10), 400),
        ("deeply nested objects", nested_objects(2000), 400),
        ("invalid UTF-8", invalid_utf8, 400),
        (
            "truncated",
            br#"{"title": "Typhoon", "audience": {"departments": ["#.to_vec(),
            400,
        ),
        ("a lone quote", b"\"".to_vec(), 400),
        ("NUL bytes", vec![0u8; 512], 400),
        ("a number", b"1e999999".to_vec(), 400),
        (
            "a string of escapes",
            br#""\ud800\udc00\ud800""#.to_vec(),
            400,
        ),
    ];
    let endpoints: [(Method, String, &str); 7] = [
        (Method::POST, "/api/v1/messages".into(), w.admin.as_str()),
        (Method::POST, "/api/v1/receipts".into(), w.reader.as_str()),
        (Method::POST, "/api/v1/members".into(), w.admin.as_str()),
        (Method::POST, "/api/v1/departments".into(), w.admin.as_str()),
        (
            Method::PATCH,
            "/api/v1/org/settings".into(),
            w.admin.as_str(),
        ),
        (Method::POST, "/api/v1/webhooks".into(), w.admin.as_str()),
        (Method::POST, "/api/v1/auth/login".into(), ""),
    ];
    for (method, path, token) in &endpoints {
        for (what, body, expected) in &bodies {
            let token = (!token.is_empty()).then_some(*token);
            let (status, res, _) = w
                .app
                .send_raw(
                    method.clone(),
                    path,
                    token,
                    Some(body.clone()),
                    "application/json",
                )
                .await;
            assert_eq!(
                status.as_u16(),
                *expected,
                "{method} {path} with {what}: {res}"
            );
            assert!(
                res["error"]["code"].is_string() && res["error"]["message"].is_string(),
                "{method} {path} with {what}: not the API's error shape: {res}"
            );
        }
    }
    // A JSON array is not taken as the fields in order.
    for (path, body) in [
        ("/api/v1/org/settings", json!(["Europe/London"])),
        ("/api/v1/org/settings", json!([null, null])),
    ] {
        let (status, res) = w.app.patch(path, Some(&w.admin), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {res}");
    }
    // Receipts over WebSocket take the same envelope: one bad item fails alone.
    let results = w
        .app
        .receipts(
            &w.reader,
            json!([{"event_id": "x".repeat(10_000), "message_id": w.message, "kind": "read", "at": w.app.clock_now()},
                   {"event_id": "nested", "message_id": {"a": [[[[1]]]]}, "kind": "read", "at": w.app.clock_now()},
                   null, 17, [], {}]),
        )
        .await;
    assert!(
        results.iter().all(|r| r["status"] == "rejected"),
        "{results:?}"
    );
    assert_eq!(snapshot(&w).await, before, "nothing changed");
    assert_eq!(w.app.get("/healthz", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn hostile_csv_imports_get_a_clear_4xx_and_write_nothing() {
    let w = world().await;
    let before = snapshot(&w).await;
    let header = "name,email,department,manager_email,backup_email,role\n";
    let mut invalid_utf8 = header.as_bytes().to_vec();
    invalid_utf8.extend_from_slice(b"Dora \xff\xfe Ng,dora@harbour.example,Logistics,,,\n");
    let mut oversized = header.as_bytes().to_vec();
    while oversized.len() <= IMPORT_LIMIT {
        oversized.extend_from_slice(b"Someone,someone@harbour.example,Logistics,,,\n");
    }
    let deep_path = vec!["Level"; 5000].join("/");
    let bodies: Vec<(&str, Vec<u8>, u16)> = vec![
        ("oversized", oversized, 413),
        ("invalid UTF-8", invalid_utf8, 400),
        ("truncated header", b"name,email,depa".to_vec(), 400),
        (
            "a truncated row",
            format!("{header}Dora Ng,dora@harbour.ex").into_bytes(),
            400,
        ),
        (
            "a department nested 5000 deep",
            format!("{header}Dora Ng,dora@harbour.example,{deep_path},,,\n").into_bytes(),
            400,
        ),
        (
            "an unbalanced quote",
            format!("{header}\"Dora Ng,dora@harbour.example,Logistics,,,\n").into_bytes(),
            400,
        ),
        ("NUL bytes", vec![0u8; 4096], 400),
        ("empty", Vec::new(), 400),
    ];
    for dry_run in ["true", "false"] {
        for (what, body, expected) in &bodies {
            let (status, res, _) = w
                .app
                .send_raw(
                    Method::POST,
                    &format!("/api/v1/members/import?dry_run={dry_run}"),
                    Some(&w.admin),
                    Some(body.clone()),
                    "text/csv",
                )
                .await;
            assert_eq!(status.as_u16(), *expected, "import with {what}: {res}");
            let shaped = res["error"]["code"].is_string() || res["errors"][0]["line"].is_u64();
            assert!(shaped, "import with {what}: unclear answer {res}");
        }
    }
    assert_eq!(snapshot(&w).await, before, "nothing was written");
}

#[tokio::test]
async fn hostile_websocket_frames_get_an_error_or_a_close_with_a_reason_and_the_server_stays_up() {
    let w = world().await;
    let mut ws = w.app.ws(&w.reader, None).await;
    ws.until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("hello");
    let cases: Vec<(&str, Message, &str)> = vec![
        (
            "binary",
            Message::Binary(vec![0u8, 159, 146, 150].into()),
            "binary_not_supported",
        ),
        (
            "garbage",
            Message::Text("}{ not json".into()),
            "invalid_json",
        ),
        (
            "deeply nested",
            Message::Text(String::from_utf8(nested(100_000)).unwrap().into()),
            "invalid_json",
        ),
        (
            "untyped",
            Message::Text("{\"receipts\": []}".into()),
            "unknown_frame",
        ),
        (
            "unknown type",
            Message::Text("{\"type\": \"drop_tables\"}".into()),
            "unknown_frame",
        ),
        (
            "receipts not a list",
            Message::Text("{\"type\": \"receipts\", \"receipts\": 5}".into()),
            "invalid_field",
        ),
    ];
    for (what, frame, code) in cases {
        ws.stream.send(frame).await.expect("send");
        let reply = ws
            .until(WAIT, |f| f["type"] == "error")
            .await
            .unwrap_or_else(|| panic!("{what}: no error frame"));
        assert_eq!(reply["code"], code, "{what}: {reply}");
    }
    // Still a working connection: a good receipt after all that is applied.
    ws.send(json!({"type": "receipts", "receipts": [receipt("after-garbage", &w.message, "read", &w.app.clock_now())]}))
        .await;
    let result = ws
        .until(WAIT, |f| f["type"] == "receipts.result")
        .await
        .expect("result");
    assert_eq!(result["results"][0]["status"], "applied", "{result}");

    // A frame over the size limit ends the connection, with a close frame saying why.
    let huge = format!(
        "{{\"type\": \"receipts\", \"receipts\": [\"{}\"]}}",
        "x".repeat(readtrack_server::api::stream::MAX_CLIENT_FRAME + 1)
    );
    let _ = ws.stream.send(Message::Text(huge.into())).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let closed = loop {
        match tokio::time::timeout_at(deadline, ws.stream.next()).await {
            Err(_) => panic!("the connection stayed open after a frame over the limit"),
            Ok(None) | Ok(Some(Err(_))) => break None,
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
        }
    };
    if let Some(frame) = closed {
        assert_eq!(u16::from(frame.code), 1009, "message too big: {frame:?}");
    }

    // The server is healthy and takes new connections.
    assert_eq!(w.app.get("/healthz", None).await.0, StatusCode::OK);
    let mut again = w.app.ws(&w.reader, None).await;
    again
        .until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("a new connection works");
}
