//! The HTTP API end to end: a real server on a random port with its own data directory.

mod common;

use std::time::Duration;

use common::{TestApp, now, now_ts, receipt};
use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An org with two departments (Retail > Kowloon) and three people who acknowledged the
/// policy: a sender in Retail, two readers in Kowloon.
struct World {
    app: TestApp,
    admin: String,
    retail: String,
    kowloon: String,
    sender: String,
    sender_id: String,
    ada: (String, String),
    ben: (String, String),
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let retail = app.department(&org.admin, "Retail", Some(&org.root)).await;
    let kowloon = app.department(&org.admin, "Kowloon", Some(&retail)).await;
    let (sender_id, sender) = app
        .person(
            &org.admin,
            "Grace Wong",
            "grace@harbour.example",
            &retail,
            true,
        )
        .await;
    let ada = app
        .person(
            &org.admin,
            "Ada Chan",
            "ada@harbour.example",
            &kowloon,
            true,
        )
        .await;
    let ben = app
        .person(&org.admin, "Ben Lee", "ben@harbour.example", &kowloon, true)
        .await;
    World {
        app,
        admin: org.admin,
        retail,
        kowloon,
        sender,
        sender_id,
        ada,
        ben,
    }
}

fn urgent_to(departments: &[&str]) -> Value {
    json!({"title": "Typhoon signal No. 8", "body": "Stores close at 15:00.", "priority": "urgent",
           "tracking": "per_person", "require_ack": true, "audience": {"departments": departments}})
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_walkthrough_fills_the_board_person_by_person() {
    let w = world().await;
    let (status, sent) = w
        .app
        .post("/api/v1/messages", Some(&w.sender), urgent_to(&[&w.retail]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(
        sent["recipient_count"], 2,
        "the sender is not a recipient; Kowloon is inside Retail"
    );
    let id = sent["id"].as_str().unwrap();

    let (_, inbox) = w
        .app
        .get("/api/v1/messages?box=inbox", Some(&w.ada.1))
        .await;
    assert_eq!(inbox["items"][0]["id"], id);
    assert_eq!(inbox["items"][0]["my_state"], "sent");

    let read_at = now();
    let results = w
        .app
        .receipts(&w.ada.1, json!([receipt("e1", id, "read", &read_at)]))
        .await;
    assert_eq!(results[0]["status"], "applied");

    let (status, board) = w.app.board(&w.sender, id, "").await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(board["summary"]["recipients"], 2);
    assert_eq!(board["summary"]["read"], 1);
    assert_eq!(board["summary"]["delivered"], 1, "read implies delivered");
    assert_eq!(board["summary"]["unread"], 1);
    assert_eq!(board["summary"]["hidden"], 0);
    let items = board["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let ada = items
        .iter()
        .find(|i| i["member_id"] == w.ada.0.as_str())
        .unwrap();
    assert_eq!(ada["state"], "read");
    assert_eq!(
        ada["read_at"]
            .as_str()
            .map(|t| t.parse::<jiff::Timestamp>().unwrap().as_millisecond()),
        Some(read_at.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    );
    let kowloon_line = board["by_department"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department_id"] == w.kowloon.as_str())
        .unwrap();
    assert_eq!(kowloon_line["recipients"], 2);
    assert_eq!(kowloon_line["read"], 1);

    let (_, unread) = w.app.board(&w.sender, id, "?state=unread").await;
    let unread: Vec<&Value> = unread["items"].as_array().unwrap().iter().collect();
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0]["member_id"], w.ben.0.as_str());

    let (_, detail) = w
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&w.ada.1))
        .await;
    assert_eq!(detail["my_state"], "read");
    assert_eq!(detail["body"], "Stores close at 15:00.");
}

#[tokio::test]
async fn receipts_are_idempotent_forward_only_and_keep_the_earliest_time() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let t0 = now_ts();
    let early = (t0 + jiff::SignedDuration::from_secs(1)).to_string();
    let late = (t0 + jiff::SignedDuration::from_secs(30)).to_string();
    let r = w
        .app
        .receipts(
            &w.ada.1,
            json!([
                receipt("a", &id, "ack", &late),
                receipt("a", &id, "ack", &late),
                receipt("b", &id, "delivered", &late)
            ]),
        )
        .await;
    assert_eq!(r[0]["status"], "applied");
    assert_eq!(
        r[1]["status"], "duplicate",
        "the same event id twice in one batch"
    );
    assert_eq!(
        r[2]["status"], "applied",
        "a later delivered is accepted but moves nothing back"
    );
    let r = w
        .app
        .receipts(&w.ada.1, json!([receipt("a", &id, "ack", &late)]))
        .await;
    assert_eq!(r[0]["status"], "duplicate", "a replay in a later batch");
    let r = w
        .app
        .receipts(&w.ada.1, json!([receipt("c", &id, "read", &early)]))
        .await;
    assert_eq!(r[0]["status"], "applied");

    let (_, board) = w.app.board(&w.sender, &id, "").await;
    assert_eq!(board["summary"]["acknowledged"], 1);
    assert_eq!(board["summary"]["read"], 1, "counted once");
    let ada = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["member_id"] == w.ada.0.as_str())
        .unwrap()
        .clone();
    assert_eq!(ada["state"], "acknowledged");
    let ms = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    assert_eq!(
        ms(&ada["read_at"]),
        early.parse::<jiff::Timestamp>().unwrap().as_millisecond(),
        "the earliest read wins"
    );
    assert_eq!(ms(&ada["delivered_at"]), ms(&ada["read_at"]));
    assert_eq!(
        ms(&ada["acked_at"]),
        late.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    );
}

