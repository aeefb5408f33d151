//! The web pages without a browser: sign-in cookies, CSRF on forms and on cookie
//! authenticated API calls, security headers, escaping, the board's CSV, the audience
//! preview, first-run setup and the directory import's error report.

mod common;

use common::{FormBody, TestApp, cookie_value, now, receipt, set_cookies};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use serde_json::{Value, json};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
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
    let forged = set_cookies(behind_tls.headers())
        .into_iter()
        .find(|c| c.starts_with("rt_session="))
        .unwrap();
    assert!(
        !forged.contains("; Secure"),
        "X-Forwarded-Proto counts only from a trusted proxy (credentials suite): {forged}"
    );

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
            ("setup_code", app.service.setup_code()),
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

/// A page as a signed-in browser gets it: (status, HTML).
async fn page(app: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    app.page_as(token, path).await
}

/// A page as a signed-in browser set to Chinese (Hong Kong) sees it.
async fn page_in_chinese(app: &TestApp, token: &str, path: &str) -> String {
    client()
        .get(app.url(path))
        .header(COOKIE, format!("rt_session={token}"))
        .header("accept-language", "zh-HK,zh;q=0.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A form posted from a signed-in browser; the response is not followed.
async fn post_form(
    app: &TestApp,
    token: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header(COOKIE, format!("rt_session={token}"))
        .form_body(pairs)
        .send()
        .await
        .unwrap()
}

/// The links of a page's main navigation.
fn nav_links(html: &str) -> Vec<String> {
    let Some(start) = html.find("class=\"main-nav\"") else {
        return Vec::new();
    };
    let end = html[start..]
        .find("</nav>")
        .map_or(html.len(), |e| start + e);
    html[start..end]
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(String::from)
        .collect()
}

/// An organisation with an auditor, a manager and the person who reports to them.
struct Roles {
    app: TestApp,
    org: common::Org,
    auditor: String,
    manager: (String, String),
    member: (String, String),
}

async fn roles() -> Roles {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (_, auditor) = app
        .person_with(
            &org.admin,
            json!({"name": "Olive Audit", "email": "olive@harbour.example", "department_id": org.root, "role": "auditor"}),
            true,
        )
        .await;
    let manager = app
        .person(
            &org.admin,
            "Patrick Manager",
            "patrick@harbour.example",
            &org.root,
            true,
        )
        .await;
    let member = app
        .person_with(
            &org.admin,
            json!({"name": "Kelvin Chan", "email": "kelvin@harbour.example", "department_id": org.root, "manager_id": manager.0}),
            true,
        )
        .await;
    Roles {
        app,
        org,
        auditor,
        manager,
        member,
    }
}

#[tokio::test]
async fn each_new_page_opens_for_the_people_it_is_for_and_refuses_everyone_else() {
    let r = roles().await;
    let (app, admin, auditor) = (&r.app, &r.org.admin, &r.auditor);
    let (manager, member) = (&r.manager.1, &r.member.1);
    let cases: [(&str, [StatusCode; 4]); 7] = [
        ("/tasks", [StatusCode::OK; 4]),
        ("/me/data", [StatusCode::OK; 4]),
        ("/policy", [StatusCode::OK; 4]),
        (
            "/analytics",
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::FORBIDDEN,
            ],
        ),
        (
            "/admin/settings",
            [
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
            ],
        ),
        (
            "/admin/surveys",
            [
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
            ],
        ),
        (
            "/admin/audit",
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
            ],
        ),
    ];
    for (path, expected) in cases {
        for (who, (token, want)) in ["admin", "auditor", "manager", "member"]
            .iter()
            .zip([admin, auditor, manager, member].into_iter().zip(expected))
        {
            let (status, html) = page(app, token, path).await;
            assert_eq!(status, want, "{path} for the {who}");
            assert!(html.contains("<!doctype html>"), "{path} is a page");
        }
    }

    // The navigation offers each person what they may open, and nothing else.
    let nav = |token: &str| {
        let token = token.to_string();
        async move { nav_links(&page(app, &token, "/inbox").await.1) }
    };
    let admin_nav = nav(admin).await;
    for href in [
        "/tasks",
        "/me/data",
        "/policy",
        "/analytics",
        "/admin/settings",
    ] {
        assert!(
            admin_nav.iter().any(|h| h == href),
            "{href} in {admin_nav:?}"
        );
    }
    let auditor_nav = nav(auditor).await;
    assert!(
        auditor_nav.iter().any(|h| h == "/admin/audit"),
        "{auditor_nav:?}"
    );
    assert!(!auditor_nav.iter().any(|h| h == "/admin/settings"));
    assert!(nav(manager).await.iter().any(|h| h == "/analytics"));
    let member_nav = nav(member).await;
    assert!(member_nav.iter().any(|h| h == "/tasks"), "{member_nav:?}");
    assert!(
        !member_nav
            .iter()
            .any(|h| h == "/analytics" || h.starts_with("/admin")),
        "{member_nav:?}"
    );

    // The pages are in Chinese for a Chinese browser, like the rest of the app.
    let zh = page_in_chinese(app, member, "/tasks").await;
    assert!(zh.contains("<h1>待辦事項</h1>"), "{zh}");
    // One name for the policy: the navigation says what the policy page is called.
    assert!(zh.contains("通訊政策") && !zh.contains("私隱政策"), "{zh}");
}

