//! The web pages without a browser: sign-in cookies, CSRF on forms and on cookie
//! authenticated API calls, security headers, escaping, the board's CSV, the audience
//! preview, first-run setup and the directory import's error report.

mod common;

use common::{TestApp, now, receipt};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// An `application/x-www-form-urlencoded` body, as a browser sends a form.
trait FormBody {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    }
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(String::from)
        .collect()
}

fn cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(h).iter().find_map(|c| {
        c.strip_prefix(&format!("{name}="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    })
}

/// The value of the first `name="..." value="..."`-style attribute pair in a page.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_string())
}

/// The CSRF token a signed-in page carries.
async fn page_csrf(app: &TestApp, token: &str) -> String {
    let res = client()
        .get(app.url("/inbox"))
        .header(COOKIE, format!("rt_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    attr_after(&html, "name=\"csrf-token\"", "content").expect("the page carries a CSRF token")
}

#[tokio::test]
async fn signing_in_through_the_form_sets_an_http_only_same_site_strict_session_cookie() {
    let app = TestApp::spawn().await;
    app.setup().await;
    let http = client();
    let page = http.get(app.url("/login")).send().await.unwrap();
    let login_csrf = cookie_value(page.headers(), "rt_login_csrf").expect("a sign-in CSRF cookie");
    let html = page.text().await.unwrap();
    assert_eq!(
        attr_after(&html, "name=\"_csrf\"", "value").as_deref(),
        Some(login_csrf.as_str())
    );
    let form = [
        ("email", "ivy@harbour.example"),
        ("password", "correct horse"),
        ("next", "/inbox"),
    ];

    let forged = http
        .post(app.url("/login"))
        .form_body(&[form[0], form[1], ("_csrf", "made-up-elsewhere")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a form from another site cannot sign anyone in"
    );
    assert!(cookie_value(forged.headers(), "rt_session").is_none());

    let res = http
        .post(app.url("/login"))
        .header(COOKIE, format!("rt_login_csrf={login_csrf}"))
        .form_body(&[form[0], form[1], form[2], ("_csrf", login_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/inbox");
    let session = set_cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("rt_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain HTTP keeps working on localhost: {session}"
    );

    let behind_tls = http
        .post(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .header(COOKIE, format!("rt_login_csrf={login_csrf}"))
        .form_body(&[form[0], form[1], ("_csrf", login_csrf.as_str())])
        .send()
        .await
        .unwrap();
    let secure = set_cookies(behind_tls.headers())
        .into_iter()
        .find(|c| c.starts_with("rt_session="))
        .unwrap();
    assert!(secure.contains("; Secure"), "{secure}");

    let wrong = http
        .post(app.url("/login"))
        .header(COOKIE, format!("rt_login_csrf={login_csrf}"))
        .form_body(&[
            form[0],
            ("password", "wrong horse"),
            ("_csrf", login_csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong email or password.")
    );
}

#[tokio::test]
async fn cookie_authenticated_api_writes_need_the_csrf_header_and_bearer_calls_do_not() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (reader_id, reader) = app
        .person(
            &org.admin,
            "Kelvin Chan",
            "kelvin@harbour.example",
            &org.root,
            true,
        )
        .await;
    let id = app
        .send(
            &org.admin,
            json!({"title": "Drill", "priority": "urgent", "audience": {"members": [reader_id]}}),
        )
        .await;
    let csrf = page_csrf(&app, &reader).await;
    let http = client();
    let post = |event: &str| {
        http.post(app.url("/api/v1/receipts"))
            .header(COOKIE, format!("rt_session={reader}"))
            .json(&json!({"receipts": [receipt(event, &id, "delivered", &now())]}))
    };

    let refused = post("e-1").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "csrf_failed"
    );
    let wrong = post("e-2")
        .header("x-csrf-token", "not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let ok = post("e-3")
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.json::<Value>().await.unwrap()["results"][0]["status"],
        "applied"
    );

    // Reads with the cookie and every Bearer call are unchanged.
    let read = http
        .get(app.url("/api/v1/messages"))
        .header(COOKIE, format!("rt_session={reader}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let results = app
        .receipts(&reader, json!([receipt("e-4", &id, "read", &now())]))
        .await;
    assert_eq!(results[0]["status"], "applied");
}

#[tokio::test]
async fn pages_forbid_framing_and_inline_script_and_escape_what_senders_write() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (reader_id, reader) = app
        .person(
            &org.admin,
            "Kelvin Chan",
            "kelvin@harbour.example",
            &org.root,
            true,
        )
        .await;
    let id = app
        .send(
            &org.admin,
            json!({"title": "<img src=x onerror=alert(1)> Drill", "body": "<script>alert(2)</script>\n\n**Leave by the stairs**",
                   "priority": "urgent", "audience": {"members": [reader_id]}}),
        )
        .await;
    let res = client()
        .get(app.url(&format!("/notices/{id}")))
        .header(COOKIE, format!("rt_session={reader}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt; Drill") || html.contains("&#60;img"),
        "the title is escaped"
    );
    assert!(
        !html.contains("<img src=x") && !html.contains("alert(2)"),
        "no sender markup runs"
    );
    assert!(
        html.contains("<strong>Leave by the stairs</strong>"),
        "Markdown renders"
    );
    for tag in html.split("<script").skip(1) {
        let opening = &tag[..tag.find('>').unwrap()];
        assert!(
            opening.contains("src=") || opening.contains("application/json"),
            "an inline script: <script{opening}>"
        );
    }
}

#[tokio::test]
async fn the_board_csv_lists_only_the_people_the_board_may_show() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (kelvin_id, kelvin) = app
        .person(
            &org.admin,
            "Kelvin Chan",
            "kelvin@harbour.example",
            &org.root,
            true,
        )
        .await;
    let (mei_id, mei) = app
        .person(
            &org.admin,
            "Mei Ling Wong",
            "mei@harbour.example",
            &org.root,
            false,
        )
        .await;
    let (_, grace) = app
        .person(
            &org.admin,
            "Grace Wong",
            "grace@harbour.example",
            &org.root,
            true,
        )
        .await;
    let id = app
        .send(
            &grace,
            json!({"title": "Roster", "priority": "urgent", "tracking": "per_person", "audience": {"members": [kelvin_id, mei_id]}}),
        )
        .await;
    app.receipts(&kelvin, json!([receipt("k-1", &id, "read", &now())]))
        .await;
    app.receipts(&mei, json!([receipt("m-1", &id, "read", &now())]))
        .await;

    let res = app
        .http
        .get(app.url(&format!("/api/v1/messages/{id}/receipts.csv")))
        .bearer_auth(&grace)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "name,department,state,delivered_at,read_at,acked_at,response,outside_working_hours,reminders,escalated_at"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with("Kelvin Chan,Harbour Line,read,"),
        "{csv}"
    );
    assert!(
        !csv.contains("Mei Ling"),
        "a member who has not acknowledged the policy is never listed"
    );
    let (_, board) = app.board(&grace, &id, "").await;
    assert_eq!(
        board["items"].as_array().unwrap().len(),
        lines.len() - 1,
        "the CSV holds what the board holds"
    );

    let other = app
        .http
        .get(app.url(&format!("/api/v1/messages/{id}/receipts.csv")))
        .bearer_auth(&kelvin)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_audience_preview_counts_each_person_once_and_leaves_out_the_sender() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let retail = app.department(&org.admin, "Retail", Some(&org.root)).await;
    let kowloon = app.department(&org.admin, "Kowloon", Some(&retail)).await;
    let (kelvin, _) = app
        .person(
            &org.admin,
            "Kelvin Chan",
            "kelvin@harbour.example",
            &retail,
            true,
        )
        .await;
    app.person(
        &org.admin,
        "Mei Ling Wong",
        "mei@harbour.example",
        &kowloon,
        true,
    )
    .await;
    let (_, grace) = app
        .person(
            &org.admin,
            "Grace Wong",
            "grace@harbour.example",
            &retail,
            true,
        )
        .await;
    let preview = |body: Value| {
        let grace = grace.clone();
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/web/audience/preview"))
                .bearer_auth(&grace)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, count) = preview(json!({"departments": [retail], "members": [kelvin]})).await;
    assert_eq!(status, StatusCode::OK, "{count}");
    assert_eq!(
        count["recipients"], 2,
        "Kelvin once, Mei Ling through the sub-department, not the sender"
    );
    assert_eq!(count["departments"], 2);
    let (_, empty) = preview(json!({"departments": [], "members": []})).await;
    assert_eq!(empty["recipients"], 0);
    let (status, unknown) = preview(json!({"departments": ["999999"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["error"]["code"], "unknown_department");
}

#[tokio::test]
async fn the_first_run_form_creates_the_organisation_and_signs_its_admin_in() {
    let app = TestApp::spawn().await;
    let http = client();
    let root = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.headers()[LOCATION], "/setup");
    let page = http.get(app.url("/setup")).send().await.unwrap();
    let csrf = cookie_value(page.headers(), "rt_login_csrf").unwrap();
    let res = http
        .post(app.url("/setup"))
        .header(COOKIE, format!("rt_login_csrf={csrf}"))
        .form_body(&[
            ("org_name", "Harbour Line"),
            ("time_zone", "Asia/Hong_Kong"),
            ("name", "Ivy Lam"),
            ("email", "ivy@harbour.example"),
            ("password", "correct horse"),
            ("_csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = cookie_value(res.headers(), "rt_session").expect("the admin is signed in");
    let directory = http
        .get(app.url("/admin/directory"))
        .header(COOKIE, format!("rt_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(directory.status(), StatusCode::OK);
    assert!(directory.text().await.unwrap().contains("Ivy Lam"));
    let again = http.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(again.headers()[LOCATION], "/login", "setup happens once");
}

#[tokio::test]
async fn the_directory_import_reports_each_bad_line_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let csrf = page_csrf(&app, &org.admin).await;
    let csv = "name,email,department,manager_email,backup_email,role\n\
               Kelvin Chan,kelvin@harbour.example,Retail/Kowloon,,,\n\
               No Email,,Retail,,,\n\
               Bad Role,bad@harbour.example,Retail,,,owner\n";
    let boundary = "readtrack-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
         --{boundary}--\r\n"
    );
    let res = client()
        .post(app.url("/admin/import"))
        .header(COOKIE, format!("rt_session={}", org.admin))
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("nothing was written"),
        "the report says the file was refused"
    );
    assert!(
        html.contains(">3</td>") && html.contains(">4</td>"),
        "each bad line is named"
    );
    let (_, members) = app.get("/api/v1/members?q=kelvin", Some(&org.admin)).await;
    assert_eq!(
        members["items"].as_array().unwrap().len(),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_link_from_another_site_reloads_from_this_site_before_asking_to_sign_in() {
    let app = TestApp::spawn().await;
    app.setup().await;
    let http = client();
    // A top-level navigation from webmail arrives without the SameSite=Strict cookie.
    let from_mail = http
        .get(app.url("/notices/7?x=1&y=2"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(from_mail.status(), StatusCode::OK);
    let html = from_mail.text().await.unwrap();
    assert!(
        html.contains("http-equiv=\"refresh\" content=\"0; url=/notices/7?x=1&amp;y=2\""),
        "{html}"
    );
    // The same-site reload of a visitor who really is signed out reaches the sign-in page.
    let same_site = http
        .get(app.url("/notices/7"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::SEE_OTHER);
    assert_eq!(same_site.headers()[LOCATION], "/login?next=/notices/7");
}
