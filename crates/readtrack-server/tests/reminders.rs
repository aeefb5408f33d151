//! Reminders, escalation along the org chart, tasks, working time and webhooks, driven by
//! the server's movable clock (never by sleeping).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, receipt};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

/// A small org: a manager and a backup, and Ada who reports to the manager.
struct Team {
    app: TestApp,
    admin: String,
    dept: String,
    sender: String,
    manager: (String, String),
    backup: (String, String),
    ada: (String, String),
}

async fn team() -> Team {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Mong Kok", None).await;
    let (_, sender) = app
        .person(&org.admin, "Grace", "grace@hl.example", &dept, true)
        .await;
    let manager = app
        .person(&org.admin, "Patrick", "patrick@hl.example", &dept, true)
        .await;
    let backup = app
        .person(&org.admin, "Bonnie", "bonnie@hl.example", &dept, true)
        .await;
    let ada = app
        .person_with(
            &org.admin,
            json!({"name": "Ada", "email": "ada@hl.example", "department_id": dept, "manager_id": manager.0, "backup_id": backup.0}),
            true,
        )
        .await;
    Team {
        app,
        admin: org.admin,
        dept,
        sender,
        manager,
        backup,
        ada,
    }
}

fn chain_plan(to: &str) -> Value {
    json!({"title": "Fire drill on Friday", "body": "Assemble at the car park.", "priority": "urgent",
           "audience": {"members": [to]},
           "reminders": {"remind_after_minutes": 120, "remind_every_minutes": 60, "max_reminders": 2,
                         "escalate_after_minutes": 240, "escalate_to": ["manager", "backup"], "create_task": true}})
}

async fn reminders_of(app: &TestApp, sender: &str, id: &str, member: &str) -> i64 {
    let (_, board) = app.board(sender, id, "").await;
    board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["member_id"] == member)
        .map(|i| i["reminders"].as_i64().unwrap())
        .unwrap_or(-1)
}

#[tokio::test]
async fn an_unread_notice_is_reminded_twice_then_escalated_to_manager_and_backup_with_a_task() {
    let t = team().await;
    let id = t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    let mut ada_ws = t.app.ws(&t.ada.1, None).await;
    let mut manager_ws = t.app.ws(&t.manager.1, None).await;
    let mut backup_ws = t.app.ws(&t.backup.1, None).await;
    for ws in [&mut ada_ws, &mut manager_ws, &mut backup_ws] {
        ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    }

    t.app.advance(119).await;
    assert!(
        ada_ws
            .until(Duration::from_millis(300), |f| f["type"] == "reminder")
            .await
            .is_none(),
        "not yet"
    );
    t.app.advance(1).await;
    let first = ada_ws
        .until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("first reminder");
    assert_eq!(
        (first["count"].as_i64(), first["message_id"].as_str()),
        (Some(1), Some(id.as_str()))
    );
    assert_eq!(
        reminders_of(&t.app, &t.sender, &id, &t.ada.0).await,
        1,
        "counted on the sender's board"
    );
    let (_, inbox) = t.app.get("/api/v1/messages", Some(&t.ada.1)).await;
    assert_eq!(inbox["items"][0]["my_reminders"], 1, "shown in the inbox");

    t.app.advance(60).await;
    let second = ada_ws
        .until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("second reminder");
    assert_eq!(second["count"], 2);

    t.app.advance(60).await;
    let to_manager = manager_ws
        .until(WAIT, |f| f["type"] == "escalation")
        .await
        .expect("manager told");
    assert_eq!(
        (
            to_manager["recipient_id"].as_str(),
            to_manager["role"].as_str()
        ),
        (Some(t.ada.0.as_str()), Some("manager"))
    );
    let to_backup = backup_ws
        .until(WAIT, |f| f["type"] == "escalation")
        .await
        .expect("backup told");
    assert_eq!(to_backup["role"], "backup");
    let task = ada_ws
        .until(WAIT, |f| f["type"] == "task.created")
        .await
        .expect("task created");
    let (_, tasks) = t.app.get("/api/v1/tasks", Some(&t.ada.1)).await;
    assert_eq!(tasks["items"][0]["id"], task["task_id"]);
    assert_eq!(tasks["items"][0]["done_at"], Value::Null);
    let (_, team) = t.app.get("/api/v1/team/unread", Some(&t.manager.1)).await;
    assert_eq!(team["items"][0]["member_id"], t.ada.0.as_str());
    assert_eq!(team["items"][0]["state"], "sent");

    // Nothing more is planned, and reading closes the task by itself.
    t.app.advance(600).await;
    assert!(
        ada_ws
            .until(Duration::from_millis(300), |f| f["type"] == "reminder")
            .await
            .is_none()
    );
    t.app
        .receipts(
            &t.ada.1,
            json!([receipt("r", &id, "ack", &t.app.clock_now())]),
        )
        .await;
    let (_, tasks) = t.app.get("/api/v1/tasks", Some(&t.ada.1)).await;
    assert!(tasks["items"][0]["done_at"].is_string(), "{tasks}");
    assert_eq!(tasks["items"][0]["done_by"], "acknowledged");
    let (_, team) = t.app.get("/api/v1/team/unread", Some(&t.manager.1)).await;
    assert_eq!(team["items"][0]["state"], "acknowledged");
    let _ = (&t.admin, &t.dept);
}