#[tokio::test]
async fn every_form_of_the_new_pages_refuses_a_post_without_the_session_csrf_token() {
    let r = roles().await;
    let (app, admin, member) = (&r.app, &r.org.admin, &r.member.1);
    let (_, survey) = app
        .post(
            "/api/v1/surveys",
            Some(admin),
            json!({"title": "How is it?"}),
        )
        .await;
    let survey = survey["id"].as_str().unwrap().to_string();
    let forms = [
        (member, "/tasks/1/complete".to_string(), vec![]),
        (member, "/policy/ack".to_string(), vec![("version", "1")]),
        (
            member,
            format!("/surveys/{survey}"),
            vec![("monitored", "2"), ("helped", "4")],
        ),
        (
            admin,
            "/admin/settings".to_string(),
            vec![("time_zone", "UTC")],
        ),
        (
            admin,
            "/admin/surveys".to_string(),
            vec![("title", "Again?")],
        ),
    ];
    for (token, path, fields) in forms {
        for csrf in [None, Some("made-up-elsewhere")] {
            let mut pairs = fields.clone();
            if let Some(c) = csrf {
                pairs.push(("_csrf", c));
            }
            let res = post_form(app, token, &path, &pairs).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
            assert!(
                res.text().await.unwrap().contains("The form expired"),
                "{path} says why"
            );
        }
    }
    let (_, settings) = app.get("/api/v1/org/settings", Some(admin)).await;
    assert_eq!(
        settings["time_zone"], "Asia/Hong_Kong",
        "nothing was changed"
    );
    let (_, surveys) = app.get("/api/v1/surveys", Some(member)).await;
    assert_eq!(surveys["items"].as_array().unwrap().len(), 1);
    assert_eq!(surveys["items"][0]["answered"], false);
}

