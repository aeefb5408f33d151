//! The privacy guardrails, surface by surface: board, stream, webhook, CSV and export.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, receipt};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

struct Org {
    app: TestApp,
    admin: String,
    dept: String,
    sender: (String, String),
    manager: (String, String),
    auditor: (String, String),
    other: (String, String),
    ada: (String, String),
    carl: (String, String),
}

/// Ada has acknowledged the policy, Carl has not; both report to the manager.
async fn org() -> Org {
    let app = TestApp::spawn().await;
    let o = app.setup().await;
    let dept = app.department(&o.admin, "Tsing Yi", None).await;
    let sender = app
        .person(&o.admin, "Grace", "grace@hl.example", &dept, true)
        .await;
    let manager = app
        .person(&o.admin, "Patrick", "patrick@hl.example", &dept, true)
        .await;
    let auditor = app
        .person_with(&o.admin, json!({"name": "Audrey", "email": "audrey@hl.example", "department_id": dept, "role": "auditor"}), true)
        .await;
    let other = app
        .person(&o.admin, "Oscar", "oscar@hl.example", &dept, true)
        .await;
    let ada = app
        .person_with(&o.admin, json!({"name": "Ada", "email": "ada@hl.example", "department_id": dept, "manager_id": manager.0}), true)
        .await;
    let carl = app
        .person_with(&o.admin, json!({"name": "Carl", "email": "carl@hl.example", "department_id": dept, "manager_id": manager.0}), false)
        .await;
    Org {
        app,
        admin: o.admin,
        dept,
        sender,
        manager,
        auditor,
        other,
        ada,
        carl,
    }
}