#[tokio::test]
async fn a_meeting_invitation_tallies_the_chosen_responses() {
    let w = world().await;
    let id = w
        .app
        .send(
            &w.sender,
            json!({"title": "Town hall", "priority": "important", "response_options": ["Attending", "Not attending"],
                   "audience": {"departments": [w.kowloon]}}),
        )
        .await;
    let r = w
        .app
        .receipts(&w.ada.1, json!([receipt("x", &id, "ack", &now())]))
        .await;
    assert_eq!(r[0]["status"], "rejected");
    assert_eq!(r[0]["error"]["code"], "response_required");
    let r = w
        .app
        .receipts(&w.ada.1, json!([{"event_id": "y", "message_id": id, "kind": "ack", "at": now(), "response": "Maybe"}]))
        .await;
    assert_eq!(r[0]["error"]["code"], "invalid_response");
    w.app
        .receipts(&w.ada.1, json!([{"event_id": "z", "message_id": id, "kind": "ack", "at": now(), "response": "Attending"}]))
        .await;
    w.app
        .receipts(&w.ben.1, json!([{"event_id": "z", "message_id": id, "kind": "ack", "at": now(), "response": "not attending"}]))
        .await;
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    assert_eq!(
        board["summary"]["responses"],
        json!({"Attending": 1, "Not attending": 1})
    );
    let ben = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["member_id"] == w.ben.0.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ben["response"], "Not attending",
        "stored as the sender spelled it"
    );
    let (_, detail) = w
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&w.ada.1))
        .await;
    assert_eq!(detail["my_response"], "Attending");
}