#[tokio::test]
async fn acknowledging_the_policy_on_its_page_records_it_and_lifts_the_banner_on_every_page() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (_, mei) = app
        .person(
            &org.admin,
            "Mei Ling Wong",
            "mei@harbour.example",
            &org.root,
            false,
        )
        .await;
    let (_, inbox) = page(&app, &mei, "/inbox").await;
    assert!(
        inbox.contains("class=\"policy-banner\""),
        "a banner until acknowledged"
    );
    let (status, policy) = page(&app, &mei, "/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !policy.contains("class=\"policy-banner\""),
        "the policy page itself needs no banner"
    );
    assert!(policy.contains("id=\"acknowledge\""));
    assert!(
        policy.contains("readtrack records when you receive"),
        "the policy text"
    );
    // The numbers the README promises are on the page, as the organisation set them.
    let rules = &policy[policy.find("id=\"policy-rules\"").expect("the rules card")..];
    for fact in [
        "Keep per-person details for (days)</dt><dd>180",
        "Smallest group reported (people)</dt><dd>5",
        "Quiet hours</dt><dd>20:00–08:00",
        "Per-person tracking</dt><dd>Important, Urgent",
    ] {
        assert!(rules.contains(fact), "{fact} in {rules}");
    }
    let version = attr_after(&policy, "name=\"version\"", "value").unwrap();
    assert_eq!(version, "1");

    let csrf = page_csrf(&app, &mei).await;
    let res = post_form(
        &app,
        &mei,
        "/policy/ack",
        &[("version", &version), ("_csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/policy?done=1");
    let (_, me) = app.get("/api/v1/me", Some(&mei)).await;
    assert_eq!(me["policy_ack_version"], 1);
    let (_, done) = page(&app, &mei, "/policy?done=1").await;
    assert!(done.contains("data-acked=\"true\""), "{done}");
    let (_, inbox) = page(&app, &mei, "/inbox").await;
    assert!(!inbox.contains("class=\"policy-banner\""));

    // A new version brings the banner back, and acknowledging an old one is refused.
    let (s, _) = app
        .patch(
            "/api/v1/org/settings",
            Some(&org.admin),
            json!({"policy": {"text": "A shorter policy, version two."}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, inbox) = page(&app, &mei, "/inbox").await;
    assert!(inbox.contains("class=\"policy-banner\""));
    let stale = post_form(
        &app,
        &mei,
        "/policy/ack",
        &[("version", "1"), ("_csrf", &csrf)],
    )
    .await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert!(stale.text().await.unwrap().contains("The policy changed"));
}

#[tokio::test]
async fn the_policy_can_have_a_version_per_language_and_each_reader_sees_their_own() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let admin = &org.admin;
    let (_, mei) = app
        .person(
            admin,
            "Mei Ling Wong",
            "mei@harbour.example",
            &org.root,
            false,
        )
        .await;
    let (status, html) = page(&app, admin, "/admin/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("name=\"policy_text.zh-Hant\""),
        "a box per language"
    );
    let zh_text = "readtrack 會記錄你何時收到、閱讀及確認重要通告。";
    let form = settings_form(&app, admin, &[("policy_text.zh-Hant", zh_text)]).await;
    let res = post_pairs(&app, admin, "/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, policy) = app.get("/api/v1/policy", Some(&mei)).await;
    assert_eq!(
        policy["version"], 2,
        "a new translation is a new version: {policy}"
    );
    assert_eq!(policy["translations"]["zh-Hant"], zh_text);
    // Saving the same form again changes nothing.
    let form = settings_form(&app, admin, &[]).await;
    let res = post_pairs(&app, admin, "/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, policy) = app.get("/api/v1/policy", Some(&mei)).await;
    assert_eq!(policy["version"], 2);

    let zh = page_in_chinese(&app, &mei, "/policy").await;
    assert!(
        zh.contains(zh_text),
        "a Chinese reader reads the Chinese version"
    );
    let (_, en) = page(&app, &mei, "/policy").await;
    assert!(!en.contains(zh_text));
    assert!(
        en.contains("readtrack records when you receive"),
        "the main text"
    );

    // A key that is not a language tag is refused by name, and nothing changes.
    let (status, body) = app
        .patch(
            "/api/v1/org/settings",
            Some(admin),
            json!({"policy": {"text": "x", "translations": {"Chinese": "中文"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("policy.translations"), "{body}");
    let (_, policy) = app.get("/api/v1/policy", Some(&mei)).await;
    assert_eq!(policy["version"], 2);
}

/// The settings form as the page fills it in, with some fields replaced.
async fn settings_form(
    app: &TestApp,
    admin: &str,
    replace: &[(&str, &str)],
) -> Vec<(String, String)> {
    let (status, html) = page(app, admin, "/admin/settings").await;
    assert_eq!(status, StatusCode::OK);
    let mut pairs: Vec<(String, String)> = vec![
        ("_csrf".into(), page_csrf(app, admin).await),
        (
            "time_zone".into(),
            attr_after(&html, "name=\"time_zone\"", "value").unwrap(),
        ),
        ("work_start".into(), "09:00".into()),
        ("work_end".into(), "18:00".into()),
        ("quiet_start".into(), "20:00".into()),
        ("quiet_end".into(), "08:00".into()),
        ("quiet_reads".into(), "coarse".into()),
        ("retention_days".into(), "180".into()),
        ("min_group_size".into(), "5".into()),
        ("important.on".into(), "on".into()),
        ("important.remind_after".into(), "120".into()),
        ("important.max_reminders".into(), "2".into()),
        ("urgent.on".into(), "on".into()),
        ("urgent.remind_after".into(), "60".into()),
        ("urgent.max_reminders".into(), "1".into()),
        ("urgent.escalate_after".into(), "240".into()),
        ("urgent.manager".into(), "on".into()),
        ("urgent.task".into(), "on".into()),
    ];
    for day in ["1", "2", "3", "4", "5"] {
        pairs.push(("day".into(), day.into()));
    }
    for p in ["important", "urgent"] {
        pairs.push(("tracking_for".into(), p.into()));
    }
    let policy_start = html.find("name=\"policy_text\"").unwrap();
    let text_start = policy_start + html[policy_start..].find('>').unwrap() + 1;
    let text_end = text_start + html[text_start..].find("</textarea>").unwrap();
    let policy = html[text_start..text_end]
        .replace("&#x27;", "'")
        .replace("&#39;", "'");
    pairs.push(("policy_text".into(), policy));
    // Each translation box, as filled in.
    let mut rest = html.as_str();
    while let Some(at) = rest.find("name=\"policy_text.") {
        let name_start = at + "name=\"".len();
        let name_end = name_start + rest[name_start..].find('"').unwrap();
        let name = rest[name_start..name_end].to_string();
        let text_start = name_end + rest[name_end..].find('>').unwrap() + 1;
        let text_end = text_start + rest[text_start..].find("</textarea>").unwrap();
        pairs.push((name, rest[text_start..text_end].to_string()));
        rest = &rest[text_end..];
    }
    for (k, v) in replace {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    pairs
}

async fn post_pairs(
    app: &TestApp,
    token: &str,
    path: &str,
    pairs: &[(String, String)],
) -> reqwest::Response {
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_form(app, token, path, &borrowed).await
}

#[tokio::test]
async fn a_refused_setting_is_shown_next_to_its_field_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let admin = &org.admin;
    let cases = [
        (
            "time_zone",
            "Mars/Olympus_Mons",
            "err-time_zone",
            "`time_zone`",
        ),
        (
            "retention_days",
            "forever",
            "err-retention_days",
            "`retention_days`",
        ),
        (
            "min_group_size",
            "0",
            "err-min_group_size",
            "`min_group_size`",
        ),
        (
            "work_end",
            "08:00",
            "err-working_hours",
            "`working_hours.end`",
        ),
        (
            "urgent.max_reminders",
            "99",
            "err-urgent",
            "`default_reminders.urgent.max_reminders`",
        ),
    ];
    for (field, value, slot, named) in cases {
        let form = settings_form(&app, admin, &[(field, value)]).await;
        let res = post_pairs(&app, admin, "/admin/settings", &form).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}={value}");
        let html = res.text().await.unwrap();
        let at = html
            .find(&format!("id=\"{slot}\""))
            .unwrap_or_else(|| panic!("{field}: no message at {slot}"));
        let message = &html[at..at + html[at..].find("</p>").unwrap()];
        assert!(
            message.contains(named) || message.contains(&named.replace('`', "&#96;")),
            "{field}: the message names the field: {message}"
        );
        assert!(
            html.contains("aria-invalid=\"true\""),
            "{field}: marked invalid"
        );
        assert!(
            html.contains(&format!("value=\"{value}\"")),
            "{field}: what the admin typed is kept"
        );
    }
    let (_, saved) = app.get("/api/v1/org/settings", Some(admin)).await;
    assert_eq!(saved["time_zone"], "Asia/Hong_Kong");
    assert_eq!(saved["retention_days"], 180);

    // A good form saves; a changed policy text makes the next version and says so.
    let form = settings_form(&app, admin, &[("retention_days", "90")]).await;
    let res = post_pairs(&app, admin, "/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/admin/settings?saved=1");
    let (_, saved) = app.get("/api/v1/org/settings", Some(admin)).await;
    assert_eq!(saved["retention_days"], 90);
    assert_eq!(
        saved["policy"]["version"], 1,
        "an untouched policy stays at its version"
    );
    assert_eq!(
        saved["default_reminders"]["urgent"]["escalate_to"],
        json!(["manager"])
    );

    let form = settings_form(
        &app,
        admin,
        &[("policy_text", "We track urgent notices only.\r\nAsk HR.")],
    )
    .await;
    let res = post_pairs(&app, admin, "/admin/settings", &form).await;
    assert_eq!(res.headers()[LOCATION], "/admin/settings?saved=policy");
    let (_, html) = page(&app, admin, "/admin/settings?saved=policy").await;
    assert!(
        html.contains("version 2"),
        "the page says a new version was made"
    );
    let (_, saved) = app.get("/api/v1/org/settings", Some(admin)).await;
    assert_eq!(saved["policy"]["version"], 2);
    assert_eq!(
        saved["policy"]["text"],
        "We track urgent notices only.\nAsk HR."
    );
}

#[tokio::test]
async fn an_admin_edits_a_members_record_on_its_page_and_a_refusal_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let admin = &org.admin;
    let (boss_id, _) = app
        .person(admin, "Mona Lee", "mona@harbour.example", &org.root, true)
        .await;
    let (ada_id, _) = app
        .person(admin, "Ada Chan", "ada@harbour.example", &org.root, true)
        .await;
    let (_, directory) = page(&app, admin, "/admin/directory").await;
    assert!(directory.contains(&format!("href=\"/admin/members/{ada_id}\"")));
    let (status, form) = page(&app, admin, &format!("/admin/members/{ada_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"Ada Chan\""), "{form}");
    let csrf = page_csrf(&app, admin).await;
    let fields = |name: &'static str, manager: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", name.to_string()),
            ("email", "ada@harbour.example".to_string()),
            ("department_id", org.root.clone()),
            ("manager_email", manager.to_string()),
            ("backup_email", String::new()),
            ("role", "member".to_string()),
            ("time_zone", "Europe/London".to_string()),
            ("phone", "+44 7700 900123".to_string()),
            ("external_id", "okta-ada".to_string()),
        ]
    };
    let post = |pairs: Vec<(&'static str, String)>| {
        let path = format!("/admin/members/{ada_id}");
        let app = &app;
        async move {
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(app, admin, &path, &borrowed).await
        }
    };
    let res = post(fields("Ada Chan Wai", "nobody@harbour.example")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("nobody@harbour.example") && html.contains("value=\"Ada Chan Wai\""));
    let res = post(fields("Ada Chan Wai", "MONA@harbour.example")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, ada) = app
        .get(&format!("/api/v1/members/{ada_id}"), Some(admin))
        .await;
    assert_eq!(ada["name"], "Ada Chan Wai");
    assert_eq!(ada["manager_id"], boss_id.as_str());
    assert_eq!(ada["time_zone"], "Europe/London");
    assert_eq!(ada["phone"], "+447700900123");
    assert_eq!(ada["external_id"], "okta-ada");
}

#[tokio::test]
async fn the_settings_page_edits_who_may_send_and_a_department_grant_can_be_added_and_removed() {
    let app = TestApp::spawn().await;
    let org = app.setup_with_default_rights().await;
    let admin = &org.admin;
    let hr = app.department(admin, "HR", Some(&org.root)).await;
    let (_, html) = page(&app, admin, "/admin/settings").await;
    assert!(
        html.contains("name=\"rights.staff.reach\""),
        "a row for staff"
    );
    assert!(
        html.contains("name=\"rights.dept.0.department\""),
        "a row to add one"
    );
    let grant = |prefix: &str, reach: &str, priority: &str, tracking: &str| {
        vec![
            (format!("{prefix}.reach"), reach.to_string()),
            (format!("{prefix}.max_priority"), priority.to_string()),
            (format!("{prefix}.max_tracking"), tracking.to_string()),
        ]
    };
    // The settings form with staff sending nothing, managers up to important counts,
    // and HR's row at `hr_reach` ("" removes it).
    let rights_form = |hr_reach: &'static str| {
        let app = &app;
        let hr = hr.clone();
        async move {
            let mut form = settings_form(app, admin, &[]).await;
            form.extend(grant("rights.staff", "nobody", "normal", "off"));
            form.extend(grant(
                "rights.managers",
                "own_department",
                "important",
                "aggregate",
            ));
            form.push(("rights.dept.0.department".into(), hr));
            form.extend(grant("rights.dept.0", hr_reach, "urgent", "per_person"));
            form
        }
    };
    let res = post_pairs(
        &app,
        admin,
        "/admin/settings",
        &rights_form("everyone").await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, saved) = app.get("/api/v1/org/settings", Some(admin)).await;
    let rights = &saved["sending_rights"];
    assert_eq!(rights["managers"]["max_priority"], "important", "{rights}");
    assert_eq!(rights["departments"][0]["department_id"], hr.as_str());
    assert_eq!(rights["departments"][0]["reach"], "everyone");
    let (_, html) = page(&app, admin, "/admin/settings").await;
    assert!(
        html.contains("name=\"rights.dept.1.department\""),
        "HR's row, then one to add another"
    );

    // "No extra right" removes the grant.
    let res = post_pairs(&app, admin, "/admin/settings", &rights_form("").await).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, saved) = app.get("/api/v1/org/settings", Some(admin)).await;
    assert_eq!(saved["sending_rights"]["departments"], json!([]));

    // A bad value is refused next to the table, and nothing changes.
    let mut form = settings_form(&app, admin, &[]).await;
    form.extend(grant("rights.staff", "the world", "normal", "off"));
    form.extend(grant(
        "rights.managers",
        "own_department",
        "important",
        "aggregate",
    ));
    let res = post_pairs(&app, admin, "/admin/settings", &form).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("id=\"err-sending_rights\"")
    );
}

