//! Invitations: an admin invites a member, the one-time link lets them choose a password
//! and signs them in; the link works once, for a week, only for an active member, and a
//! newer invitation replaces it. Through the API and through the pages.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

struct Invited {
    app: TestApp,
    admin: String,
    ada: String,
}

/// An organisation and Ada, added without a password.
async fn invited() -> Invited {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (status, ada) = app
        .post(
            "/api/v1/members",
            Some(&org.admin),
            json!({"name": "Ada Chan", "email": "ada@harbour.example", "department_id": org.root}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    Invited {
        app,
        admin: org.admin,
        ada: ada["id"].as_str().unwrap().to_string(),
    }
}

async fn try_invite(t: &Invited) -> (StatusCode, Value) {
    t.app
        .post(
            &format!("/api/v1/members/{}/invitation", t.ada),
            Some(&t.admin),
            json!({}),
        )
        .await
}

async fn invite(t: &Invited) -> Value {
    let (status, inv) = try_invite(t).await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    inv
}

async fn accept(t: &Invited, token: &str, password: &str) -> (StatusCode, Value) {
    t.app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({"token": token, "password": password}),
        )
        .await
}

#[tokio::test]
async fn an_invited_member_chooses_a_password_once_and_is_signed_in() {
    let t = invited().await;
    let inv = invite(&t).await;
    let token = inv["token"].as_str().unwrap();
    assert_eq!(inv["member_id"], t.ada);
    assert!(
        inv["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/invite/{token}")),
        "{inv}"
    );
    let expires: jiff::Timestamp = inv["expires_at"].as_str().unwrap().parse().unwrap();
    let now: jiff::Timestamp = t.app.clock_now().parse().unwrap();
    let week = expires.duration_since(now).as_hours();
    assert!((167..=168).contains(&week), "a week: {week} h");

    // A short password is refused and the link still works.
    let (status, res) = accept(&t, token, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    let (status, res) = accept(&t, token, "a good long password").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let session = res["token"].as_str().unwrap();
    let (_, me) = t.app.get("/api/v1/me", Some(session)).await;
    assert_eq!(me["id"], t.ada, "signed in as Ada");
    t.app
        .login("ada@harbour.example", "a good long password")
        .await;
    // Used up.
    let (status, _) = accept(&t, token, "another long password").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions = t.app.audit_actions(&t.admin).await;
    assert!(actions.iter().any(|a| a == "member.invited"), "{actions:?}");
}

#[tokio::test]
async fn a_newer_invitation_replaces_the_last_and_one_lasts_a_week() {
    let t = invited().await;
    let first = invite(&t).await;
    let second = invite(&t).await;
    let (status, _) = accept(&t, first["token"].as_str().unwrap(), "a good long password").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "replaced");
    let third = invite(&t).await;
    t.app.advance(7 * 24 * 60 + 1).await;
    let (status, _) = accept(&t, third["token"].as_str().unwrap(), "a good long password").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "expired after a week");
    let _ = second;
}

#[tokio::test]
async fn accepting_a_new_invitation_ends_the_sessions_made_with_the_old_password() {
    let t = invited().await;
    let first = invite(&t).await;
    let (status, res) = accept(&t, first["token"].as_str().unwrap(), "the first password").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let old_session = res["token"].as_str().unwrap().to_string();
    // She forgot it; the admin invites her again.
    let again = invite(&t).await;
    let (status, res) = accept(&t, again["token"].as_str().unwrap(), "the second password").await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = t.app.get("/api/v1/me", Some(&old_session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    let (status, _) = t
        .app
        .get("/api/v1/me", Some(res["token"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_deactivated_member_cannot_be_invited_nor_use_an_earlier_link() {
    let t = invited().await;
    let inv = invite(&t).await;
    let (status, _) = t
        .app
        .patch(
            &format!("/api/v1/members/{}", t.ada),
            Some(&t.admin),
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = accept(&t, inv["token"].as_str().unwrap(), "a good long password").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, res) = try_invite(&t).await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
}

#[tokio::test]
async fn the_directory_page_makes_the_link_and_the_invitation_page_signs_the_person_in() {
    let t = invited().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let admin_cookie = format!("rt_session={}", t.admin);
    let directory = http
        .get(t.app.url("/admin/directory"))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(directory.contains(&format!("/admin/members/{}/invite", t.ada)));
    let csrf = meta_csrf(&directory);
    let page = http
        .post(t.app.url(&format!("/admin/members/{}/invite", t.ada)))
        .header("cookie", &admin_cookie)
        .form_body(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let start = page
        .find("id=\"invitation-url\"")
        .expect("the link is shown");
    let link_at = page[..start].rfind("value=\"").unwrap() + "value=\"".len();
    let link = page[link_at..].split('"').next().unwrap().to_string();
    let path = &link[link.find("/invite/").unwrap()..];
    assert!(page.contains("invited until"), "the row says so");

    // The person opens the link: a form greeting them by name.
    let form = http.get(t.app.url(path)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let login_csrf = cookie_value(form.headers(), "rt_login_csrf").expect("a sign-in CSRF cookie");
    let form = form.text().await.unwrap();
    assert!(form.contains("Ada Chan"), "{form}");
    let res = http
        .post(t.app.url(path))
        .header("cookie", format!("rt_login_csrf={login_csrf}"))
        .form_body(&[
            ("_csrf", login_csrf.as_str()),
            ("password", "a good long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/policy");
    assert!(
        cookie_value(res.headers(), "rt_session").is_some(),
        "signed in"
    );
    // The link is spent: the page says so.
    let again = http.get(t.app.url(path)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("id=\"invite-invalid\"")
    );
}
