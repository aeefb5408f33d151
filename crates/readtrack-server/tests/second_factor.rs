//! Two-step sign-in (TOTP, RFC 6238): turning it on, signing in with it through the API
//! and the sign-in page, no code accepted twice, turning it off and an admin's reset.
//! Codes come from the RFC's reference algorithm written out here (checked on the RFC's
//! own test vectors), not from the library the server uses.

mod common;

use axum::http::StatusCode;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

/// RFC 4648 base32 (upper case, no padding needed).
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 6238 with HMAC-SHA-1 and 30-second steps: the code of `digits` digits at `unix`.
fn totp(key: &[u8], unix: i64, digits: u32) -> String {
    let counter = (unix / 30) as u64;
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

#[test]
fn the_reference_codes_match_rfc_6238_appendix_b() {
    let key = b"12345678901234567890";
    assert_eq!(totp(key, 59, 8), "94287082");
    assert_eq!(totp(key, 1111111109, 8), "07081804");
    assert_eq!(totp(key, 1234567890, 8), "89005924");
    assert_eq!(totp(key, 20000000000, 8), "65353130");
}

/// The current code of `secret` on the server's clock.
fn code_now(app: &TestApp, secret: &str) -> String {
    let now: jiff::Timestamp = app.clock_now().parse().unwrap();
    totp(&base32_decode(secret), now.as_second(), 6)
}

async fn login(app: &TestApp, password: &str, code: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": "ada@harbour.example", "password": password});
    if let Some(code) = code {
        body["second_factor_code"] = json!(code);
    }
    app.post("/api/v1/auth/login", None, body).await
}

/// Ada, with two-step sign-in turned on; answers her session, the secret and the code
/// that turned it on.
async fn with_second_factor(app: &TestApp, org: &Org) -> (String, String, String) {
    let (_, ada) = app
        .person(&org.admin, "Ada", "ada@harbour.example", &org.root, true)
        .await;
    let (status, setup) = app
        .post("/api/v1/me/second-factor", Some(&ada), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_string();
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/") && url.contains(&format!("secret={secret}")),
        "{url}"
    );
    let (status, res) = app
        .post(
            "/api/v1/me/second-factor/confirm",
            Some(&ada),
            json!({"code": "12345"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    let first = code_now(app, &secret);
    let (status, res) = app
        .post(
            "/api/v1/me/second-factor/confirm",
            Some(&ada),
            json!({"code": first}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    (ada, secret, first)
}

#[tokio::test]
async fn sign_in_needs_a_fresh_code_once_two_step_sign_in_is_on() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (ada, secret, first) = with_second_factor(&app, &org).await;
    let (_, me) = app.get("/api/v1/me", Some(&ada)).await;
    assert_eq!(me["second_factor"], true);
    let (status, _) = app
        .post("/api/v1/me/second-factor", Some(&ada), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a second setup needs it off first"
    );

    let (status, res) = login(&app, "password123", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(res["error"]["code"], "second_factor_required", "{res}");
    // The code that turned it on is spent.
    let (status, res) = login(&app, "password123", Some(&first)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{res}");
    app.advance(1).await;
    let code = code_now(&app, &secret);
    let (status, res) = login(&app, "wrong password", Some(&code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(res["error"]["code"], "unauthenticated", "{res}");
    let (status, res) = login(&app, "password123", Some(&code)).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = login(&app, "password123", Some(&code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no code works twice");

    // Off again, with a current code; then the password alone signs in.
    let (status, _) = app
        .post(
            "/api/v1/me/second-factor/disable",
            Some(&ada),
            json!({"code": "000000x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.advance(1).await;
    let (status, res) = app
        .post(
            "/api/v1/me/second-factor/disable",
            Some(&ada),
            json!({"code": code_now(&app, &secret)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    let (status, _) = login(&app, "password123", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_removes_a_lost_second_factor_and_the_audit_log_says_so() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (ada, _, _) = with_second_factor(&app, &org).await;
    let (_, me) = app.get("/api/v1/me", Some(&ada)).await;
    let id = me["id"].as_str().unwrap();
    let path = format!("/api/v1/members/{id}/second-factor");
    let (status, _) = app.delete(&path, Some(&ada)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&path, Some(&org.admin)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = login(&app, "password123", None).await;
    assert_eq!(status, StatusCode::OK);
    let actions = app.audit_actions(&org.admin).await;
    assert!(
        actions.iter().any(|a| a == "second_factor.enabled")
            && actions.iter().any(|a| a == "second_factor.reset"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_sign_in_page_asks_for_the_code_after_the_password() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (_, secret, _) = with_second_factor(&app, &org).await;
    app.advance(1).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(app.url("/login")).send().await.unwrap();
    let csrf = cookie_value(page.headers(), "rt_login_csrf").expect("a sign-in CSRF cookie");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("id=\"second-factor-code\""),
        "not before the password"
    );
    let submit = |fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = app.url("/login");
        let csrf = csrf.clone();
        async move {
            let mut pairs: Vec<(&str, &str)> =
                vec![("email", "ada@harbour.example"), ("_csrf", csrf.as_str())];
            pairs.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            http.post(url)
                .header("cookie", format!("rt_login_csrf={csrf}"))
                .form_body(&pairs)
                .send()
                .await
                .unwrap()
        }
    };
    let asked = submit(vec![("password", "password123".into())]).await;
    assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
    assert!(
        asked
            .text()
            .await
            .unwrap()
            .contains("id=\"second-factor-code\""),
        "the page asks for the code"
    );
    let signed_in = submit(vec![
        ("password", "password123".into()),
        ("code", code_now(&app, &secret)),
    ])
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert!(
        cookie_value(signed_in.headers(), "rt_session").is_some(),
        "signed in"
    );
}