#[tokio::test]
async fn a_member_answers_a_survey_once_without_their_name_and_results_wait_for_enough_answers() {
    let r = roles().await;
    let (app, admin, member) = (&r.app, &r.org.admin, &r.member.1);
    let csrf = page_csrf(app, admin).await;
    let res = post_form(
        app,
        admin,
        "/admin/surveys",
        &[("title", "Does read tracking feel fair?"), ("_csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, list) = app.get("/api/v1/surveys", Some(member)).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let href = format!("/surveys/{id}");
    let (_, inbox) = page(app, member, "/inbox").await;
    assert!(
        nav_links(&inbox).contains(&href),
        "the open survey is in the navigation"
    );

    let (status, form) = page(app, member, &href).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Does read tracking feel fair?"));
    assert!(
        form.contains("Your answer is stored without your name"),
        "the page says the answer is anonymous"
    );
    let csrf = page_csrf(app, member).await;
    let missing = post_form(app, member, &href, &[("monitored", "2"), ("_csrf", &csrf)]).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.text().await.unwrap().contains("Choose a score"));
    let answer = [
        ("monitored", "2"),
        ("helped", "4"),
        ("comment", "Fine for urgent notices."),
        ("_csrf", csrf.as_str()),
    ];
    let res = post_form(app, member, &href, &answer).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], format!("{href}?thanks=1").as_str());
    let again = post_form(app, member, &href, &answer).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "one answer per person"
    );
    let (_, inbox) = page(app, member, "/inbox").await;
    assert!(
        !nav_links(&inbox).contains(&href),
        "answered: gone from the navigation"
    );

    let (_, results) = page(app, admin, "/admin/surveys").await;
    assert!(
        results.contains("class=\"answers\">1</strong>"),
        "{results}"
    );
    assert!(
        results.contains("Results appear once the survey is closed and at least 5"),
        "one answer is too few to show, and the page says why"
    );
    assert!(
        !results.contains("Fine for urgent notices."),
        "no comment shown yet"
    );

    // Four more answers reach the minimum group size: the results and comments appear.
    for i in 0..4 {
        let (_, token) = app
            .person(
                admin,
                &format!("Staff {i}"),
                &format!("staff{i}@harbour.example"),
                &r.org.root,
                true,
            )
            .await;
        let (status, body) = app
            .post(
                &format!("/api/v1/surveys/{id}/answers"),
                Some(&token),
                json!({"monitored": 1 + i, "helped": 5 - i}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (_, results) = page(app, admin, "/admin/surveys").await;
    assert!(results.contains("class=\"answers\">5</strong>"));
    assert!(
        results.contains("Results appear once the survey is closed"),
        "enough answers, but results that moved with each answer would give one away"
    );
    assert!(!results.contains("Fine for urgent notices."));
    let close = format!("/admin/surveys/{id}/close");
    assert!(
        results.contains(&format!("action=\"{close}\"")),
        "a close button"
    );
    let csrf = page_csrf(app, admin).await;
    let res = post_form(app, admin, &close, &[("_csrf", "forged")]).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a forged form closes nothing"
    );
    let res = post_form(app, admin, &close, &[("_csrf", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, results) = page(app, admin, "/admin/surveys").await;
    assert!(
        !results.contains("Results appear once"),
        "closed, with enough answers"
    );
    assert!(
        !results.contains(&format!("action=\"{close}\"")),
        "closed already"
    );
    assert!(results.contains("class=\"score-bars\""), "a bar per score");
    assert!(
        results.contains("Fine for urgent notices."),
        "the comment, without a name"
    );
}

#[tokio::test]
async fn tasks_are_listed_with_their_notice_and_marked_done_from_the_page() {
    let r = roles().await;
    let (app, admin) = (&r.app, &r.org.admin);
    let (kelvin_id, kelvin) = (&r.member.0, &r.member.1);
    let id = app
        .send(
            admin,
            json!({"title": "Sign the new roster", "priority": "urgent", "audience": {"members": [kelvin_id]},
                   "reminders": {"remind_after_minutes": 5, "max_reminders": 1, "escalate_after_minutes": 10,
                                 "escalate_to": ["manager"], "create_task": true}}),
        )
        .await;
    app.advance(11).await;
    let task = app
        .eventually(
            "the escalation's task",
            std::time::Duration::from_secs(5),
            || async {
                let (_, tasks) = app.get("/api/v1/tasks", Some(kelvin)).await;
                tasks["items"][0]["id"].as_str().map(String::from)
            },
        )
        .await;

    let (status, html) = page(app, kelvin, "/tasks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("href=\"/notices/{id}\"")),
        "the task links its notice"
    );
    assert!(html.contains("Sign the new roster"));
    assert!(html.contains(&format!("action=\"/tasks/{task}/complete\"")));

    // The manager sees the escalation under their team's unread notices.
    let (_, team) = page(app, &r.manager.1, "/tasks").await;
    assert!(team.contains("id=\"team-unread\""), "{team}");
    assert!(team.contains("Kelvin Chan"));

    let csrf = page_csrf(app, kelvin).await;
    let res = post_form(
        app,
        kelvin,
        &format!("/tasks/{task}/complete"),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, tasks) = app.get("/api/v1/tasks", Some(kelvin)).await;
    assert!(tasks["items"][0]["done_at"].is_string(), "{tasks}");
    let (_, html) = page(app, kelvin, "/tasks?done=1").await;
    assert!(html.contains("id=\"done-tasks\""));
    assert!(!html.contains(&format!("action=\"/tasks/{task}/complete\"")));

    // Someone else's task is not theirs to close.
    let other = post_form(
        app,
        &r.manager.1,
        &format!("/tasks/{task}/complete"),
        &[("_csrf", &page_csrf(app, &r.manager.1).await)],
    )
    .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn my_data_shows_my_reads_and_who_looked_at_them_and_links_the_json_export() {
    let r = roles().await;
    let (app, admin) = (&r.app, &r.org.admin);
    let (kelvin_id, kelvin) = (&r.member.0, &r.member.1);
    let id = app
        .send(
            &r.manager.1,
            json!({"title": "Stock-take on Sunday", "priority": "urgent", "tracking": "per_person",
                   "audience": {"members": [kelvin_id]}}),
        )
        .await;
    app.receipts(kelvin, json!([receipt("k-1", &id, "read", &now())]))
        .await;
    // The admin's look at someone else's board is an audited view.
    let (status, _) = page(app, admin, &format!("/notices/{id}/board")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, html) = page(app, kelvin, "/me/data").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/api/v1/me/export\""),
        "the JSON download"
    );
    assert!(html.contains("Stock-take on Sunday"), "the receipt");
    assert!(html.contains("kelvin@harbour.example"));
    assert!(html.contains("Patrick Manager"), "the manager by name");
    let viewed = &html[html.find("id=\"viewed-by\"").unwrap()..];
    let viewed = &viewed[..viewed.find("</section>").unwrap()];
    assert!(viewed.contains("Ivy Lam"), "who looked: {viewed}");
    assert!(viewed.contains("viewed a read board"), "{viewed}");

    // Opening the page is itself recorded, like the export it shows.
    let (_, audit) = page(app, &r.auditor, "/admin/audit").await;
    assert!(audit.contains("data-action=\"export\""), "{audit}");
    assert!(audit.contains("data-action=\"board.viewed\""));
}

