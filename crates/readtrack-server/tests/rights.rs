//! Sending rights, tried by each role on every surface that sends or offers to: the API,
//! `GET /api/v1/me`, the compose page and the navigation. A new organisation's defaults:
//! staff send nothing, managers send to their own department and below, admins send
//! anything; department grants (HR) widen that, part by part.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// Company → Retail → Kowloon store; Company → HR. Mandy manages Retail, Carl is a clerk
/// in the Kowloon store reporting to her, Hana works in HR.
struct Shop {
    app: TestApp,
    admin: String,
    retail: String,
    kowloon: String,
    hr: String,
    mandy: String,
    carl: (String, String),
    hana: (String, String),
}

async fn shop() -> Shop {
    let app = TestApp::spawn().await;
    let org = app.setup_with_default_rights().await;
    let admin = org.admin.clone();
    let retail = app.department(&admin, "Retail", Some(&org.root)).await;
    let kowloon = app.department(&admin, "Kowloon store", Some(&retail)).await;
    let hr = app.department(&admin, "HR", Some(&org.root)).await;
    let (mandy_id, mandy) = app
        .person(&admin, "Mandy", "mandy@shop.example", &retail, true)
        .await;
    let carl = app
        .person_with(
            &admin,
            json!({"name": "Carl", "email": "carl@shop.example", "department_id": kowloon,
                   "manager_id": mandy_id}),
            true,
        )
        .await;
    let hana = app
        .person(&admin, "Hana", "hana@shop.example", &hr, true)
        .await;
    Shop {
        app,
        admin,
        retail,
        kowloon,
        hr,
        mandy,
        carl,
        hana,
    }
}

fn notice(audience: Value) -> Value {
    json!({"title": "Stocktake on Sunday", "body": "Please read.", "priority": "urgent",
           "tracking": "per_person", "require_ack": true, "audience": audience})
}

async fn try_send(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/messages", Some(token), body).await
}

/// An admin's (or anyone's) attempt to replace the sending rights.
async fn set_rights(app: &TestApp, token: &str, rights: &Value) -> (StatusCode, Value) {
    app.patch(
        "/api/v1/org/settings",
        Some(token),
        json!({"sending_rights": rights}),
    )
    .await
}

