//! Credentials on every way in, tried as an attacker would: a revoked credential ends the
//! streams it opened (sign-out, a deleted token, deactivation, a new role, and a
//! revocation made on another node), a relay token cannot read the stream, and a stream
//! authenticated by the session cookie must come from this server's own pages.

mod common;

use std::time::Duration;

use common::{TestApp, receipt};
use futures_util::StreamExt;
use readtrack_domain::ids::TokenId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a test waits for a revoked stream to close. The promise is one second; the
/// margin keeps a busy machine from failing a correct server.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(5);

struct Team {
    app: TestApp,
    admin: String,
    ada: (String, String),
}

async fn team() -> Team {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Mong Kok", None).await;
    let ada = app
        .person(&org.admin, "Ada", "ada@hl.example", &dept, true)
        .await;
    Team {
        app,
        admin: org.admin,
        ada,
    }
}

/// An open stream, past its `hello`.
async fn open(app: &TestApp, token: &str) -> common::Ws {
    let mut ws = app.ws(token, None).await;
    ws.until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("hello");
    ws
}

/// The close code the server ends `ws` with, within `timeout` (None: still open).
async fn close_code(ws: &mut common::Ws, timeout: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.stream.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return Some(1006),
        }
    }
}

/// An API token for `member`, as (id, secret).
async fn api_token(app: &TestApp, admin: &str, member: &str, scope: &str) -> (String, String) {
    let (status, body) = app
        .post(
            "/api/v1/tokens",
            Some(admin),
            json!({"name": "integration", "member_id": member, "scope": scope}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn signing_out_ends_that_sessions_open_stream_and_only_that_one() {
    let t = team().await;
    let other_session = t.app.login("ada@hl.example", "password123").await;
    let mut signed_out = open(&t.app, &t.ada.1).await;
    let mut still_in = open(&t.app, &other_session).await;
    let (status, _) = t
        .app
        .post("/api/v1/auth/logout", Some(&t.ada.1), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(close_code(&mut signed_out, CLOSE_WAIT).await, Some(1008));
    assert_eq!(
        close_code(&mut still_in, Duration::from_millis(1500)).await,
        None,
        "the other session's stream stays open"
    );
}

#[tokio::test]
async fn deleting_a_token_deactivating_a_member_or_changing_a_role_ends_their_streams() {
    let t = team().await;
    let (token_id, token) = api_token(&t.app, &t.admin, &t.ada.0, "member").await;
    let mut ws = open(&t.app, &token).await;
    let (status, _) = t
        .app
        .delete(&format!("/api/v1/tokens/{token_id}"), Some(&t.admin))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(close_code(&mut ws, CLOSE_WAIT).await, Some(1008), "deleted");

    let mut ws = open(&t.app, &t.ada.1).await;
    let (status, body) = t
        .app
        .patch(
            &format!("/api/v1/members/{}", t.ada.0),
            Some(&t.admin),
            json!({"role": "auditor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        close_code(&mut ws, CLOSE_WAIT).await,
        Some(1008),
        "new role"
    );

    let fresh = t.app.login("ada@hl.example", "password123").await;
    let mut ws = open(&t.app, &fresh).await;
    let (status, body) = t
        .app
        .patch(
            &format!("/api/v1/members/{}", t.ada.0),
            Some(&t.admin),
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        close_code(&mut ws, CLOSE_WAIT).await,
        Some(1008),
        "deactivated"
    );
}

#[tokio::test]
async fn a_credential_revoked_on_another_node_ends_the_stream_here_within_a_second() {
    let t = team().await;
    let (token_id, token) = api_token(&t.app, &t.admin, &t.ada.0, "member").await;
    let mut ws = open(&t.app, &token).await;
    // Another node deletes the token: this node's service and caches never hear of it.
    let caller = t.app.service.authenticate(&token).await.unwrap();
    let id = TokenId::parse("id", &token_id).unwrap();
    assert!(
        t.app
            .service
            .storage()
            .delete_token(caller.org_id(), id)
            .await
            .unwrap()
    );
    let started = tokio::time::Instant::now();
    assert_eq!(close_code(&mut ws, CLOSE_WAIT).await, Some(1008));
    // One check a second; the margin allows for a slow machine, not for a slow check.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_revoked_stream_accepts_no_more_receipts() {
    let t = team().await;
    let msg = t
        .app
        .send(
            &t.admin,
            json!({"title": "Typhoon", "priority": "urgent", "audience": {"members": [t.ada.0]}}),
        )
        .await;
    let mut ws = open(&t.app, &t.ada.1).await;
    let (status, _) = t
        .app
        .post("/api/v1/auth/logout", Some(&t.ada.1), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(close_code(&mut ws, CLOSE_WAIT).await, Some(1008));
    // Whatever the client still writes goes nowhere: the socket is closed.
    let late =
        json!({"type": "receipts", "receipts": [receipt("late", &msg, "read", &common::now())]});
    let _ =
        futures_util::SinkExt::send(&mut ws.stream, Message::Text(late.to_string().into())).await;
    let (_, board) = t
        .app
        .get(&format!("/api/v1/messages/{msg}/receipts"), Some(&t.admin))
        .await;
    assert_eq!(board["summary"]["read"], 0, "{board}");
}

#[tokio::test]
async fn a_relay_token_cannot_open_the_stream() {
    let t = team().await;
    let (_, relay) = api_token(&t.app, &t.admin, &t.ada.0, "relay").await;
    let url = format!("ws://{}/api/v1/stream?since=0&token={relay}", t.app.addr);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            let body: Value =
                serde_json::from_slice(res.body().as_deref().unwrap_or(b"{}")).unwrap();
            assert_eq!(body["error"]["code"], "relay_token", "{body}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a relay token opened the stream"),
    }
}

/// Opens the stream with the session cookie, an `Origin` and an optional `?csrf=`.
async fn cookie_stream(
    app: &TestApp,
    session: &str,
    origin: &str,
    csrf: Option<&str>,
) -> Result<common::Ws, StatusCode> {
    let query = csrf.map(|c| format!("?csrf={c}")).unwrap_or_default();
    let mut req = format!("ws://{}/api/v1/stream{query}", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "cookie",
        format!("{}={session}", readtrack_server::SESSION_COOKIE)
            .parse()
            .unwrap(),
    );
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((stream, _)) => Ok(common::Ws { stream }),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn a_cookie_stream_needs_this_servers_origin_and_the_pages_csrf_token() {
    let t = team().await;
    let session = &t.ada.1;
    let csrf = readtrack_server::extract::csrf_token(session);
    let own = format!("http://{}", t.app.addr);
    let evil = "https://evil.example";
    assert_eq!(
        cookie_stream(&t.app, session, evil, Some(&csrf))
            .await
            .err(),
        Some(StatusCode::FORBIDDEN),
        "another site, even with a stolen CSRF token"
    );
    assert_eq!(
        cookie_stream(&t.app, session, &own, None).await.err(),
        Some(StatusCode::FORBIDDEN),
        "this origin without the page's CSRF token"
    );
    assert_eq!(
        cookie_stream(&t.app, session, &own, Some("not-the-token"))
            .await
            .err(),
        Some(StatusCode::FORBIDDEN),
        "a wrong CSRF token"
    );
    let mut ws = cookie_stream(&t.app, session, &own, Some(&csrf))
        .await
        .expect("this server's page opens the stream");
    ws.until(WAIT, |f| f["type"] == "hello")
        .await
        .expect("hello");
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_every_other_session() {
    let t = team().await;
    let other_session = t.app.login("ada@hl.example", "password123").await;
    let (_, api) = api_token(&t.app, &t.admin, &t.ada.0, "member").await;
    let mut other_stream = open(&t.app, &other_session).await;
    // Ada changes her password on her first session.
    let change = |current: &'static str, new: &'static str| {
        t.app.post(
            "/api/v1/me/password",
            Some(&t.ada.1),
            json!({"current_password": current, "new_password": new}),
        )
    };
    let (status, body) = change("guess", "a-new-secret").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = change("password123", "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("new_password"), "{body}");
    let (status, body) = change("password123", "a-new-secret").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The other session and its stream end; this one and the admin's API token stay.
    assert_eq!(close_code(&mut other_stream, CLOSE_WAIT).await, Some(1008));
    let (status, _) = t.app.get("/api/v1/me", Some(&other_session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (token, what) in [(&t.ada.1, "this session"), (&api, "an API token")] {
        let (status, _) = t.app.get("/api/v1/me", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{what} keeps working");
    }
    let (status, _) = t
        .app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ada@hl.example", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    t.app.login("ada@hl.example", "a-new-secret").await;

    // Guessing the current password counts against the account's sign-in limit.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        (last, _) = change("guess", "another-secret").await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