#[tokio::test]
async fn unknown_pages_get_a_page_in_the_viewers_language_and_unknown_api_paths_keep_their_json() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let res = client()
        .get(app.url("/no/such/page"))
        .header("accept-language", "zh-HK")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.headers().contains_key("content-security-policy"));
    assert!(res.text().await.unwrap().contains("找不到頁面"));
    let (status, html) = page(&app, &org.admin, "/inbox/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("Page not found") && html.contains("class=\"main-nav\""),
        "signed in: with the navigation"
    );
    for path in ["/api/nowhere", "/api/v1/nowhere"] {
        let (status, body) = app.get(path, Some(&org.admin)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "real routes still win");
    let icon = client().get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(icon.status(), StatusCode::OK, "the icon browsers ask for");
    assert_eq!(icon.headers()[CONTENT_TYPE], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
}

#[tokio::test]
async fn the_analytics_page_charts_departments_and_days_and_hides_groups_below_the_minimum() {
    let r = roles().await;
    let (app, admin) = (&r.app, &r.org.admin);
    let depot = app
        .department(admin, "Kwai Chung Depot", Some(&r.org.root))
        .await;
    let compliance = app.department(admin, "Compliance", Some(&r.org.root)).await;
    let mut depot_people = Vec::new();
    for i in 0..6 {
        depot_people.push(
            app.person(
                admin,
                &format!("Driver {i}"),
                &format!("driver{i}@harbour.example"),
                &depot,
                true,
            )
            .await,
        );
    }
    let (auditor_id, _) = app
        .person(
            admin,
            "Carol Compliance",
            "carol@harbour.example",
            &compliance,
            true,
        )
        .await;
    let ids: Vec<&String> = depot_people.iter().map(|(id, _)| id).collect();
    let id = app
        .send(
            admin,
            json!({"title": "Depot closed on Monday", "priority": "urgent", "audience": {"members": ids}}),
        )
        .await;
    let small = app
        .send(
            admin,
            json!({"title": "Compliance training", "priority": "urgent", "audience": {"members": [auditor_id]}}),
        )
        .await;
    app.advance(30).await;
    for (n, (_, token)) in depot_people.iter().enumerate().take(4) {
        app.receipts(
            token,
            json!([receipt(&format!("d-{n}"), &id, "read", &app.clock_now())]),
        )
        .await;
    }
    let _ = small;

    let (status, html) = page(app, admin, "/analytics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<svg class=\"chart\" id=\"chart-time-to-read\""),
        "the bar chart"
    );
    assert!(
        html.contains("<svg class=\"chart\" id=\"chart-read-rate\""),
        "the line chart"
    );
    assert!(html.contains("role=\"img\""));
    let bars = &html[html.find("id=\"chart-time-to-read\"").unwrap()..];
    let bars = &bars[..bars.find("</svg>").unwrap()];
    assert!(
        bars.contains("Kwai Chung Depot"),
        "a bar labelled by department"
    );
    assert!(bars.contains("fill=\"#0A58AD\""), "the median bar");
    assert!(
        bars.contains("fewer than 5 people"),
        "the small department: {bars}"
    );
    assert!(
        bars.contains(" min · ") && bars.contains(">\n30 min\n<"),
        "the figures beside the bar, and round ticks: {bars}"
    );
    let line = &html[html.find("id=\"chart-read-rate\"").unwrap()..];
    let line = &line[..line.find("</svg>").unwrap()];
    assert!(
        line.contains("<polyline") || line.contains("<circle"),
        "{line}"
    );
    let table = &html[html.find("id=\"departments-table\"").unwrap()..];
    assert!(table.contains("67%"), "4 of 6 read: {table}");
    assert!(
        !table.contains("Compliance</th><td class=\"num\">"),
        "no figures for one person"
    );

    // The before/after comparison of two periods.
    let today = app.clock_now()[..10].to_string();
    let (status, compared) = page(
        app,
        admin,
        &format!("/analytics?before_from=2020-01-01&before_to=2020-01-31&after_from={today}&after_to={today}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(compared.contains("id=\"compare-table\""), "{compared}");
    assert!(compared.contains("Median time to read"));
    let (status, backwards) = page(app, admin, "/analytics?from=2026-12-31&to=2026-01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        backwards.contains("id=\"period-error\""),
        "a backwards period is explained"
    );

    // A manager sees their own subtree only: Patrick's department is the root, so all.
    let (status, _) = page(app, &r.manager.1, "/analytics").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_confirmation_after_a_quiet_hours_read_shows_outside_working_hours_not_a_dash() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (_, sender) = app
        .person(
            &org.admin,
            "Grace Wong",
            "grace@harbour.example",
            &org.root,
            true,
        )
        .await;
    let (reader_id, reader) = app
        .person(
            &org.admin,
            "Kelvin Chan",
            "kelvin@harbour.example",
            &org.root,
            true,
        )
        .await;
    // 21:00 in Hong Kong: the reader's quiet hours.
    app.set_clock("2026-12-01T13:00:00Z").await;
    let id = app
        .send(
            &sender,
            json!({"title": "Typhoon signal No. 8", "priority": "urgent", "tracking": "per_person",
                   "require_ack": true, "response_options": ["At home", "At work"],
                   "audience": {"members": [reader_id]}}),
        )
        .await;
    app.advance(5).await;
    let at = app.clock_now();
    app.receipts(&reader, json!([receipt("q-r", &id, "read", &at)]))
        .await;
    let mut ack = receipt("q-a", &id, "ack", &at);
    ack["response"] = json!("At home");
    app.receipts(&reader, json!([ack])).await;
    let (status, html) = page(&app, &sender, &format!("/notices/{id}/board")).await;
    assert_eq!(status, StatusCode::OK);
    let row = &html[html.find("data-member=\"").expect("a row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    let confirmed = &row[row.find("class=\"acked-at\"").expect("the Confirmed cell")..];
    assert!(
        confirmed.starts_with("class=\"acked-at\"><span class=\"muted\">outside working hours"),
        "{row}"
    );
    assert!(row.contains("· At home"), "the answer is on the row: {row}");
}