#[tokio::test]
async fn a_recipient_who_reads_between_two_steps_gets_nothing_more() {
    let t = team().await;
    let mut plan = chain_plan(&t.ada.0);
    plan["require_ack"] = json!(false);
    let id = t.app.send(&t.sender, plan).await;
    let mut ws = t.app.ws(&t.ada.1, None).await;
    ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    t.app.advance(120).await;
    ws.until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("first reminder");
    t.app
        .receipts(
            &t.ada.1,
            json!([receipt("read", &id, "read", &t.app.clock_now())]),
        )
        .await;
    t.app.advance(24 * 60).await;
    let more = ws
        .until(Duration::from_millis(500), |f| f["type"] != "hello")
        .await;
    assert!(
        more.is_none(),
        "no reminder, escalation or task after the read: {more:?}"
    );
    assert_eq!(reminders_of(&t.app, &t.sender, &id, &t.ada.0).await, 1);
    let (_, tasks) = t.app.get("/api/v1/tasks", Some(&t.ada.1)).await;
    assert_eq!(tasks["items"], json!([]));
}

#[tokio::test]
async fn a_notice_sent_at_nine_in_the_evening_stays_quiet_until_working_time_next_morning() {
    let t = team().await;
    // Tuesday 21:00 in Hong Kong.
    t.app.set_clock("2026-12-01T13:00:00Z").await;
    let (status, sent) = t
        .app
        .post("/api/v1/messages", Some(&t.sender), chain_plan(&t.ada.0))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(sent["async"], true);
    let id = sent["id"].as_str().unwrap();
    let mut ws = t.app.ws(&t.ada.1, None).await;
    ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    // Through the night to Wednesday 10:59: the reminder clock started at 09:00.
    t.app.set_clock("2026-12-02T02:59:00Z").await;
    assert!(
        ws.until(Duration::from_millis(400), |f| f["type"] == "reminder")
            .await
            .is_none(),
        "nothing in the night"
    );
    assert_eq!(reminders_of(&t.app, &t.sender, id, &t.ada.0).await, 0);
    t.app.set_clock("2026-12-02T03:00:30Z").await;
    let r = ws
        .until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("reminded at 11:00");
    assert_eq!(r["count"], 1);
}