fn message(res: &Value) -> String {
    res["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_new_organisation_lets_managers_send_to_their_subtree_staff_nothing_and_admins_anything()
{
    let s = shop().await;
    let app = &s.app;

    // The clerk: nothing at all, and told why.
    let (status, res) = try_send(app, &s.carl.1, notice(json!({"departments": [s.kowloon]}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert_eq!(res["error"]["code"], "forbidden");
    assert!(message(&res).contains("may not send"), "{res}");
    let (_, me) = app.get("/api/v1/me", Some(&s.carl.1)).await;
    assert_eq!(me["may_send"]["reach"], "nobody", "{me}");
    assert_eq!(me["may_send"]["priorities"], json!([]));

    // The manager: their own department and below, at any priority.
    let (status, res) = try_send(
        app,
        &s.mandy,
        notice(json!({"departments": [s.retail, s.kowloon]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (status, res) = try_send(app, &s.mandy, notice(json!({"departments": [s.hr]}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert!(
        message(&res).contains("audience.departments[0]") && message(&res).contains("Retail"),
        "names the department outside her reach: {res}"
    );
    // Naming a person outside the subtree is no side door.
    let (status, res) = try_send(
        app,
        &s.mandy,
        notice(json!({"members": [s.carl.0, s.hana.0]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert!(message(&res).contains("audience.members[1]"), "{res}");
    let (_, me) = app.get("/api/v1/me", Some(&s.mandy)).await;
    assert_eq!(me["may_send"]["reach"], "own_department", "{me}");
    let reachable: Vec<&str> = me["may_send"]["departments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(reachable.contains(&s.retail.as_str()) && reachable.contains(&s.kowloon.as_str()));
    assert!(!reachable.contains(&s.hr.as_str()), "{me}");
    assert_eq!(
        me["may_send"]["priorities"],
        json!(["normal", "important", "urgent"])
    );

    // HR, until granted, is staff like anyone else.
    let (status, _) = try_send(app, &s.hana.1, notice(json!({"departments": [s.kowloon]}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The admin: anything to anyone.
    let (status, res) = try_send(
        app,
        &s.admin,
        notice(json!({"departments": [s.hr, s.retail]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (_, me) = app.get("/api/v1/me", Some(&s.admin)).await;
    assert_eq!(me["may_send"]["reach"], "everyone");
}

#[tokio::test]
async fn a_department_grant_widens_reach_and_caps_priority_and_tracking_part_by_part() {
    let s = shop().await;
    let app = &s.app;
    let (_, settings) = app.get("/api/v1/org/settings", Some(&s.hana.1)).await;
    assert_eq!(
        settings["sending_rights"]["staff"]["reach"], "nobody",
        "everyone may read the rights: {settings}"
    );
    let mut rights = settings["sending_rights"].clone();
    rights["departments"] = json!([{"department_id": s.hr, "reach": "everyone",
                                    "max_priority": "important", "max_tracking": "aggregate"}]);
    let (status, res) = set_rights(app, &s.hana.1, &rights).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only admins change them: {res}"
    );
    let (status, res) = set_rights(app, &s.admin, &rights).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        res["sending_rights"]["departments"][0]["department_id"],
        s.hr
    );

    let everyone = json!({"departments": [s.retail, s.hr]});
    let body = |priority: &str, tracking: Option<&str>| {
        let mut b =
            json!({"title": "New leave policy", "priority": priority, "audience": everyone});
        if let Some(t) = tracking {
            b["tracking"] = json!(t);
        }
        b
    };
    let (status, res) = try_send(app, &s.hana.1, body("important", Some("aggregate"))).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let (status, res) = try_send(app, &s.hana.1, body("urgent", Some("aggregate"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert!(message(&res).contains("`priority`"), "{res}");
    let (status, res) = try_send(app, &s.hana.1, body("important", Some("per_person"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert!(message(&res).contains("`tracking`"), "{res}");
    // Left to the default (per person for important notices), tracking is lowered to
    // what she may ask for rather than refused.
    let (status, res) = try_send(app, &s.hana.1, body("important", None)).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let id = res["id"].as_str().unwrap();
    let (_, sent) = app
        .get(&format!("/api/v1/messages/{id}"), Some(&s.hana.1))
        .await;
    assert_eq!(sent["tracking"], "aggregate", "{sent}");
    let (_, me) = app.get("/api/v1/me", Some(&s.hana.1)).await;
    assert_eq!(me["may_send"]["priorities"], json!(["normal", "important"]));
    assert_eq!(me["may_send"]["tracking"], json!(["off", "aggregate"]));

    // Bad rights are refused by name and change nothing.
    for (bad, field) in [
        (
            json!({"staff": {"reach": "the world", "max_priority": "urgent", "max_tracking": "off"},
                   "managers": rights["managers"]}),
            "sending_rights.staff.reach",
        ),
        (
            json!({"staff": rights["staff"], "managers": rights["managers"],
                   "departments": [{"department_id": "999999", "reach": "everyone",
                                    "max_priority": "urgent", "max_tracking": "off"}]}),
            "sending_rights.departments[0].department_id",
        ),
        (
            json!({"staff": rights["staff"], "managers": rights["managers"],
                   "emergency_senders": ["999999"]}),
            "sending_rights.emergency_senders[0]",
        ),
    ] {
        let (status, res) = set_rights(app, &s.admin, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
        assert!(message(&res).contains(field), "{field}: {res}");
    }
    let (_, after) = app.get("/api/v1/org/settings", Some(&s.admin)).await;
    assert_eq!(after["sending_rights"], rights, "unchanged by the refusals");
}

#[tokio::test]
async fn the_web_app_offers_only_what_a_person_may_send() {
    let s = shop().await;
    let app = &s.app;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |token: String, path: &'static str| async move { app.page_as(&token, path).await };
    // The clerk: no "New notice" anywhere, and the compose page says why.
    let (status, inbox) = page(s.carl.1.clone(), "/inbox").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !inbox.contains("href=\"/compose\""),
        "no New notice for a clerk"
    );
    let (_, sent) = page(s.carl.1.clone(), "/sent").await;
    assert!(!sent.contains("href=\"/compose\""));
    let (_, compose) = page(s.carl.1.clone(), "/compose").await;
    assert!(compose.contains("id=\"may-not-send\""), "{compose}");
    assert!(!compose.contains("<form method=\"post\" action=\"/compose\""));

    // The manager: her departments only.
    let (_, inbox) = page(s.mandy.clone(), "/inbox").await;
    assert!(inbox.contains("href=\"/compose\""));
    let (_, compose) = page(s.mandy.clone(), "/compose").await;
    assert!(
        compose.contains(&format!("value=\"{}\"", s.kowloon)),
        "{compose}"
    );
    assert!(
        !compose.contains(&format!("value=\"{}\"", s.hr)),
        "HR is not offered to a Retail manager"
    );
    // A form sent anyway is refused by the same rule, and the page says so.
    let csrf = meta_csrf(&app.page_as(&s.carl.1, "/inbox").await.1);
    let res = http
        .post(app.url("/compose"))
        .header("cookie", format!("rt_session={}", s.carl.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "_csrf={csrf}&title=Free+pizza&priority=normal&department={}",
            s.kowloon
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("may not send"));
}

#[tokio::test]
async fn an_emergency_needs_the_right_goes_out_at_night_and_reminds_on_wall_clock_minutes() {
    let s = shop().await;
    let app = &s.app;
    let (_, mandy_me) = app.get("/api/v1/me", Some(&s.mandy)).await;
    let mandy_id = mandy_me["id"].as_str().unwrap().to_string();
    // Saturday 23:00 in Hong Kong: outside working time, inside quiet hours.
    app.set_clock("2026-12-05T15:00:00Z").await;
    let plan = json!({"remind_after_minutes": 5, "max_reminders": 1});
    let emergency = json!({"title": "Typhoon Signal No. 8: stay home", "require_ack": true,
        "emergency_reason": "Typhoon Signal No. 8 from 23:20",
        "audience": {"departments": [s.kowloon]}, "reminders": plan});
    let (status, res) = try_send(app, &s.mandy, emergency.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a manager needs the right: {res}"
    );
    assert!(message(&res).contains("emergency"), "{res}");

    let (_, settings) = app.get("/api/v1/org/settings", Some(&s.admin)).await;
    let mut rights = settings["sending_rights"].clone();
    rights["emergency_senders"] = json!([mandy_id]);
    let (status, res) = set_rights(app, &s.admin, &rights).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(
        res["sending_rights"]["emergency_senders"],
        json!([mandy_id])
    );

    let (status, res) = try_send(app, &s.mandy, emergency).await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let id = res["id"].as_str().unwrap().to_string();
    let (_, sent) = app
        .get(&format!("/api/v1/messages/{id}"), Some(&s.mandy))
        .await;
    assert_eq!(sent["emergency_reason"], "Typhoon Signal No. 8 from 23:20");
    assert_eq!(sent["priority"], "urgent", "an emergency is urgent");
    assert_eq!(sent["async"], false, "it is not held for working time");
    // The same plan on an ordinary urgent notice waits for Monday's working time.
    let (status, res) = try_send(
        app,
        &s.mandy,
        json!({"title": "Stocktake moved", "priority": "urgent", "require_ack": true,
               "audience": {"departments": [s.kowloon]}, "reminders": plan}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{res}");
    let ordinary = res["id"].as_str().unwrap().to_string();

    app.advance(6).await;
    let reminders_of = |wanted: String| {
        let carl = s.carl.1.clone();
        async move {
            let (_, inbox) = app.get("/api/v1/messages?box=inbox", Some(&carl)).await;
            inbox["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == wanted.as_str())
                .and_then(|m| m["my_reminders"].as_i64())
        }
    };
    app.eventually(
        "the emergency's reminder five wall-clock minutes on, at night",
        std::time::Duration::from_secs(10),
        || async { (reminders_of(id.clone()).await == Some(1)).then_some(()) },
    )
    .await;
    assert_eq!(
        reminders_of(ordinary).await.unwrap_or(0),
        0,
        "the ordinary notice waits for working time"
    );

    // The override is on the record and counted where everyone can see it.
    let actions = app.audit_actions(&s.admin).await;
    assert!(
        actions.iter().any(|a| a == "message.emergency"),
        "{actions:?}"
    );
    let (_, policy) = app.page_as(&s.carl.1, "/policy").await;
    assert!(policy.contains("Emergency notices, 12 months"), "{policy}");
    let (_, notice) = app.page_as(&s.carl.1, &format!("/notices/{id}")).await;
    assert!(
        notice.contains("id=\"emergency\"") && notice.contains("Typhoon Signal No. 8 from 23:20")
    );
}