#[tokio::test]
async fn a_member_changes_their_password_on_the_my_data_page() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let (_, mei) = app
        .person(&org.admin, "Mei", "mei@harbour.example", &org.root, true)
        .await;
    let (status, page_html) = page(&app, &mei, "/me/data").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_html.contains("action=\"/me/password\""), "the form");
    let csrf = page_csrf(&app, &mei).await;
    let wrong = post_form(
        &app,
        &mei,
        "/me/password",
        &[
            ("current_password", "nope"),
            ("new_password", "a-long-secret"),
            ("_csrf", &csrf),
        ],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::SEE_OTHER);
    let back = wrong.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(back.starts_with("/me/data?password=wrong"), "{back}");
    let (_, said) = page(&app, &mei, "/me/data?password=wrong").await;
    assert!(said.contains("That is not your current password."));
    let forged = post_form(
        &app,
        &mei,
        "/me/password",
        &[
            ("current_password", "password123"),
            ("new_password", "a-long-secret"),
            ("_csrf", "forged"),
        ],
    )
    .await;
    assert!(
        forged.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("password=expired"),
        "a forged form changes nothing"
    );
    let done = post_form(
        &app,
        &mei,
        "/me/password",
        &[
            ("current_password", "password123"),
            ("new_password", "a-long-secret"),
            ("_csrf", &csrf),
        ],
    )
    .await;
    assert!(
        done.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("password=changed")
    );
    app.login("mei@harbour.example", "a-long-secret").await;
}