async fn csv(app: &TestApp, token: &str, id: &str) -> (StatusCode, String) {
    let res = app
        .http
        .get(app.url(&format!("/api/v1/messages/{id}/receipts.csv")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn every_surface_shows_each_viewer_exactly_what_the_rules_allow() {
    let o = org().await;
    let app = &o.app;
    // A webhook receiver collecting receipt.updated payloads.
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = bodies.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let (status, _) = app
        .post(
            "/api/v1/webhooks",
            Some(&o.admin),
            json!({"url": url, "events": ["receipt.updated"], "secret": "0123456789abcdef0123"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let viewers = [
        ("sender", o.sender.1.clone()),
        ("other member", o.other.1.clone()),
        ("manager", o.manager.1.clone()),
        ("admin", o.admin.clone()),
        ("auditor", o.auditor.1.clone()),
    ];
    let mut sender_ws = app.ws(&o.sender.1, None).await;
    sender_ws
        .until(WAIT, |f| f["type"] == "hello")
        .await
        .unwrap();

    for tracking in ["off", "aggregate", "per_person"] {
        for quiet in [false, true] {
            let case = format!("tracking={tracking} quiet={quiet}");
            // 10:00 or 21:00 in Hong Kong on the test day; reads five minutes later.
            app.set_clock(if quiet {
                "2026-12-01T13:00:00Z"
            } else {
                "2026-12-01T02:00:00Z"
            })
            .await;
            let id = app
                .send(
                    &o.sender.1,
                    json!({"title": case, "priority": "urgent", "tracking": tracking,
                                          "audience": {"members": [o.ada.0, o.carl.0]}}),
                )
                .await;
            app.advance(5).await;
            let at = app.clock_now();
            for (who, token) in [("ada", &o.ada.1), ("carl", &o.carl.1)] {
                let r = app
                    .receipts(
                        token,
                        json!([receipt(
                            &format!("{tracking}-{quiet}-{who}"),
                            &id,
                            "read",
                            &at
                        )]),
                    )
                    .await;
                assert_eq!(r[0]["status"], "applied", "{case}: {r:?}");
            }

            // Board and CSV, viewer by viewer.
            for (viewer, token) in &viewers {
                let (status, board) = app.board(token, &id, "").await;
                let (csv_status, csv_text) = csv(app, token, &id).await;
                let may_open = matches!(*viewer, "sender" | "admin");
                match (may_open, tracking) {
                    (false, _) => {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{case} {viewer}: {board}");
                        assert_eq!(csv_status, StatusCode::FORBIDDEN, "{case} {viewer} csv");
                    }
                    (true, "off") => {
                        assert_eq!(status, StatusCode::NOT_FOUND, "{case} {viewer}");
                        assert_eq!(csv_status, StatusCode::NOT_FOUND, "{case} {viewer} csv");
                    }
                    (true, _) => {
                        assert_eq!(status, StatusCode::OK, "{case} {viewer}");
                        // Carl alone is hidden on a per-person notice (Ada too on an
                        // aggregate one): fewer hidden people than the minimum group
                        // size, so the totals count only the people shown, or the totals
                        // minus the rows would give Carl's read away.
                        let shown_reads = if tracking == "aggregate" { 0 } else { 1 };
                        assert_eq!(
                            board["summary"]["read"], shown_reads,
                            "{case}: a hidden group of fewer than five is not counted: {board}"
                        );
                        assert_eq!(board["summary"]["hidden_not_counted"], true, "{case}");
                        assert!(
                            board["by_department"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .all(|d| d["recipients"].as_i64().unwrap() >= 5),
                            "{case}: with Carl hidden no department line describes fewer than five: {board}"
                        );
                        let items = board["items"].as_array().unwrap();
                        assert!(
                            !csv_text.contains("Carl"),
                            "{case} {viewer}: Carl never acknowledged the policy"
                        );
                        if tracking == "aggregate" {
                            assert!(
                                items.is_empty(),
                                "{case} {viewer}: aggregate shows no person"
                            );
                            assert_eq!(board["summary"]["hidden"], 2);
                            assert!(!csv_text.contains("Ada"), "{case} {viewer} csv");
                        } else {
                            assert_eq!(items.len(), 1, "{case} {viewer}: only Ada may be shown");
                            assert_eq!(board["summary"]["hidden"], 1);
                            let ada = &items[0];
                            assert_eq!(ada["member_id"], o.ada.0.as_str());
                            assert_eq!(ada["state"], "read");
                            assert!(csv_text.contains("Ada"), "{case} {viewer} csv");
                            if quiet {
                                assert_eq!(
                                    ada["read_at"],
                                    Value::Null,
                                    "{case}: read outside working hours shows no time"
                                );
                                assert_eq!(ada["outside_working_hours"], true);
                                assert!(
                                    !csv_text.contains(&at[..16]),
                                    "{case}: the CSV has no time either"
                                );
                            } else {
                                assert!(ada["read_at"].is_string(), "{case}");
                                assert_eq!(ada["outside_working_hours"], false);
                            }
                        }
                    }
                }
            }

            // The stream: the sender's frames for this notice. Only a shown person's
            // action is sent; Carl's read (and, on an aggregate notice to two, anyone's)
            // sends nothing, or its arrival would tell who read and when.
            if tracking != "per_person" {
                let f = sender_ws
                    .until(Duration::from_millis(300), |f| {
                        f["type"] == "receipt.updated" && f["message_id"] == id.as_str()
                    })
                    .await;
                assert!(
                    f.is_none(),
                    "{case}: no frame about people who may not be shown or counted: {f:?}"
                );
            } else {
                let mut frames = vec![
                    sender_ws
                        .until(WAIT, |f| {
                            f["type"] == "receipt.updated" && f["message_id"] == id.as_str()
                        })
                        .await
                        .unwrap_or_else(|| panic!("{case}: a frame for Ada's read")),
                ];
                frames.extend(
                    sender_ws
                        .until(Duration::from_millis(300), |f| {
                            f["type"] == "receipt.updated" && f["message_id"] == id.as_str()
                        })
                        .await,
                );
                assert_eq!(
                    frames.len(),
                    1,
                    "{case}: nothing for Carl's read: {frames:?}"
                );
                assert_eq!(
                    frames[0]["summary"]["read"], 1,
                    "{case}: the frame counts the shown only"
                );
                assert_eq!(frames[0]["summary"]["hidden_not_counted"], true, "{case}");
                let named: Vec<&Value> = frames
                    .iter()
                    .filter(|f| f.get("member_id").is_some())
                    .collect();
                assert!(
                    frames.iter().all(|f| f["member_id"] != o.carl.0.as_str()),
                    "{case}: Carl never named"
                );
                if quiet {
                    // Sent the moment she read, a frame naming her would give the time
                    // away whatever it says: a read in quiet hours is never named live.
                    assert!(named.is_empty(), "{case}: {frames:?}");
                } else {
                    assert_eq!(named.len(), 1, "{case}");
                    assert!(named[0].get("at").is_some(), "{case}: the time in the day");
                }
            }

            // The reader's own export always has their own record.
            let (_, export) = app.get("/api/v1/me/export", Some(&o.ada.1)).await;
            let mine = export["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["message_id"] == id.as_str())
                .unwrap()
                .clone();
            assert_eq!(mine["state"], "read", "{case}");
            assert_eq!(
                mine["read_in_quiet_hours"],
                json!(quiet && tracking != "off"),
                "{case}"
            );
            assert_eq!(
                mine["read_at"].is_null(),
                tracking == "off",
                "{case}: off keeps no times"
            );
        }
    }

    // Webhook payloads carry exactly what the sender's frames carry.
    let payloads = app
        .eventually("webhook payloads", WAIT, || {
            let b = bodies.lock().unwrap().clone();
            async move { (b.len() >= 2).then_some(b) }
        })
        .await;
    assert_eq!(
        payloads.len(),
        2,
        "Ada's per-person read × two quiet settings; nothing about the uncounted"
    );
    assert!(payloads.iter().all(|p| p["member_id"] != o.carl.0.as_str()));
    let named = payloads
        .iter()
        .filter(|p| p.get("member_id").is_some())
        .count();
    assert_eq!(
        named, 1,
        "only Ada's per-person read in the day names her; the quiet one names nobody"
    );

    // Admin views were audited, and Ada can see who looked at her data.
    let (_, audit) = app.get("/api/v1/audit", Some(&o.auditor.1)).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "board.viewed")
    );
    let (status, _) = app.get("/api/v1/audit", Some(&o.other.1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, export) = app.get("/api/v1/me/export", Some(&o.ada.1)).await;
    let views = export["viewed_by"].as_array().unwrap();
    assert!(!views.is_empty(), "{export}");
    assert!(views.iter().all(|v| v["action"] == "board.viewed"));
    let (_, carl_export) = app.get("/api/v1/me/export", Some(&o.carl.1)).await;
    assert_eq!(
        carl_export["viewed_by"],
        json!([]),
        "nobody was shown Carl's data"
    );
    let _ = &o.dept;
}

#[tokio::test]
async fn per_person_tracking_is_refused_for_priorities_the_org_does_not_allow_and_settings_are_public()
 {
    let o = org().await;
    let app = &o.app;
    let (status, res) = app
        .post("/api/v1/messages", Some(&o.sender.1), json!({"title": "Lunch", "priority": "normal", "tracking": "per_person", "audience": {"members": [o.ada.0]}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(res["error"]["code"], "tracking_not_allowed");
    let (status, settings) = app.get("/api/v1/org/settings", Some(&o.other.1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings["per_person_tracking_for"],
        json!(["important", "urgent"])
    );
    assert_eq!(settings["policy"]["version"], 1);
    let (status, _) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.other.1),
            json!({"retention_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, res) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.admin),
            json!({"quiet_hours": {"start": "25:00", "end": "08:00"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quiet_hours.start")
    );
    let (status, res) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.admin),
            json!({"per_person_tracking_for": ["important", "urgent", "normal"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = app
        .post("/api/v1/messages", Some(&o.sender.1), json!({"title": "Lunch", "priority": "normal", "tracking": "per_person", "audience": {"members": [o.ada.0]}}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, audit) = app.get("/api/v1/audit", Some(&o.admin)).await;
    assert_eq!(audit["items"][0]["action"], "settings.updated");
}

#[tokio::test]
async fn a_new_policy_version_hides_everyone_until_they_acknowledge_it() {
    let o = org().await;
    let app = &o.app;
    let id = app
        .send(
            &o.sender.1,
            json!({"title": "Audit", "priority": "urgent", "audience": {"members": [o.ada.0]}}),
        )
        .await;
    app.receipts(
        &o.ada.1,
        json!([receipt("p1", &id, "read", &app.clock_now())]),
    )
    .await;
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(board["items"].as_array().unwrap().len(), 1);
    let (status, s) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.admin),
            json!({"policy": {"text": "Version two of our policy."}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["policy"]["version"], 2);
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(board["items"], json!([]), "Ada acknowledged version 1 only");
    assert_eq!(board["summary"]["hidden"], 1);
    let (status, res) = app
        .post("/api/v1/policy/ack", Some(&o.ada.1), json!({"version": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    let (_, policy) = app.get("/api/v1/policy", Some(&o.ada.1)).await;
    assert_eq!(
        (
            policy["version"].as_i64(),
            policy["acknowledged_version"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let (status, _) = app
        .post("/api/v1/policy/ack", Some(&o.ada.1), json!({"version": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(board["items"].as_array().unwrap().len(), 1);
    assert_eq!(board["summary"]["hidden"], 0);
    let (_, audit) = app.get("/api/v1/audit", Some(&o.admin)).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "policy.updated")
    );
}

#[tokio::test]
async fn a_pilot_limits_per_person_rows_to_its_departments() {
    let o = org().await;
    let app = &o.app;
    let pilot = app.department(&o.admin, "Pilot team", None).await;
    let (pia_id, pia) = app
        .person(&o.admin, "Pia", "pia@hl.example", &pilot, true)
        .await;
    let (status, res) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.admin),
            json!({"pilot": {"departments": [pilot]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let id = app.send(&o.sender.1, json!({"title": "Pilot", "priority": "urgent", "audience": {"members": [o.ada.0, pia_id]}})).await;
    app.receipts(
        &o.ada.1,
        json!([receipt("a", &id, "read", &app.clock_now())]),
    )
    .await;
    app.receipts(&pia, json!([receipt("b", &id, "read", &app.clock_now())]))
        .await;
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    let shown: Vec<&str> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        vec![pia_id.as_str()],
        "Ada is outside the pilot: aggregate only"
    );
    // Ada alone is counted but not shown: too few to count, or the totals minus Pia's
    // row would be Ada's read.
    assert_eq!(board["summary"]["read"], 1);
    assert_eq!(board["summary"]["hidden_not_counted"], true);
    let (_, _) = app
        .patch(
            "/api/v1/org/settings",
            Some(&o.admin),
            json!({"pilot": null}),
        )
        .await;
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(
        board["items"].as_array().unwrap().len(),
        2,
        "the pilot widened to everyone"
    );
}

#[tokio::test]
async fn a_delivery_or_confirmation_in_quiet_hours_never_shows_its_time_to_others() {
    let o = org().await;
    let app = &o.app;
    // 07:30 in Hong Kong, quiet until 08:00: Ada's phone gets the notice.
    app.set_clock("2026-11-30T23:30:00Z").await;
    let id = app
        .send(
            &o.sender.1,
            json!({"title": "Roster", "priority": "urgent", "require_ack": true,
                   "response_options": ["Fine", "Swap"], "audience": {"members": [o.ada.0]}}),
        )
        .await;
    app.advance(1).await;
    app.receipts(
        &o.ada.1,
        json!([receipt("d", &id, "delivered", &app.clock_now())]),
    )
    .await;
    // 10:00: she reads it at work.
    app.set_clock("2026-12-01T02:00:00Z").await;
    let read_at = app.clock_now();
    app.receipts(&o.ada.1, json!([receipt("r", &id, "read", &read_at)]))
        .await;
    // 22:01: she confirms, with her answer, from home.
    app.set_clock("2026-12-01T14:01:00Z").await;
    let mut ack = receipt("a", &id, "ack", &app.clock_now());
    ack["response"] = json!("Swap");
    app.receipts(&o.ada.1, json!([ack])).await;

    let (_, board) = app.board(&o.sender.1, &id, "").await;
    let row = &board["items"][0];
    assert_eq!(row["state"], "acknowledged", "{board}");
    assert_eq!(row["response"], "Swap", "the answer, without its moment");
    assert!(
        row["read_at"].is_string(),
        "the read in the day keeps its time"
    );
    assert_eq!(row["outside_working_hours"], false);
    assert_eq!(row["acked_at"], Value::Null, "{row}");
    assert_eq!(row["acked_outside_working_hours"], true);
    assert_eq!(row["delivered_at"], Value::Null, "{row}");
    assert_eq!(row["delivered_outside_working_hours"], true);
    let (_, csv_text) = csv(app, &o.sender.1, &id).await;
    assert!(csv_text.contains(&read_at[..16]), "{csv_text}");
    for quiet in ["2026-12-01T14:0", "2026-11-30T23:3"] {
        assert!(!csv_text.contains(quiet), "{quiet} in {csv_text}");
    }
    assert!(
        csv_text.contains(",true,"),
        "the CSV says a time was withheld: {csv_text}"
    );
    // Ada's own export keeps her own times.
    let (_, export) = app.get("/api/v1/me/export", Some(&o.ada.1)).await;
    assert!(export.to_string().contains("2026-12-01T14:01"), "{export}");
}

#[tokio::test]
async fn untracked_quiet_hour_reads_are_counted_but_not_listed() {
    let o = org().await;
    let app = &o.app;
    app.patch(
        "/api/v1/org/settings",
        Some(&o.admin),
        json!({"quiet_hours": {"start": "20:00", "end": "08:00", "reads": "untracked"}}),
    )
    .await;
    app.set_clock("2026-12-01T13:00:00Z").await;
    let id = app
        .send(
            &o.sender.1,
            json!({"title": "Night", "priority": "urgent", "audience": {"members": [o.ada.0]}}),
        )
        .await;
    app.advance(5).await;
    app.receipts(
        &o.ada.1,
        json!([receipt("n", &id, "read", &app.clock_now())]),
    )
    .await;
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    // Ada alone is hidden: one hidden person is too few to count, so not even the
    // totals say that she read.
    assert_eq!(board["summary"]["read"], 0, "{board}");
    assert_eq!(board["summary"]["hidden"], 1);
    assert_eq!(board["summary"]["hidden_not_counted"], true);
    assert_eq!(board["items"], json!([]));

    // Five people who read in quiet hours are enough to count, never to list.
    let five = [&o.ada, &o.other, &o.manager, &o.auditor, &o.carl];
    let ids: Vec<&str> = five.iter().map(|p| p.0.as_str()).collect();
    let id = app
        .send(
            &o.sender.1,
            json!({"title": "Night 2", "priority": "urgent", "audience": {"members": ids}}),
        )
        .await;
    app.advance(5).await;
    for (i, (_, token)) in five.iter().enumerate() {
        app.receipts(
            token,
            json!([receipt(&format!("n2-{i}"), &id, "read", &app.clock_now())]),
        )
        .await;
    }
    let (_, board) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(board["summary"]["read"], 5, "{board}");
    assert_eq!(board["summary"]["hidden"], 5);
    assert!(
        board["summary"].get("hidden_not_counted").is_none(),
        "{board}"
    );
    assert_eq!(board["items"], json!([]));
}

#[tokio::test]
async fn retention_purges_per_person_details_and_keeps_boards_and_analytics_correct() {
    let o = org().await;
    let app = &o.app;
    // Six people so the department is large enough to report (k = 5).
    let mut readers = vec![o.ada.clone()];
    for i in 0..5 {
        readers.push(
            app.person(
                &o.admin,
                &format!("Reader {i}"),
                &format!("r{i}@hl.example"),
                &o.dept,
                true,
            )
            .await,
        );
    }
    let ids: Vec<String> = readers.iter().map(|r| r.0.clone()).collect();
    let id = app.send(&o.sender.1, json!({"title": "Old notice", "priority": "urgent", "require_ack": true, "reminders": {}, "audience": {"members": ids}})).await;
    for (i, (_, token)) in readers.iter().enumerate().take(4) {
        app.advance(10).await;
        let kind = if i < 2 { "ack" } else { "read" };
        app.receipts(
            token,
            json!([receipt(&format!("old{i}"), &id, kind, &app.clock_now())]),
        )
        .await;
    }
    let (_, before) = app
        .get(
            "/api/v1/analytics/departments?from=2026-01-01T00:00:00Z&to=2027-12-31T00:00:00Z",
            Some(&o.admin),
        )
        .await;
    let (_, board_before) = app.board(&o.sender.1, &id, "").await;
    assert_eq!(board_before["items"].as_array().unwrap().len(), 6);

    // 181 days later the daily job purges it (sessions have expired by then: sign in again).
    app.advance(181 * 24 * 60).await;
    let sender = app.login("grace@hl.example", "password123").await;
    let admin = app.login("ivy@harbour.example", "correct horse").await;
    let ada = app.login("ada@hl.example", "password123").await;
    app.eventually("the retention purge", WAIT, || async {
        let (_, board) = app.board(&sender, &id, "").await;
        board["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let (_, board_after) = app.board(&sender, &id, "").await;
    assert_eq!(
        board_after["summary"]["read"], board_before["summary"]["read"],
        "counts survive"
    );
    assert_eq!(board_after["summary"]["acknowledged"], 2);
    assert_eq!(board_after["by_department"], board_before["by_department"]);
    let (_, after) = app
        .get(
            "/api/v1/analytics/departments?from=2026-01-01T00:00:00Z&to=2027-12-31T00:00:00Z",
            Some(&admin),
        )
        .await;
    assert_eq!(
        after, before,
        "analytics are the same before and after the purge"
    );
    assert_eq!(after["items"][0]["read_rate"], json!(0.6667));
    let (_, export) = app.get("/api/v1/me/export", Some(&ada)).await;
    assert!(
        export["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["message_id"] != id.as_str()),
        "the per-person record is gone"
    );
    let (_, audit) = app.get("/api/v1/audit", Some(&admin)).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "retention.purged")
    );
    // A client that last synced before the purge cannot be replayed what retention
    // removed: it is told to reload, never handed a stream with a silent gap.
    let mut ws = app.ws(&sender, Some(0)).await;
    let reset = ws
        .next(std::time::Duration::from_secs(5))
        .await
        .expect("a frame");
    assert_eq!(reset["type"], "reset", "{reset}");
    assert!(
        reset["reason"].as_str().unwrap().contains("retention"),
        "{reset}"
    );
    let hello = ws
        .until(std::time::Duration::from_secs(5), |f| f["type"] == "hello")
        .await
        .expect("hello after the reset");
    assert_eq!(hello["last_seq"], reset["last_seq"]);
}

#[tokio::test]
async fn analytics_suppress_small_groups_and_scope_managers_to_their_subtree() {
    let o = org().await;
    let app = &o.app;
    // A name a spreadsheet would run as a formula: the CSV below must neutralise it.
    let small = app
        .department(
            &o.admin,
            "=HYPERLINK(\"http://evil.example\",\"Tiny\")",
            None,
        )
        .await;
    let (tiny_id, tiny) = app
        .person(&o.admin, "Tim", "tim@hl.example", &small, true)
        .await;
    let id = app.send(&o.sender.1, json!({"title": "All", "priority": "urgent", "audience": {"departments": [o.dept, small]}})).await;
    app.receipts(&tiny, json!([receipt("t", &id, "read", &app.clock_now())]))
        .await;
    app.receipts(
        &o.ada.1,
        json!([receipt("a", &id, "read", &app.clock_now())]),
    )
    .await;
    let (status, res) = app
        .get("/api/v1/analytics/departments", Some(&o.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    // A department's line in an analytics answer.
    let line = |res: &Value, dept: &str| {
        res["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["department_id"] == dept)
            .unwrap()
            .clone()
    };
    let tiny_line = line(&res, &small);
    assert_eq!(tiny_line["suppressed"], true);
    assert_eq!(tiny_line["read_rate"], Value::Null);
    let big = line(&res, &o.dept);
    assert_eq!(big["suppressed"], false, "{big}");
    assert!(big["p50_time_to_read_secs"].is_number());
    // Differencing: a notice to Ada alone, read at once, moves no figure (nor does the
    // overall comparison): a notice that reached fewer than the minimum group size in a
    // department never enters analytics, so no two looks differ by one person.
    let (_, compare_before) = app.get("/api/v1/analytics/compare", Some(&o.admin)).await;
    let ada_only = app
        .send(
            &o.sender.1,
            json!({"title": "Just Ada", "priority": "urgent", "tracking": "per_person",
                   "audience": {"members": [o.ada.0]}}),
        )
        .await;
    app.receipts(
        &o.ada.1,
        json!([receipt("a2", &ada_only, "read", &app.clock_now())]),
    )
    .await;
    let (_, again) = app
        .get("/api/v1/analytics/departments", Some(&o.admin))
        .await;
    let big_again = line(&again, &o.dept);
    assert_eq!(big_again, big, "one person's read shows as a difference");
    let (_, compare_after) = app.get("/api/v1/analytics/compare", Some(&o.admin)).await;
    // The default periods end now, and the clock moved a little between the looks.
    let figures = |mut v: Value| {
        for period in ["before", "after"] {
            let p = v[period].as_object_mut().unwrap();
            p.remove("from");
            p.remove("to");
        }
        v
    };
    assert_eq!(figures(compare_after), figures(compare_before));
    let (status, _) = app
        .get("/api/v1/analytics/departments", Some(&o.other.1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a manager");
    let (status, scoped) = app
        .get("/api/v1/analytics/departments", Some(&o.manager.1))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        scoped["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["department_id"] == o.dept.as_str()),
        "{scoped}"
    );
    let res = app
        .http
        .get(app.url("/api/v1/analytics/departments"))
        .bearer_auth(&o.auditor.1)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = res.text().await.unwrap();
    assert!(text.starts_with("department_id,name,messages"));
    assert!(text.contains("'=HYPERLINK"), "{text}");
    let mut cells = csv::Reader::from_reader(text.as_bytes());
    for record in cells.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} in {text}"
            );
        }
    }
    let (status, cmp) = app
        .get("/api/v1/analytics/compare?before_from=2026-01-01T00:00:00Z&before_to=2026-11-30T00:00:00Z&after_from=2026-11-30T00:00:00Z&after_to=2026-12-31T00:00:00Z", Some(&o.admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{cmp}");
    assert_eq!(cmp["before"]["messages"], 0);
    assert_eq!(cmp["after"]["messages"], 1);
    assert!(cmp["after"]["median_time_to_read_secs"].is_number());
    let (status, _) = app
        .get("/api/v1/analytics/compare?before_from=nope", Some(&o.admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let _ = tiny_id;
}

#[tokio::test]
async fn pulse_survey_answers_are_anonymous_once_per_person_and_shown_only_in_groups() {
    let o = org().await;
    let app = &o.app;
    let (status, survey) = app
        .post(
            "/api/v1/surveys",
            Some(&o.admin),
            json!({"departments": [o.dept]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{survey}");
    let sid = survey["id"].as_str().unwrap().to_string();
    let (_, mine) = app.get("/api/v1/surveys", Some(&o.ada.1)).await;
    assert_eq!(mine["items"][0]["answered"], false);
    let answer = |token: String, m: i64| {
        let path = format!("/api/v1/surveys/{sid}/answers");
        async move {
            app.post(
                &path,
                Some(&token),
                json!({"monitored": m, "helped": 3, "comment": "fine"}),
            )
            .await
            .0
        }
    };
    assert_eq!(answer(o.ada.1.clone(), 2).await, StatusCode::NO_CONTENT);
    assert_eq!(
        answer(o.ada.1.clone(), 5).await,
        StatusCode::CONFLICT,
        "one answer per person"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/surveys/{sid}/answers"),
            Some(&o.carl.1),
            json!({"monitored": 9, "helped": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, results) = app
        .get(&format!("/api/v1/surveys/{sid}/results"), Some(&o.admin))
        .await;
    assert_eq!(
        results["suppressed"], true,
        "one answer is not enough to show"
    );
    assert_eq!(results["monitored"], Value::Null);
    for (token, m) in [
        (&o.carl.1, 4),
        (&o.manager.1, 1),
        (&o.other.1, 3),
        (&o.sender.1, 2),
    ] {
        assert_eq!(answer(token.clone(), m).await, StatusCode::NO_CONTENT);
    }
    // Five answers, but the survey is open: results that moved with every answer would
    // tell, by two looks, what the one person in between answered.
    let results_path = format!("/api/v1/surveys/{sid}/results");
    let (_, results) = app.get(&results_path, Some(&o.auditor.1)).await;
    assert_eq!(results["suppressed"], true, "open surveys show no results");
    assert_eq!(results["answers"], 5);
    let (status, _) = app
        .post(
            &format!("/api/v1/surveys/{sid}/close"),
            Some(&o.auditor.1),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins close surveys");
    let (status, closed) = app
        .post(
            &format!("/api/v1/surveys/{sid}/close"),
            Some(&o.admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert!(closed["closes_at"].is_string());
    let (_, results) = app.get(&results_path, Some(&o.auditor.1)).await;
    assert_eq!(results["suppressed"], false);
    assert_eq!(results["monitored"], json!([1, 2, 1, 1, 0]));
    // Overall figures are shown; a department line would be the overall minus the rest,
    // so none is shown unless what is left out is empty or at least the group size.
    let by_department = results["by_department"].as_array().unwrap();
    let shown: i64 = by_department
        .iter()
        .map(|d| d["answers"].as_i64().unwrap())
        .sum();
    let left_out = 5 - shown;
    assert!(left_out == 0 || left_out >= 5, "{results}");
    let (status, _) = app
        .get(&format!("/api/v1/surveys/{sid}/results"), Some(&o.ada.1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing in anyone's export ties them to an answer.
    let (_, export) = app.get("/api/v1/me/export", Some(&o.ada.1)).await;
    assert!(!export.to_string().contains("monitored"));
}