#[tokio::test]
async fn a_reminder_due_over_the_weekend_waits_for_monday() {
    let t = team().await;
    // Friday 17:00 in Hong Kong: one working hour left, the other on Monday 09:00–10:00.
    t.app.set_clock("2026-12-04T09:00:00Z").await;
    let id = t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    let mut ws = t.app.ws(&t.ada.1, None).await;
    ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    for saturday_noon_to_monday in [
        "2026-12-05T04:00:00Z",
        "2026-12-06T04:00:00Z",
        "2026-12-07T01:59:00Z",
    ] {
        t.app.set_clock(saturday_noon_to_monday).await;
        assert!(
            ws.until(Duration::from_millis(300), |f| f["type"] == "reminder")
                .await
                .is_none(),
            "{saturday_noon_to_monday}"
        );
    }
    t.app.set_clock("2026-12-07T02:00:30Z").await;
    ws.until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("Monday 10:00");
    assert_eq!(reminders_of(&t.app, &t.sender, &id, &t.ada.0).await, 1);
}

#[tokio::test]
async fn a_wait_for_working_time_is_worked_out_again_when_the_clock_is_set_back() {
    let t = team().await;
    // Sent Tuesday 10:00 in Hong Kong: the first reminder is planned for 12:00.
    let id = t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    let storage = t.app.service.storage().clone();
    let planned = storage
        .next_due_at()
        .await
        .unwrap()
        .expect("the first reminder");
    // The clock jumps to 22:00, in quiet hours: the overdue step waits for Wednesday 09:00.
    t.app.set_clock("2026-12-01T14:00:00Z").await;
    t.app
        .eventually("the step waits for Wednesday", WAIT, || {
            let storage = storage.clone();
            async move {
                let next = storage.next_due_at().await.unwrap()?;
                (next > planned).then_some(())
            }
        })
        .await;
    // Set back to 11:59 the same day, the wait must not outlive the move.
    t.app.set_clock("2026-12-01T03:59:00Z").await;
    t.app
        .eventually("the step is back at 12:00", WAIT, || {
            let storage = storage.clone();
            async move { (storage.next_due_at().await.unwrap()? == planned).then_some(()) }
        })
        .await;
    let mut ws = t.app.ws(&t.ada.1, None).await;
    ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    t.app.set_clock("2026-12-01T04:00:30Z").await;
    let r = ws
        .until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("reminded at 12:00 the same day");
    assert_eq!(r["count"], 1);
    assert_eq!(reminders_of(&t.app, &t.sender, &id, &t.ada.0).await, 1);
}

#[tokio::test]
async fn working_time_follows_a_members_own_zone_across_a_daylight_saving_change() {
    let app = TestApp::spawn().await;
    // Friday 26 March 2027, 17:00 in London (GMT): one working hour left.
    app.set_clock("2027-03-26T17:00:00Z").await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "London office", None).await;
    let (_, sender) = app
        .person(&org.admin, "Grace", "grace@hl.example", &dept, true)
        .await;
    let (ada_id, ada) = app
        .person_with(&org.admin, json!({"name": "Ada", "email": "ada@hl.example", "department_id": dept, "time_zone": "Europe/London"}), true)
        .await;
    app.send(
        &sender,
        json!({"title": "Audit", "priority": "urgent", "audience": {"members": [ada_id]},
                             "reminders": {"remind_after_minutes": 120, "max_reminders": 1}}),
    )
    .await;
    let mut ws = app.ws(&ada, None).await;
    ws.until(WAIT, |f| f["type"] == "hello").await.unwrap();
    // Clocks went forward on Sunday 28 March: Monday 09:00 BST is 08:00 UTC, so the
    // second working hour ends at 10:00 BST = 09:00 UTC, not 10:00 UTC.
    app.set_clock("2027-03-29T08:59:00Z").await;
    assert!(
        ws.until(Duration::from_millis(400), |f| f["type"] == "reminder")
            .await
            .is_none()
    );
    app.set_clock("2027-03-29T09:00:30Z").await;
    ws.until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("10:00 British Summer Time");
}