#[tokio::test]
async fn a_person_reached_twice_is_one_recipient_and_only_their_sender_sees_the_board() {
    let w = world().await;
    let (status, sent) = w
        .app
        .post(
            "/api/v1/messages",
            Some(&w.sender),
            json!({"title": "Stocktake", "priority": "important", "audience": {"departments": [w.kowloon, w.retail], "members": [w.ada.0, w.sender_id]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(sent["recipient_count"], 2);
    let id = sent["id"].as_str().unwrap();
    let (status, body) = w.app.board(&w.ada.1, id, "").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a recipient may not see who else read it"
    );
    assert_eq!(error_code(&body), "forbidden");
    let (status, _) = w.app.board(&w.admin, id, "").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "admins reach it through the audited view"
    );
    let (status, _) = w
        .app
        .get(&format!("/api/v1/messages/{id}"), Some(&w.admin))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the body is for its sender and recipients"
    );
}

#[tokio::test]
async fn aggregate_and_untracked_notices_show_no_person() {
    let w = world().await;
    let agg = w
        .app
        .send(&w.sender, json!({"title": "Canteen menu", "priority": "normal", "audience": {"departments": [w.kowloon]}}))
        .await;
    w.app
        .receipts(&w.ada.1, json!([receipt("r", &agg, "read", &now())]))
        .await;
    let (status, board) = w.app.board(&w.sender, &agg, "").await;
    assert_eq!(status, StatusCode::OK);
    // Two people, both counted only: too few for a count that says anything about them.
    assert_eq!(board["summary"]["read"], 0, "{board}");
    assert_eq!(board["summary"]["hidden"], 2);
    assert_eq!(board["summary"]["hidden_not_counted"], true);
    assert_eq!(board["items"], json!([]));

    let off = w
        .app
        .send(
            &w.sender,
            json!({"title": "FYI", "tracking": "off", "audience": {"departments": [w.kowloon]}}),
        )
        .await;
    let r = w
        .app
        .receipts(&w.ada.1, json!([receipt("r2", &off, "read", &now())]))
        .await;
    assert_eq!(r[0]["status"], "applied");
    let (status, _) = w.app.board(&w.sender, &off, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, detail) = w
        .app
        .get(&format!("/api/v1/messages/{off}"), Some(&w.ada.1))
        .await;
    assert_eq!(
        detail["my_state"], "read",
        "the reader's own unread marker still works"
    );
}

#[tokio::test]
async fn a_member_who_has_not_acknowledged_the_policy_is_counted_but_never_listed() {
    let w = world().await;
    let (carl_id, carl) = w
        .app
        .person(
            &w.admin,
            "Carl Ho",
            "carl@harbour.example",
            &w.kowloon,
            false,
        )
        .await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    w.app
        .receipts(&carl, json!([receipt("c", &id, "read", &now())]))
        .await;
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    // Carl is the only hidden recipient: counting his read would show it as the totals
    // minus the rows, so the totals count the people shown only, and say so.
    assert_eq!(board["summary"]["read"], 0, "{board}");
    assert_eq!(board["summary"]["hidden"], 1);
    assert_eq!(board["summary"]["hidden_not_counted"], true);
    assert!(
        board["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["member_id"] != carl_id.as_str())
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_naming_the_field_and_changes_nothing() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let t = Some(w.sender.as_str());
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"body": "no title", "audience": {"departments": [w.kowloon]}}),
            "title",
        ),
        (
            json!({"title": 5, "audience": {"departments": [w.kowloon]}}),
            "title",
        ),
        (
            json!({"title": "x", "priority": "critical", "audience": {"departments": [w.kowloon]}}),
            "priority",
        ),
        (
            json!({"title": "x", "tracking": "everything", "audience": {"departments": [w.kowloon]}}),
            "tracking",
        ),
        (json!({"title": "x", "audience": {}}), "audience"),
        (json!({"title": "x"}), "audience"),
        (
            json!({"title": "x", "audience": {"departments": ["999"]}}),
            "audience.departments[0]",
        ),
        (
            json!({"title": "x", "audience": {"members": ["abc"]}}),
            "audience.members[0]",
        ),
        (
            json!({"title": "x", "require_ack": "yes", "audience": {"departments": [w.kowloon]}}),
            "require_ack",
        ),
        (
            json!({"title": "x", "priority": "normal", "tracking": "per_person", "audience": {"departments": [w.kowloon]}}),
            "tracking",
        ),
        (
            json!({"title": "x", "deadline": "soon", "audience": {"departments": [w.kowloon]}}),
            "deadline",
        ),
        (
            json!({"title": "x", "reminders": {"remind_after_minutes": -5}, "audience": {"departments": [w.kowloon]}}),
            "reminders.remind_after_minutes",
        ),
    ];
    for (body, field) in cases {
        let (status, res) = w.app.post("/api/v1/messages", t, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {res}");
        assert!(
            error_message(&res).contains(field),
            "{body}: message {:?} should name {field}",
            error_message(&res)
        );
    }
    // Malformed JSON and non-objects.
    for raw in [
        &b"{not json"[..],
        b"[]",
        b"",
        b"\"text\"",
        b"{\"title\": \"x\", \"audience\": {\"departments\": [1]}}",
    ] {
        let (status, res, _) = w
            .app
            .send_raw(
                reqwest::Method::POST,
                "/api/v1/messages",
                t,
                Some(raw.to_vec()),
                "application/json",
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw:?} -> {res}");
        assert!(res["error"]["code"].is_string());
    }
    // Unknown time zone at setup (already set up, so first check it is 409, then a fresh server).
    let (status, _) = w
        .app
        .post("/api/v1/setup", None, json!({"org_name": "X", "time_zone": "Asia/Hong_Kong", "admin": {"name": "A", "email": "a@x.hk", "password": "longenough"}}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Receipts: 1001 items, future times, before the notice, someone else's notice.
    let many: Vec<Value> = (0..1001)
        .map(|i| receipt(&format!("m{i}"), &id, "read", &now()))
        .collect();
    let (status, res) = w
        .app
        .post(
            "/api/v1/receipts",
            Some(&w.ada.1),
            json!({"receipts": many}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&res).contains("receipts"));
    let future = (now_ts() + jiff::SignedDuration::from_mins(10)).to_string();
    let before = (now_ts() - jiff::SignedDuration::from_hours(2)).to_string();
    let (_, others) = w.app.post("/api/v1/messages", Some(&w.sender), json!({"title": "Retail only", "priority": "urgent", "audience": {"members": [w.sender_id]}})).await;
    assert_eq!(error_code(&others), "empty_audience", "{others}");
    let other_id = w.app.send(&w.ada.1, json!({"title": "Ada to Ben", "priority": "urgent", "audience": {"members": [w.ben.0]}})).await;
    let results = w
        .app
        .receipts(
            &w.ada.1,
            json!([
                receipt("f1", &id, "read", &future),
                receipt("f2", &id, "read", &before),
                receipt("f3", &other_id, "read", &now()),
                receipt("f4", &id, "opened", &now()),
                {"event_id": "f5", "message_id": id, "kind": "read", "at": 12},
                "not an object",
                receipt("f6", "999999", "read", &now()),
                receipt("ok", &id, "delivered", &now()),
            ]),
        )
        .await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        vec![
            "time_in_future",
            "before_message",
            "not_recipient",
            "invalid_kind",
            "invalid_field",
            "invalid_field",
            "not_recipient",
            "-"
        ]
    );
    assert_eq!(results[7]["status"], "applied", "a bad item fails alone");
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    assert_eq!(
        board["summary"]["read"], 0,
        "no rejected item changed anything"
    );
    assert_eq!(board["summary"]["delivered"], 1);
    let (_, other_board) = w.app.board(&w.ada.1, &other_id, "").await;
    assert_eq!(other_board["summary"]["read"], 0);

    // Bodies over the limit.
    let huge = format!(
        "{{\"title\": \"x\", \"body\": \"{}\"}}",
        "a".repeat(1024 * 1024 + 10)
    );
    let (status, res, _) = w
        .app
        .send_raw(
            reqwest::Method::POST,
            "/api/v1/messages",
            t,
            Some(huge.into_bytes()),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&res), "body_too_large");

    // Directory: unknown department, duplicate email, bad time zone.
    let (status, res) = w
        .app
        .post(
            "/api/v1/members",
            Some(&w.admin),
            json!({"name": "Z", "email": "z@x.hk", "department_id": "9999"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&res).contains("department_id"));
    let (status, _) = w
        .app
        .post(
            "/api/v1/members",
            Some(&w.admin),
            json!({"name": "Dup", "email": "ADA@harbour.example", "department_id": w.kowloon}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, res) = w.app.post("/api/v1/members", Some(&w.admin), json!({"name": "Tz", "email": "tz@x.hk", "department_id": w.kowloon, "time_zone": "Mars/Base"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&res), "unknown_time_zone");
    let (status, _) = w
        .app
        .post(
            "/api/v1/members",
            Some(&w.ada.1),
            json!({"name": "X", "email": "x@x.hk", "department_id": w.kowloon}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = w.app.get("/api/v1/members?limit=500", Some(&w.admin)).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        4,
        "nothing was created by the bad requests"
    );
}

#[tokio::test]
async fn setup_refuses_an_unknown_time_zone_and_a_short_password() {
    let app = TestApp::spawn().await;
    let code = app.service.setup_code().to_string();
    let (status, res) = app
        .post("/api/v1/setup", None, json!({"org_name": "X", "time_zone": "Europe/Atlantis", "setup_code": code, "admin": {"name": "A", "email": "a@x.hk", "password": "longenough"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&res).contains("time_zone"));
    let (status, res) = app
        .post("/api/v1/setup", None, json!({"org_name": "X", "time_zone": "Asia/Hong_Kong", "setup_code": code, "admin": {"name": "A", "email": "a@x.hk", "password": "short"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&res).contains("admin.password"));
    let (status, res) = app
        .post("/api/v1/setup", None, json!({"org_name": "X"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "a@x.hk", "password": "longenough"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nothing was created");
}

#[tokio::test]
async fn setup_needs_the_one_time_code_so_the_first_visitor_cannot_claim_the_server() {
    let app = TestApp::spawn().await;
    let code = app.service.setup_code().to_string();
    assert_eq!(code.len(), 14, "three groups of four: {code}");
    let body = |code: Option<&str>| {
        let mut b = json!({"org_name": "Harbour Line", "time_zone": "Asia/Hong_Kong",
                           "admin": {"name": "Ivy", "email": "ivy@x.hk", "password": "longenough"}});
        if let Some(code) = code {
            b["setup_code"] = json!(code);
        }
        b
    };
    let wrong = if code.starts_with('2') { "3" } else { "2" }.to_string() + &code[1..];
    for (given, why) in [
        (None, "no code"),
        (Some(""), "an empty code"),
        (Some(wrong.as_str()), "one symbol wrong"),
        (Some(&code[..10]), "a prefix"),
    ] {
        let (status, res) = app.post("/api/v1/setup", None, body(given)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {res}");
        assert_eq!(res["error"]["code"], "forbidden", "{res}");
        assert!(error_message(&res).contains("setup code"), "{res}");
    }
    // Retyped by hand: lower case, spaces for dashes.
    let retyped = code.to_lowercase().replace('-', " ");
    let (status, res) = app.post("/api/v1/setup", None, body(Some(&retyped))).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (status, _) = app.post("/api/v1/setup", None, body(Some(&code))).await;
    assert_eq!(status, StatusCode::CONFLICT, "once only");
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let w = world().await;
    for token in [None, Some("rt_not-a-real-token"), Some("garbage")] {
        let (status, res) = w.app.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&res), "unauthenticated");
    }
    let (status, _) = w
        .app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ada@harbour.example", "password": "wrong password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, token) = w
        .app
        .post(
            "/api/v1/tokens",
            Some(&w.admin),
            json!({"name": "hr-system", "member_id": w.sender_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let api = token["token"].as_str().unwrap();
    let (status, me) = w.app.get("/api/v1/me", Some(api)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], w.sender_id.as_str());
    let (status, _) = w
        .app
        .delete(
            &format!("/api/v1/tokens/{}", token["id"].as_str().unwrap()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.app.get("/api/v1/me", Some(api)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working at once"
    );
    let (status, res) = w.app.get("/api/v1/nowhere", Some(&w.admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&res), "not_found");
}

#[tokio::test]
async fn an_import_reviews_what_changes_for_whom_and_keeps_phones_and_provider_ids() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let post_csv = |csv: &'static str, query: &'static str| {
        let app = &app;
        let admin = org.admin.clone();
        async move {
            let (status, res, _) = app
                .send_raw(
                    reqwest::Method::POST,
                    &format!("/api/v1/members/import{query}"),
                    Some(&admin),
                    Some(csv.as_bytes().to_vec()),
                    "text/csv",
                )
                .await;
            (status, res)
        }
    };
    let changes = |res: &Value| -> Vec<(u64, String, String, Vec<String>)> {
        res["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["line"].as_u64().unwrap(),
                    c["email"].as_str().unwrap().to_string(),
                    c["change"].as_str().unwrap().to_string(),
                    c["fields"]
                        .as_array()
                        .map(|f| f.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                        .unwrap_or_default(),
                )
            })
            .collect()
    };
    let first = "name,email,department,manager_email,backup_email,role,phone,external_id\n\
        Ada Chan,ada@x.example,Retail,,,,+852 9123 4567,okta-ada\n\
        Ben Ho,ben@x.example,Retail,ada@x.example,,,,okta-ben\n";
    let (status, res) = post_csv(first, "?dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        changes(&res),
        vec![
            (2, "ada@x.example".into(), "create".into(), vec![]),
            (3, "ben@x.example".into(), "create".into(), vec![]),
        ]
    );
    let (_, members) = app.get("/api/v1/members", Some(&org.admin)).await;
    assert_eq!(
        members["items"].as_array().unwrap().len(),
        1,
        "a dry run writes nothing"
    );
    let (status, res) = post_csv(first, "").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (_, members) = app.get("/api/v1/members?q=ada", Some(&org.admin)).await;
    let ada = &members["items"][0];
    assert_eq!(
        (ada["phone"].as_str(), ada["external_id"].as_str()),
        (Some("+85291234567"), Some("okta-ada")),
        "{ada}"
    );

    // Without the optional columns, phones and ids stay; the review names each change.
    let second = "name,email,department,manager_email,backup_email,role\n\
        Ada Chan,ada@x.example,Retail/Kowloon,,,\n\
        Ben Wong,ben@x.example,Retail,ada@x.example,,\n";
    let (status, res) = post_csv(second, "?dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        changes(&res),
        vec![
            (
                2,
                "ada@x.example".into(),
                "update".into(),
                vec!["department".into()]
            ),
            (
                3,
                "ben@x.example".into(),
                "update".into(),
                vec!["name".into()]
            ),
        ]
    );
    post_csv(second, "").await;
    let (_, again) = post_csv(second, "?dry_run=true").await;
    assert_eq!(changes(&again), vec![], "nothing left to change");
    let (_, members) = app.get("/api/v1/members?q=ada", Some(&org.admin)).await;
    assert_eq!(members["items"][0]["phone"], "+85291234567", "kept");

    // Another person cannot take Ada's provider id; a bad phone names its line.
    let (status, res) = post_csv(
        "name,email,department,manager_email,backup_email,role,external_id\nCy,cy@x.example,Retail,,,,okta-ada\n",
        "?dry_run=true",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    assert!(res.to_string().contains("ada@x.example"), "{res}");
    let (status, res) = post_csv(
        "name,email,department,manager_email,backup_email,role,phone\nCy,cy@x.example,Retail,,,,9123 4567\n",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["errors"][0]["line"], 2, "{res}");
    assert!(
        res["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("phone")
    );

    // Making the directory match a file: whoever it does not list is deactivated (never
    // the admin importing), reviewed first, their sessions ended, the import audited.
    let (_, dee_token) = app
        .person(&org.admin, "Dee", "dee@x.example", &org.root, true)
        .await;
    let only_ada = "name,email,department,manager_email,backup_email,role\n\
        Ada Chan,ada@x.example,Retail/Kowloon,,,\n";
    let (status, res) = post_csv(only_ada, "?dry_run=true&deactivate_missing=true").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["deactivated"], 2, "Ben and Dee: {res}");
    let leaving: Vec<String> = changes(&res)
        .into_iter()
        .filter(|c| c.2 == "deactivate")
        .map(|c| c.1)
        .collect();
    assert_eq!(leaving.len(), 2, "{res}");
    assert!(
        leaving.contains(&"dee@x.example".to_string()),
        "{leaving:?}"
    );
    let (status, _) = app.get("/api/v1/me", Some(&dee_token)).await;
    assert_eq!(status, StatusCode::OK, "a dry run deactivates nobody");
    let (status, res) = post_csv(only_ada, "?deactivate_missing=true").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = app.get("/api/v1/me", Some(&dee_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "Dee's session ended");
    let (_, me) = app.get("/api/v1/me", Some(&org.admin)).await;
    assert_eq!(me["role"], "admin", "the admin importing stays");
    let actions = app.audit_actions(&org.admin).await;
    assert!(
        actions.iter().any(|a| a == "members.imported"),
        "{actions:?}"
    );

    // Colleagues see the directory, not each other's phone numbers or provider ids.
    let (_, eve) = app
        .person(&org.admin, "Eve", "eve@x.example", &org.root, true)
        .await;
    let (_, seen) = app.get("/api/v1/members?q=ada", Some(&eve)).await;
    assert!(seen["items"][0]["name"].is_string(), "{seen}");
    assert!(
        seen["items"][0].get("phone").is_none() && seen["items"][0].get("external_id").is_none(),
        "{seen}"
    );
}

#[tokio::test]
async fn the_csv_import_creates_departments_and_reports_every_bad_line_writing_nothing() {
    let w = world().await;
    let good = "name,email,department,manager_email,backup_email,role\n\
        Dora Ng,dora@harbour.example,Logistics/Kwai Chung,,,\n\
        Eli Yip,eli@harbour.example,Logistics/Kwai Chung,dora@harbour.example,ada@harbour.example,member\n";
    let post_csv = |csv: &str, query: &str| {
        let body = csv.as_bytes().to_vec();
        let path = format!("/api/v1/members/import{query}");
        let app = &w.app;
        let admin = w.admin.clone();
        async move {
            app.send_raw(
                reqwest::Method::POST,
                &path,
                Some(&admin),
                Some(body),
                "text/csv",
            )
            .await
        }
    };
    let (status, res, _) = post_csv(good, "?dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["created"], 2);
    let (_, depts) = w.app.get("/api/v1/departments", Some(&w.admin)).await;
    assert_eq!(
        depts["items"].as_array().unwrap().len(),
        3,
        "a dry run writes nothing"
    );
    let (status, res, _) = post_csv(good, "").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        (res["created"].as_u64(), res["updated"].as_u64()),
        (Some(2), Some(0))
    );
    let (_, depts) = w.app.get("/api/v1/departments", Some(&w.admin)).await;
    assert_eq!(depts["items"].as_array().unwrap().len(), 5);
    let bad = "name,email,department,manager_email,backup_email,role\n\
        Fay Lo,fay@harbour.example,Logistics,,,\n\
        ,nobody,Logistics,,,\n\
        Gus Mak,gus@harbour.example,Logistics,ghost@harbour.example,,\n\
        Hal Tam,hal@harbour.example,Logistics,,,boss\n";
    let (status, res, _) = post_csv(bad, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let lines: Vec<u64> = res["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5]);
    let (status, _) = w
        .app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "fay@harbour.example", "password": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = w.app.get("/api/v1/members?q=fay", Some(&w.admin)).await;
    assert_eq!(
        list["items"],
        json!([]),
        "a refused file writes nothing, not even its good lines"
    );
    let (status, res, _) = post_csv("name,mail\nX,x@x.hk\n", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(res["errors"][0]["line"], 1);
}

#[tokio::test]
async fn a_restart_keeps_every_org_notice_and_receipt() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let read_at = now();
    w.app
        .receipts(&w.ada.1, json!([receipt("keep", &id, "read", &read_at)]))
        .await;
    let (data, tmp) = w.app.stop().await;
    let app = TestApp::spawn_at(&data, None).await;
    let (status, board) = app.board(&w.sender, &id, "").await;
    assert_eq!(status, StatusCode::OK, "tokens survive a restart: {board}");
    assert_eq!(board["summary"]["read"], 1);
    let r = app
        .receipts(&w.ada.1, json!([receipt("keep", &id, "read", &read_at)]))
        .await;
    assert_eq!(r[0]["status"], "duplicate", "idempotency keys survive too");
    let (status, _) = app.post("/api/v1/setup", None, json!({"org_name": "X", "time_zone": "UTC", "admin": {"name": "A", "email": "a@x.hk", "password": "longenough"}})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn the_sender_sees_a_read_on_the_websocket_within_a_second() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let mut ws = w.app.ws(&w.sender, None).await;
    let hello = ws
        .until(Duration::from_secs(5), |f| f["type"] == "hello")
        .await
        .expect("hello");
    assert!(hello["last_seq"].as_i64().unwrap() > 0);
    let started = std::time::Instant::now();
    w.app
        .receipts(&w.ada.1, json!([receipt("ws1", &id, "read", &now())]))
        .await;
    let frame = ws
        .until(Duration::from_secs(1), |f| f["type"] == "receipt.updated")
        .await
        .expect("a receipt.updated frame within a second");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(frame["message_id"], id.as_str());
    assert_eq!(frame["member_id"], w.ada.0.as_str());
    assert_eq!(frame["state"], "read");
    assert_eq!(frame["summary"]["read"], 1);
    assert!(frame["seq"].as_i64().unwrap() > hello["last_seq"].as_i64().unwrap());
}

#[tokio::test]
async fn a_reconnecting_client_gets_exactly_the_frames_it_missed() {
    let w = world().await;
    let mut ws = w.app.ws(&w.sender, None).await;
    ws.until(Duration::from_secs(5), |f| f["type"] == "hello")
        .await
        .expect("hello");
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    w.app
        .receipts(&w.ada.1, json!([receipt("s1", &id, "delivered", &now())]))
        .await;
    let first = ws
        .until(Duration::from_secs(5), |f| f["type"] == "receipt.updated")
        .await
        .unwrap();
    let seen = first["seq"].as_i64().unwrap();
    drop(ws);

    // While disconnected: three more changes to the sender's notice.
    w.app
        .receipts(&w.ada.1, json!([receipt("s2", &id, "read", &now())]))
        .await;
    w.app
        .receipts(
            &w.ben.1,
            json!([
                receipt("s3", &id, "read", &now()),
                receipt("s4", &id, "ack", &now())
            ]),
        )
        .await;

    let mut ws = w.app.ws(&w.sender, Some(seen)).await;
    let mut missed = Vec::new();
    while let Some(frame) = ws.next(Duration::from_secs(5)).await {
        if frame["type"] == "hello" {
            break;
        }
        missed.push(frame);
    }
    let seqs: Vec<i64> = missed.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(missed.len(), 3, "{missed:?}");
    assert!(seqs.windows(2).all(|p| p[0] < p[1]) && seqs[0] > seen);
    assert_eq!(missed[2]["summary"]["acknowledged"], 1);
    // And live frames continue after the replay, with nothing repeated.
    w.app
        .receipts(&w.ada.1, json!([receipt("s5", &id, "ack", &now())]))
        .await;
    let live = ws
        .until(Duration::from_secs(5), |f| f["type"] == "receipt.updated")
        .await
        .unwrap();
    assert_eq!(live["seq"].as_i64().unwrap(), seqs[2] + 1);

    // A recipient who reconnects from 0 gets the notice it missed.
    let mut reader = w.app.ws(&w.ada.1, Some(0)).await;
    let created = reader
        .until(Duration::from_secs(5), |f| f["type"] == "message.created")
        .await
        .unwrap();
    assert_eq!(created["message_id"], id.as_str());
}

#[tokio::test]
async fn receipts_sent_over_the_websocket_get_per_item_results() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let mut ws = w.app.ws(&w.ada.1, None).await;
    ws.until(Duration::from_secs(5), |f| f["type"] == "hello")
        .await
        .unwrap();
    ws.send(json!({"type": "receipts", "receipts": [receipt("w1", &id, "read", &now()), receipt("w2", &id, "nope", &now())]})).await;
    let res = ws
        .until(Duration::from_secs(5), |f| f["type"] == "receipts.result")
        .await
        .unwrap();
    assert_eq!(res["results"][0]["status"], "applied");
    assert_eq!(res["results"][1]["status"], "rejected");
    ws.send(json!({"type": "mystery"})).await;
    let err = ws
        .until(Duration::from_secs(5), |f| f["type"] == "error")
        .await
        .unwrap();
    assert_eq!(err["code"], "unknown_frame");
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![0u8, 1, 2].into(),
        ))
        .await
        .unwrap();
    let err = ws
        .until(Duration::from_secs(5), |f| f["type"] == "error")
        .await
        .unwrap();
    assert_eq!(err["code"], "binary_not_supported");
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    assert_eq!(board["summary"]["read"], 1);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.0, StatusCode::OK);
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/receipts"]["post"].is_object());
    let (status, metrics) = app.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("readtrack_http_requests_total")
    );
    let res = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_relay_token_reports_receipts_for_members_and_nothing_else() {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    let (status, relay) = w
        .app
        .post(
            "/api/v1/tokens",
            Some(&w.admin),
            json!({"name": "chat-gateway", "member_id": w.sender_id, "scope": "relay"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{relay}");
    let relay = relay["token"].as_str().unwrap().to_string();
    let items = json!([
        {"event_id": "g1", "message_id": id, "kind": "read", "at": now(), "member_id": w.ada.0},
        {"event_id": "g2", "message_id": id, "kind": "read", "at": now(), "member_id": w.ben.0},
        {"event_id": "g3", "message_id": id, "kind": "read", "at": now(), "member_id": w.sender_id},
        {"event_id": "g4", "message_id": id, "kind": "read", "at": now()},
    ]);
    let r = w.app.receipts(&relay, items).await;
    let statuses: Vec<&str> = r.iter().map(|x| x["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["applied", "applied", "rejected", "rejected"]);
    assert_eq!(
        r[2]["error"]["code"], "not_recipient",
        "the sender did not receive it"
    );
    assert_eq!(r[3]["error"]["code"], "missing_field");
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    assert_eq!(board["summary"]["read"], 2);
    let (status, res) = w.app.get("/api/v1/me", Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    // An ordinary token may not speak for someone else.
    let r = w
        .app
        .receipts(&w.ada.1, json!([{"event_id": "x", "message_id": id, "kind": "ack", "at": now(), "member_id": w.ben.0}]))
        .await;
    assert_eq!(r[0]["error"]["code"], "member_id_not_allowed");
    // Provisioning tokens in bulk.
    let (status, res) = w
        .app
        .post(
            "/api/v1/tokens/batch",
            Some(&w.admin),
            json!({"name": "kiosks", "member_ids": [w.ada.0, w.ben.0]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let ben_token = res["items"][1]["token"].as_str().unwrap();
    let (_, me) = w.app.get("/api/v1/me", Some(ben_token)).await;
    assert_eq!(me["id"], w.ben.0.as_str());
    let (status, _) = w
        .app
        .post(
            "/api/v1/tokens/batch",
            Some(&w.ada.1),
            json!({"name": "x", "member_ids": [w.ben.0]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn signing_out_revokes_the_token_at_once() {
    let w = world().await;
    let token = w.app.login("ada@harbour.example", "password123").await;
    assert_eq!(
        w.app.get("/api/v1/me", Some(&token)).await.0,
        StatusCode::OK
    );
    let (status, _) = w
        .app
        .post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.app.get("/api/v1/me", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        w.app.get("/api/v1/me", Some(&w.ada.1)).await.0,
        StatusCode::OK,
        "other sessions stay"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_account_with_the_same_cost_for_unknown_addresses() {
    let w = world().await;
    let attempt = |email: &'static str| {
        let app = &w.app;
        async move {
            let started = std::time::Instant::now();
            let (status, body, headers) = app
                .send_raw(
                    reqwest::Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(
                        json!({"email": email, "password": "not the password"})
                            .to_string()
                            .into_bytes(),
                    ),
                    "application/json",
                )
                .await;
            (status, body, headers, started.elapsed())
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        let (status, _, _, took) = attempt("ben@harbour.example").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        known.push(took);
        let (status, _, _, took) = attempt("nobody@harbour.example").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "unknown addresses get the same answer"
        );
        unknown.push(took);
    }
    // Both run the same password hash: neither is several times faster than the other.
    let (k, u) = (
        known.iter().min().unwrap().as_secs_f64(),
        unknown.iter().min().unwrap().as_secs_f64(),
    );
    assert!(
        k < u * 3.0 && u < k * 3.0,
        "known {k:.4}s vs unknown {u:.4}s"
    );
    for _ in 0..5 {
        attempt("ben@harbour.example").await;
    }
    let (status, body, headers, _) = attempt("ben@harbour.example").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Another account is not affected.
    let (status, _, _, _) = attempt("ada@harbour.example").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_since_beyond_the_sequence_gets_a_reset_frame_and_the_stream_stays_live() {
    let w = world().await;
    w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    // A client of another deployment (or of a database restored from a backup) resumes
    // from a number this server never reached: it must be told, not left silent.
    let mut ws = w.app.ws(&w.sender, Some(1_000_000)).await;
    let wait = Duration::from_secs(5);
    let reset = ws.next(wait).await.expect("a frame");
    assert_eq!(reset["type"], "reset", "{reset}");
    let head = reset["last_seq"].as_i64().unwrap();
    assert!(head < 1_000_000);
    let hello = ws
        .until(wait, |f| f["type"] == "hello")
        .await
        .expect("hello");
    assert_eq!(hello["last_seq"], head);
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    w.app
        .receipts(&w.ada.1, json!([receipt("r", &id, "read", &now())]))
        .await;
    let live = ws
        .until(wait, |f| f["type"] == "receipt.updated")
        .await
        .expect("live frames after the reset");
    assert!(live["seq"].as_i64().unwrap() > head, "{live}");
}

#[tokio::test]
async fn a_device_whose_clock_lags_a_few_minutes_has_its_read_taken_and_never_shown_before_the_send()
 {
    let w = world().await;
    let id = w.app.send(&w.sender, urgent_to(&[&w.kowloon])).await;
    // Ada's phone is two minutes behind the server (as the README's whole-second `date`
    // is, by up to a second): the read right after the send carries an earlier time.
    let lagging = (now_ts() - jiff::SignedDuration::from_mins(2)).to_string();
    let results = w
        .app
        .receipts(&w.ada.1, json!([receipt("lag", &id, "read", &lagging)]))
        .await;
    assert_eq!(results[0]["status"], "applied", "{results:?}");
    let (_, sent) = w
        .app
        .get("/api/v1/messages?box=sent", Some(&w.sender))
        .await;
    let created: jiff::Timestamp = sent["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap()["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, board) = w.app.board(&w.sender, &id, "").await;
    let row = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["member_id"] == w.ada.0.as_str())
        .unwrap()
        .clone();
    let read_at: jiff::Timestamp = row["read_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        read_at, created,
        "the board never shows a read before the send"
    );
}

/// Posts a notice with an `Idempotency-Key`; answers status, body and whether replayed.
async fn send_keyed(
    app: &TestApp,
    token: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value, bool) {
    let res = app
        .http
        .post(app.url("/api/v1/messages"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let value = res.json().await.unwrap_or(Value::Null);
    (status, value, replayed)
}

#[tokio::test]
async fn a_retried_send_with_the_same_idempotency_key_notifies_once() {
    let w = world().await;
    let body = urgent_to(&[&w.kowloon]);
    let key = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let (status, first, replayed) = send_keyed(&w.app, &w.sender, key, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    // The network dropped the answer; the client sends again with the same key.
    let (status, again, replayed) = send_keyed(&w.app, &w.sender, key, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(replayed, "the first answer, replayed");
    assert_eq!(again["id"], first["id"]);
    let (_, sent) = w
        .app
        .get("/api/v1/messages?box=sent", Some(&w.sender))
        .await;
    assert_eq!(sent["items"].as_array().unwrap().len(), 1, "notified once");
    let (_, inbox) = w
        .app
        .get("/api/v1/messages?box=inbox", Some(&w.ada.1))
        .await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);

    // The same key for another request is refused, not silently answered with the first.
    let other = json!({"title": "Another", "body": "x", "audience": {"departments": [&w.kowloon]}});
    let (status, refused, _) = send_keyed(&w.app, &w.sender, key, &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_code(&refused), "idempotency_key_reused");
    // Keys belong to a credential: another sender's request with it is its own.
    let (status, theirs, replayed) = send_keyed(&w.app, &w.admin, key, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert!(!replayed);
    assert_ne!(theirs["id"], first["id"]);
    // A malformed key is a clear 400.
    let (status, bad, _) = send_keyed(&w.app, &w.sender, "has a space", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    // Kept for a day at least: an hour later it still replays; after a day (same session,
    // which lasts 30 days) the same key is a new request.
    w.app.advance(60).await;
    let (_, _, replayed) = send_keyed(&w.app, &w.sender, key, &body).await;
    assert!(replayed, "still kept an hour later");
    w.app.advance(24 * 60).await;
    let (status, later, replayed) = send_keyed(&w.app, &w.sender, key, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert!(!replayed);
    assert_ne!(later["id"], first["id"]);
}