#[tokio::test]
async fn an_admin_deactivates_a_leaver_and_reactivates_them_from_the_directory() {
    let app = TestApp::spawn().await;
    let org = app.setup().await;
    let admin = &org.admin;
    let (leaver_id, leaver) = app
        .person(admin, "Lee Ver", "lee@harbour.example", &org.root, true)
        .await;
    let (_, html) = page(&app, admin, "/admin/directory").await;
    let action = format!("/admin/members/{leaver_id}/active");
    assert!(
        html.contains(&format!("action=\"{action}\"")),
        "a button per member"
    );
    let csrf = page_csrf(&app, admin).await;
    let forged = post_form(&app, admin, &action, &[("active", "false"), ("_csrf", "x")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/me", Some(&leaver)).await;
    assert_eq!(status, StatusCode::OK, "a forged form changed nothing");

    let res = post_form(
        &app,
        admin,
        &action,
        &[("active", "false"), ("_csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/admin/directory?done=deactivated");
    let (status, _) = app.get("/api/v1/me", Some(&leaver)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the leaver's session ended"
    );
    let (_, html) = page(&app, admin, "/admin/directory?done=deactivated").await;
    assert!(
        html.contains("Member deactivated"),
        "the page says what happened"
    );
    assert!(html.contains("class=\"inactive\""));
    // A member cannot do it, and an admin cannot deactivate themselves.
    let (_, member) = app
        .person(admin, "Pat", "pat@harbour.example", &org.root, true)
        .await;
    let member_csrf = page_csrf(&app, &member).await;
    let res = post_form(
        &app,
        &member,
        &action,
        &[("active", "true"), ("_csrf", &member_csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, me) = app.get("/api/v1/me", Some(admin)).await;
    let own = format!("/admin/members/{}/active", me["id"].as_str().unwrap());
    let res = post_form(&app, admin, &own, &[("active", "false"), ("_csrf", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let res = post_form(
        &app,
        admin,
        &action,
        &[("active", "true"), ("_csrf", &csrf)],
    )
    .await;
    assert_eq!(res.headers()[LOCATION], "/admin/directory?done=reactivated");
    app.login("lee@harbour.example", "password123").await;
}