#[tokio::test]
async fn steps_that_fell_due_while_the_server_was_down_fire_once_after_the_restart() {
    let t = team().await;
    let id = t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    let (sender, ada_id) = (t.sender.clone(), t.ada.0.clone());
    let (data, tmp) = t.app.stop().await;
    let app = TestApp::spawn_at(&data, None).await;
    let mut ws = app.ws(&t.ada.1, Some(0)).await;
    // Two and a half hours later the first reminder is overdue; it fires on its own.
    app.advance(150).await;
    let r = ws
        .until(WAIT, |f| f["type"] == "reminder")
        .await
        .expect("overdue reminder fires");
    assert_eq!(r["count"], 1);
    assert!(
        ws.until(Duration::from_millis(400), |f| f["type"] == "reminder")
            .await
            .is_none(),
        "exactly once"
    );
    assert_eq!(reminders_of(&app, &sender, &id, &ada_id).await, 1);
    app.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn two_schedulers_racing_over_one_due_step_fire_it_once() {
    let t = team().await;
    t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    let (data, tmp) = t.app.stop().await;
    // Two independent storage handles on the same database, as two processes would be.
    let a = common::open_storage(&data).await;
    let b = common::open_storage(&data).await;
    let due: jiff::Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
    let (x, y) = tokio::join!(a.fire_due_steps(due, 100), b.fire_due_steps(due, 100));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.fired + y.fired, 1, "one of them fired it");
    assert_eq!(x.events.len() + y.events.len(), 1);
    drop(tmp);
}

