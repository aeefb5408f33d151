//! Email over a real SMTP server (aiosmtpd from PyPI, started by the test; it parses each
//! message with Python's own email package): an urgent notice and its reminders reach the
//! recipients' mailboxes, an email's link signs its person in and opens the notice, a read
//! there lands on the sender's board, nothing more is mailed to someone who has read, an
//! escalation reaches the manager, and an address the server refuses is not tried again.
//! Invitations and password resets are emailed, and their link sets the password.

mod common;
#[path = "peers/smtp.rs"]
mod smtp;

use std::time::Duration;

use smtp::SmtpPeer;

use common::TestApp;
use readtrack_server::ServerConfig;
use readtrack_service::AppConfig;
use readtrack_service::mail::MailConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);
const PUBLIC_URL: &str = "https://readtrack.test";

/// The link in an email, on the test server instead of the public address.
fn link_in(mail: &Value, base: &str) -> String {
    let text = mail["text"].as_str().unwrap();
    let start = text.find(PUBLIC_URL).expect("a link in the text");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link.replace(PUBLIC_URL, base)
}

/// A server that sends email through `smtp`.
async fn mailing_app(smtp: &SmtpPeer) -> TestApp {
    TestApp::spawn_with(
        ServerConfig::default(),
        AppConfig {
            mail: Some((
                MailConfig {
                    smtp_url: format!("smtp://127.0.0.1:{}", smtp.port),
                    from: "Harbour Line <noreply@harbour.example>".into(),
                    public_url: PUBLIC_URL.into(),
                },
                readtrack_server::mail_renderer(),
            )),
            ..AppConfig::default()
        },
    )
    .await
}

/// The secret of a password link (`…/invite/SECRET`) in an email.
fn invite_secret(mail: &Value) -> String {
    let link = link_in(mail, "");
    link.strip_prefix("/invite/")
        .unwrap_or_else(|| panic!("an invitation link: {link}"))
        .to_string()
}