#[tokio::test]
async fn reminding_by_hand_reaches_the_unread_defers_quiet_hours_and_is_limited() {
    let t = team().await;
    let (_, night_owl) = t
        .app
        .person_with(&t.admin, json!({"name": "Ivan", "email": "ivan@hl.example", "department_id": t.dept, "time_zone": "America/Los_Angeles"}), true)
        .await;
    let _ = night_owl;
    let id = t.app.send(&t.sender, json!({"title": "Stocktake", "priority": "important", "audience": {"departments": [t.dept]}})).await;
    t.app
        .receipts(
            &t.manager.1,
            json!([receipt("m", &id, "read", &t.app.clock_now())]),
        )
        .await;
    let (status, res) = t
        .app
        .post(
            &format!("/api/v1/messages/{id}/remind"),
            Some(&t.sender),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // Backup and Ada are in working time in Hong Kong; Ivan is asleep in Los Angeles.
    assert_eq!(
        (res["reminded"].as_i64(), res["deferred"].as_i64()),
        (Some(2), Some(1))
    );
    let (status, res, headers) = t
        .app
        .send_raw(
            reqwest::Method::POST,
            &format!("/api/v1/messages/{id}/remind"),
            Some(&t.sender),
            Some(b"{}".to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res["error"]["code"], "rate_limited");
    assert!(headers.get("retry-after").is_some());
    let (status, _) = t
        .app
        .post(
            &format!("/api/v1/messages/{id}/remind"),
            Some(&t.ada.1),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    t.app.advance(11).await;
    let (status, _) = t
        .app
        .post(
            &format!("/api/v1/messages/{id}/remind"),
            Some(&t.sender),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "allowed again after ten minutes");
}

#[tokio::test]
async fn a_webhook_that_fails_twice_is_retried_and_delivered_once_with_a_valid_signature() {
    use axum::routing::post;
    let t = team().await;
    let seen: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let calls = seen.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let calls = calls.clone();
            async move {
                let mut calls = calls.lock().unwrap();
                calls.push((headers, body));
                if calls.len() <= 2 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let secret = "a-long-shared-secret-for-tests";
    let (status, hook) = t
        .app
        .post(
            "/api/v1/webhooks",
            Some(&t.admin),
            json!({"url": hook_url, "events": ["reminder"], "secret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let (status, _) = t
        .app
        .post(
            "/api/v1/webhooks",
            Some(&t.admin),
            json!({"url": "ftp://x", "events": ["reminder"], "secret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = t
        .app
        .post(
            "/api/v1/webhooks",
            Some(&t.ada.1),
            json!({"url": hook_url, "events": ["reminder"], "secret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let id = t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    t.app.advance(120).await;
    // Each failure is retried after a backoff; moving the clock past it retries at once.
    // The receiver answers before the server records the answer, so wait for the record
    // (and with it the retry's time) before moving the clock.
    let deliveries_path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    let recorded = |attempt: i64| {
        let app = &t.app;
        let admin = &t.admin;
        let path = deliveries_path.clone();
        async move {
            let (_, deliveries) = app.get(&path, Some(admin)).await;
            (deliveries["items"][0]["attempts"].as_i64() == Some(attempt)).then_some(deliveries)
        }
    };
    for attempt in 1..=2 {
        t.app
            .eventually("a failed attempt recorded", WAIT, || recorded(attempt))
            .await;
        t.app.advance(5).await;
    }
    let deliveries = t
        .app
        .eventually("the third attempt recorded", WAIT, || recorded(3))
        .await;
    let calls = seen.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        3,
        "delivered on the third attempt and not again"
    );
    let (headers, body) = &calls[2];
    let timestamp: i64 = headers["x-readtrack-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = readtrack_service::webhooks::signature(secret, timestamp, body);
    assert_eq!(
        headers["x-readtrack-signature"].to_str().unwrap(),
        expected,
        "signature verifies"
    );
    // And independently of our own helper: HMAC-SHA256 over "timestamp.body".
    {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        assert_eq!(
            expected,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
    assert_eq!(
        headers["x-readtrack-delivery"], calls[0].0["x-readtrack-delivery"],
        "the same delivery id on every retry"
    );
    let payload: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (payload["type"].as_str(), payload["message_id"].as_str()),
        (Some("reminder"), Some(id.as_str()))
    );
    let d = &deliveries["items"][0];
    assert_eq!(
        (d["attempts"].as_i64(), d["last_status"].as_i64()),
        (Some(3), Some(204))
    );
    assert!(d["delivered_at"].is_string());
    assert_eq!(deliveries["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_webhook_whose_endpoint_fails_for_three_days_is_given_up_disabled_and_reported() {
    use axum::routing::post;
    let t = team().await;
    let hits = Arc::new(Mutex::new(0usize));
    let counter = hits.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                StatusCode::SERVICE_UNAVAILABLE
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let (status, hook) = t
        .app
        .post(
            "/api/v1/webhooks",
            Some(&t.admin),
            json!({"url": hook_url, "events": ["message.created"], "secret": "a-long-shared-secret-for-tests"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert_eq!(hook["active"], true);
    let hook_id = hook["id"].as_str().unwrap().to_string();

    t.app.send(&t.sender, chain_plan(&t.ada.0)).await;
    t.app
        .eventually("the first attempt", WAIT, || {
            let n = *hits.lock().unwrap();
            async move { (n >= 1).then_some(()) }
        })
        .await;
    // The endpoint stays down past the retry window (three days).
    t.app.advance(73 * 60).await;
    let admin = t.app.login("ivy@harbour.example", "correct horse").await;
    let listed = t
        .app
        .eventually("the webhook disabled", WAIT, || async {
            let (_, list) = t.app.get("/api/v1/webhooks", Some(&admin)).await;
            let hook = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["id"] == hook_id.as_str())
                .cloned()?;
            (hook["active"] == false).then_some(hook)
        })
        .await;
    assert!(
        listed["disabled_reason"].as_str().unwrap().contains("503"),
        "the admins see why: {listed}"
    );
    let (_, audit) = t.app.get("/api/v1/audit", Some(&admin)).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "webhook.disabled"),
        "{audit}"
    );
    // Nothing more is queued for a disabled webhook.
    let (_, before) = t
        .app
        .get(
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            Some(&admin),
        )
        .await;
    let sender = t.app.login("grace@hl.example", "password123").await;
    t.app.send(&sender, chain_plan(&t.ada.0)).await;
    let (_, after) = t
        .app
        .get(
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        before["items"].as_array().unwrap().len(),
        after["items"].as_array().unwrap().len()
    );
}