#[tokio::test]
async fn invitations_and_password_resets_are_emailed_and_their_link_sets_the_password() {
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Mong Kok", None).await;
    let (ada, _) = app
        .person(&org.admin, "Ada", "ada@hl.example", &dept, true)
        .await;
    // An invitation goes to the member's mailbox.
    let (status, invited) = app
        .post(
            &format!("/api/v1/members/{ada}/invitation"),
            Some(&org.admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["emailed"], true);
    let mail = smtp.until_mails("ada@hl.example", 1).await.remove(0);
    assert_eq!(
        mail["subject"],
        "You are invited to Harbour Line on readtrack"
    );
    assert_eq!(invite_secret(&mail), invited["token"].as_str().unwrap());

    // A reset is answered alike for a known and an unknown address; only the known one
    // gets an email, whose link sets a new password.
    for email in ["nobody@hl.example", "ada@hl.example"] {
        let (status, body) = app
            .post("/api/v1/auth/password-reset", None, json!({"email": email}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let mail = smtp.until_mails("ada@hl.example", 2).await.remove(1);
    assert_eq!(
        mail["subject"],
        "Reset your readtrack password for Harbour Line"
    );
    assert!(
        mail["text"].as_str().unwrap().contains("1 hours"),
        "{}",
        mail["text"]
    );
    let (status, body) = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({"token": invite_secret(&mail), "password": "a new password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.login("ada@hl.example", "a new password").await;
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ada@hl.example", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    assert!(smtp.mails_to("nobody@hl.example").is_empty());
    // The sign-in page offers the reset.
    let page = reqwest::get(format!("{}/password-reset", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Email me a link"), "{page}");
}

#[tokio::test]
async fn notices_and_reminders_reach_the_mailbox_and_their_link_opens_the_notice() {
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let app = mailing_app(&smtp).await;
    // Wednesday 10:00 in Hong Kong: working time.
    app.set_clock("2026-12-02T02:00:00Z").await;
    let org = app.setup().await;
    let dept = app.department(&org.admin, "Mong Kok", None).await;
    let (_, sender) = app
        .person(&org.admin, "Grace", "grace@hl.example", &dept, true)
        .await;
    let (manager, _) = app
        .person(&org.admin, "Patrick", "patrick@hl.example", &dept, true)
        .await;
    let person = |name: &str, email: &str| json!({"name": name, "email": email, "department_id": dept, "manager_id": manager});
    let (ada, _) = app
        .person_with(&org.admin, person("Ada", "ada@hl.example"), true)
        .await;
    let (bo, _) = app
        .person_with(&org.admin, person("Bo", "bo@hl.example"), true)
        .await;
    let (gone, _) = app
        .person_with(&org.admin, person("Cy", "refused@hl.example"), true)
        .await;
    // Di wants no reminders by email.
    let (di, di_token) = app
        .person_with(&org.admin, person("Di", "di@hl.example"), true)
        .await;
    let (status, _) = app
        .put(
            "/api/v1/me/notifications",
            Some(&di_token),
            json!({"email_reminders": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = app
        .send(
            &sender,
            json!({"title": "Typhoon signal 8", "body": "Stores close at **15:00**.", "priority": "urgent",
                   "require_ack": true, "audience": {"members": [ada, bo, gone, di]},
                   "reminders": {"remind_after_minutes": 60, "remind_every_minutes": 60, "max_reminders": 2,
                                 "escalate_after_minutes": 150, "escalate_to": ["manager"]}}),
        )
        .await;

    // An urgent notice is mailed at once, in plain text and HTML, with no image in it.
    let mail = smtp.until_mails("ada@hl.example", 1).await.remove(0);
    assert_eq!(mail["subject"], "[Urgent] Typhoon signal 8");
    assert_eq!(mail["auto_submitted"], "auto-generated");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("Stores close at **15:00**.")
    );
    let html = mail["html"].as_str().unwrap();
    assert!(html.contains("<strong>15:00</strong>"), "{html}");
    assert!(
        !html.contains("<img"),
        "nothing in an email loads when it is opened"
    );

    // Opening the email changed nothing on the board.
    let row = |board: &Value, member: &str| {
        board["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["member_id"] == member)
            .cloned()
            .unwrap()
    };
    let (_, board) = app.board(&sender, &id, "").await;
    assert_eq!(row(&board, &ada)["state"], "sent");

    // Its link signs Ada in and opens the notice.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = link_in(&mail, &app.base);
    let opened = browser.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(opened.headers()["location"], format!("/notices/{id}"));
    let session = common::cookie_value(opened.headers(), readtrack_server::SESSION_COOKIE)
        .expect("signed in by the link");
    let page = browser
        .get(format!("{}/notices/{id}", app.base))
        .header(
            "cookie",
            format!("{}={session}", readtrack_server::SESSION_COOKIE),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Typhoon signal 8"));
    // The page reports the read and the confirmation as any page does.
    let now = "2026-12-02T02:01:00Z";
    app.receipts(
        &session,
        json!([{"event_id": "mail-read-1", "message_id": id, "kind": "read", "at": now},
               {"event_id": "mail-ack-1", "message_id": id, "kind": "ack", "at": now}]),
    )
    .await;
    let (_, board) = app.board(&sender, &id, "").await;
    assert_eq!(row(&board, &ada)["state"], "acknowledged");
    // Someone else's copy of the link does not sign them in as Ada once it expires, and
    // a made-up link is refused.
    let bogus = browser
        .get(format!("{}/l/rt_notALink", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::GONE);

    // An hour later Bo is reminded by email; Ada, who confirmed, is not.
    app.advance(60).await;
    let bo_mails = smtp.until_mails("bo@hl.example", 2).await;
    assert!(
        bo_mails[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Reminder: Typhoon signal 8"),
        "{:?}",
        bo_mails[1]["subject"]
    );
    // The sender's board shows what Bo was emailed; Ada's export lists her email, with
    // when she opened its link.
    let (_, board) = app.board(&sender, &id, "").await;
    let reasons: Vec<_> = row(&board, &bo)["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["notice", "reminder"]);
    let (_, export) = app.get("/api/v1/me/export", Some(&session)).await;
    let emails = export["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{export}");
    assert!(emails[0]["opened_at"].is_string(), "{export}");
    // Di got the urgent notice, which is essential, but not the reminder: her export says
    // why it was held back.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, export) = app.get("/api/v1/me/export", Some(&di_token)).await;
        let held = export["emails"].as_array().unwrap().iter().any(|e| {
            e["reason"] == "reminder" && e["answer"] == "the person switched email reminders off"
        });
        if held {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{export}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(smtp.mails_to("di@hl.example").len(), 1);
    // The escalation reaches the manager, naming Bo, not Ada.
    app.advance(90).await;
    let up = smtp.until_mails("patrick@hl.example", 1).await;
    assert!(
        up.iter()
            .any(|m| m["subject"] == "Not yet read by Bo: Typhoon signal 8"),
        "{up:?}"
    );
    assert!(
        !up.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("Ada")),
        "{up:?}"
    );
    assert_eq!(
        smtp.mails_to("ada@hl.example").len(),
        1,
        "nothing after the read"
    );
    // The refused address was tried once, then never again.
    let refused = smtp
        .log()
        .iter()
        .filter(|m| m["refused"] == "refused@hl.example")
        .count();
    assert_eq!(refused, 1);
    // The admins see it on the directory, until the address is corrected.
    let (_, directory) = app.page_as(&org.admin, "/admin/directory").await;
    assert_eq!(
        directory.matches("emails refused").count(),
        1,
        "{directory}"
    );
    let (status, _) = app
        .patch(
            &format!("/api/v1/members/{gone}"),
            Some(&org.admin),
            json!({"email": "cy@hl.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, directory) = app.page_as(&org.admin, "/admin/directory").await;
    assert!(!directory.contains("emails refused"));
    // The link of a person opens only their own notice page, and Bo's reminder link, too,
    // signs Bo in.
    let bo_link = link_in(&bo_mails[1], &app.base);
    let bo_opened = browser.get(&bo_link).send().await.unwrap();
    assert_eq!(bo_opened.status(), StatusCode::SEE_OTHER);
}
