//! Sign-in with the company account (OpenID Connect, authorization code with PKCE)
//! against a real OpenID Provider, panva's certified `oidc-provider` on Node.js
//! (`tests/peers/oidc_provider.mjs`), driven as a browser would: readtrack's start, the
//! provider's login form, its consent, readtrack's callback, then a page as the member.
//!
//! Without Node.js or the peer's packages (`npm ci` in `tests/peers`) the tests say
//! SKIPPED and pass, unless `CI=true`, where a missing peer is a failure.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestApp;
use readtrack_server::ServerConfig;
use readtrack_service::AppConfig;
use readtrack_service::oidc::OidcConfig;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

const CLIENT_ID: &str = "readtrack";
const CLIENT_SECRET: &str = "peersecret42";
const PASSWORD: &str = "wonderland";

fn peer_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"))
}

/// Whether Node.js and the provider's packages are here; SKIPPED (or a failure on CI)
/// when not.
fn peer_available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let packages = peer_dir().join("node_modules/oidc-provider").is_dir();
    if node && packages {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the OpenID Provider peer is missing (Node.js, and `npm ci` in crates/readtrack-server/tests/peers)"
    );
    eprintln!(
        "SKIPPED: the OpenID Connect suite needs Node.js and `npm ci` in crates/readtrack-server/tests/peers"
    );
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The person the provider knows: the login typed on its form, their `sub` and email.
struct Person<'a> {
    login: &'a str,
    sub: &'a str,
    email: &'a str,
}

/// A running OpenID Provider; stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    async fn start(port: u16, redirect_uri: &str, person: &Person<'_>) -> Self {
        let child = Command::new("node")
            .arg(peer_dir().join("oidc_provider.mjs"))
            .current_dir(peer_dir())
            .env("PORT", port.to_string())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URIS", redirect_uri)
            .env("OIDC_USER_LOGIN", person.login)
            .env("OIDC_USER_PASSWORD", PASSWORD)
            .env("OIDC_USER_SUB", person.sub)
            .env("OIDC_USER_EMAIL", person.email)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the OpenID Provider");
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = Self { child, issuer };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(&discovery).send().await
                && r.status() == StatusCode::OK
            {
                return provider;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the OpenID Provider did not answer at {discovery}");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server configured to sign people in through the provider at `provider_port`.
async fn server(provider_port: u16) -> TestApp {
    let port = free_port();
    let config = AppConfig {
        oidc: Some(OidcConfig {
            issuer: format!("http://127.0.0.1:{provider_port}"),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uri: format!("http://127.0.0.1:{port}/auth/oidc/callback"),
        }),
        ..AppConfig::default()
    };
    TestApp::spawn_with_port(port, ServerConfig::default(), config).await
}

/// A browser without scripts: a cookie jar per host, redirects followed by hand.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn host(url: &str) -> String {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port()?)))
            .unwrap_or_default()
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&Self::host(url))?.get(name).cloned()
    }

    async fn send(&mut self, req: reqwest::RequestBuilder, url: &str) -> reqwest::Response {
        let host = Self::host(url);
        let cookies = self
            .jar
            .get(&host)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let res = req.header(COOKIE, cookies).send().await.expect("request");
        let jar = self.jar.entry(host).or_default();
        for set in res.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), v.to_string());
            }
        }
        res
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let req = self.http.get(url);
        self.send(req, url).await
    }

    async fn post_form(&mut self, url: &str, form: &str) -> reqwest::Response {
        let req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        self.send(req, url).await
    }
}

fn location(res: &reqwest::Response) -> String {
    let to = res
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("a redirect, not {}", res.status()))
        .to_str()
        .unwrap();
    res.url().join(to).unwrap().to_string()
}

/// Starts at readtrack, signs in at the provider (login form, then consent) and stops
/// at the redirect back to readtrack's callback, whose URL it returns.
async fn to_callback(browser: &mut Browser, app: &TestApp, login: &str) -> String {
    let res = browser.get(&app.url("/auth/oidc/start?next=/inbox")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut url = location(&res);
    let callback = app.url("/auth/oidc/callback");
    for _ in 0..12 {
        if url.starts_with(&callback) {
            return url;
        }
        let res = browser.get(&url).await;
        if res.status().is_redirection() {
            url = location(&res);
            continue;
        }
        assert_eq!(res.status(), StatusCode::OK, "at {url}");
        let page = res.text().await.unwrap();
        let form = if page.contains("name=\"login\"") {
            format!("prompt=login&login={login}&password={PASSWORD}")
        } else {
            "prompt=consent".to_string()
        };
        let res = browser.post_form(&url, &form).await;
        url = location(&res);
    }
    panic!("never came back to readtrack (last at {url})");
}

/// The whole sign-in; answers readtrack's response to the callback.
async fn sign_in(browser: &mut Browser, app: &TestApp, login: &str) -> reqwest::Response {
    let callback = to_callback(browser, app, login).await;
    browser.get(&callback).await
}

#[tokio::test]
async fn a_member_signs_in_with_the_company_account_and_stays_matched_after_an_email_change() {
    if !peer_available() {
        return;
    }
    let provider_port = free_port();
    let app = server(provider_port).await;
    let org = app.setup().await;
    let (ada, _) = app
        .person(
            &org.admin,
            "Ada Chan",
            "ada@harbour.example",
            &org.root,
            true,
        )
        .await;
    let redirect = app.url("/auth/oidc/callback");

    // The sign-in page offers the company account.
    let res = app.http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("/auth/oidc/start"), "{page}");

    let person = Person {
        login: "ada",
        sub: "idp-0042",
        email: "ada@harbour.example",
    };
    let provider = Provider::start(provider_port, &redirect, &person).await;
    let mut browser = Browser::new();
    let res = sign_in(&mut browser, &app, "ada").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), app.url("/inbox"));
    let session = browser
        .cookie(&app.base, readtrack_server::SESSION_COOKIE)
        .expect("a session cookie");
    let res = browser.get(&app.url("/inbox")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, me) = app.get("/api/v1/me", Some(&session)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], json!(ada));
    assert!(
        app.audit_actions(&org.admin)
            .await
            .contains(&"member.oidc_linked".to_string())
    );
    drop(provider);

    // The provider now gives another email for the same subject: still Ada.
    let moved = Person {
        email: "ada.chan@new-harbour.example",
        ..person
    };
    let _provider = Provider::start(provider_port, &redirect, &moved).await;
    let mut browser = Browser::new();
    let res = sign_in(&mut browser, &app, "ada").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = browser
        .cookie(&app.base, readtrack_server::SESSION_COOKIE)
        .expect("a session cookie");
    let (_, me) = app.get("/api/v1/me", Some(&session)).await;
    assert_eq!(me["id"], json!(ada));
}

#[tokio::test]
async fn a_person_unknown_here_is_told_to_ask_an_admin_and_nobody_is_created() {
    if !peer_available() {
        return;
    }
    let provider_port = free_port();
    let app = server(provider_port).await;
    let org = app.setup().await;
    let person = Person {
        login: "zed",
        sub: "idp-0099",
        email: "zed@elsewhere.example",
    };
    let _provider = Provider::start(provider_port, &app.url("/auth/oidc/callback"), &person).await;
    let mut browser = Browser::new();
    let res = sign_in(&mut browser, &app, "zed").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains("Ask an administrator to add you"), "{page}");
    assert!(
        browser
            .cookie(&app.base, readtrack_server::SESSION_COOKIE)
            .is_none()
    );
    let (_, members) = app.get("/api/v1/members", Some(&org.admin)).await;
    assert!(!members.to_string().contains("zed@elsewhere.example"));
}

#[tokio::test]
async fn a_deactivated_member_is_refused() {
    if !peer_available() {
        return;
    }
    let provider_port = free_port();
    let app = server(provider_port).await;
    let org = app.setup().await;
    let (bo, _) = app
        .person(&org.admin, "Bo Wong", "bo@harbour.example", &org.root, true)
        .await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/members/{bo}"),
            Some(&org.admin),
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let person = Person {
        login: "bo",
        sub: "idp-0007",
        email: "bo@harbour.example",
    };
    let _provider = Provider::start(provider_port, &app.url("/auth/oidc/callback"), &person).await;
    let mut browser = Browser::new();
    let res = sign_in(&mut browser, &app, "bo").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("deactivated"));
    assert!(
        browser
            .cookie(&app.base, readtrack_server::SESSION_COOKIE)
            .is_none()
    );
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_the_code_is_not_used() {
    if !peer_available() {
        return;
    }
    let provider_port = free_port();
    let app = server(provider_port).await;
    let org = app.setup().await;
    app.person(&org.admin, "Cy Ho", "cy@harbour.example", &org.root, true)
        .await;
    let person = Person {
        login: "cy",
        sub: "idp-0003",
        email: "cy@harbour.example",
    };
    let _provider = Provider::start(provider_port, &app.url("/auth/oidc/callback"), &person).await;
    let mut browser = Browser::new();
    let callback = to_callback(&mut browser, &app, "cy").await;
    let mut url = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into()
            };
            (k.into(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.get(url.as_str()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        browser
            .cookie(&app.base, readtrack_server::SESSION_COOKIE)
            .is_none()
    );
    // The started sign-in is spent: even the untampered answer is refused now.
    let res = browser.get(&callback).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        browser
            .cookie(&app.base, readtrack_server::SESSION_COOKIE)
            .is_none()
    );
}

/// A sign-in started by the command-line client waiting on `cli_port`: the browser ends
/// at the client's loopback address with a one-time code and the client's state, and is
/// not signed in itself. Answers the code.
async fn loopback_code(app: &TestApp, cli_port: u16, challenge: &str, login: &str) -> String {
    let mut b = Browser::new();
    let start = app.url(&format!(
        "/auth/oidc/start?cli_port={cli_port}&cli_challenge={challenge}&cli_state=client-state-123456"
    ));
    let res = b.get(&start).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut url = location(&res);
    let callback = app.url("/auth/oidc/callback");
    for _ in 0..12 {
        if url.starts_with(&callback) {
            break;
        }
        let res = b.get(&url).await;
        if res.status().is_redirection() {
            url = location(&res);
            continue;
        }
        let page = res.text().await.unwrap();
        let form = if page.contains("name=\"login\"") {
            format!("prompt=login&login={login}&password={PASSWORD}")
        } else {
            "prompt=consent".to_string()
        };
        url = location(&b.post_form(&url, &form).await);
    }
    let res = b.get(&url).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        b.cookie(&app.base, readtrack_server::SESSION_COOKIE)
            .is_none()
    );
    let to = reqwest::Url::parse(&location(&res)).unwrap();
    assert_eq!(to.host_str(), Some("127.0.0.1"));
    assert_eq!(to.port(), Some(cli_port));
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "client-state-123456");
    q["code"].clone()
}

#[tokio::test]
async fn the_command_line_client_gets_a_session_only_with_its_verifier_and_only_once() {
    if !peer_available() {
        return;
    }
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let provider_port = free_port();
    let app = server(provider_port).await;
    let org = app.setup().await;
    let (dee, _) = app
        .person(
            &org.admin,
            "Dee Lau",
            "dee@harbour.example",
            &org.root,
            true,
        )
        .await;
    let person = Person {
        login: "dee",
        sub: "idp-0004",
        email: "dee@harbour.example",
    };
    let _provider = Provider::start(provider_port, &app.url("/auth/oidc/callback"), &person).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verifier = b64.encode([7u8; 32]);
    let challenge = b64.encode(Sha256::digest(verifier.as_bytes()));
    let cli_port = free_port();

    let code = loopback_code(&app, cli_port, &challenge, "dee").await;
    let exchange = |code: String, verifier: String| {
        app.post(
            "/api/v1/auth/oidc/exchange",
            None,
            json!({"code": code, "code_verifier": verifier}),
        )
    };
    // Someone who saw the code but not the verifier gets nothing, and spends it.
    let (status, _) = exchange(code.clone(), b64.encode([8u8; 32])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = exchange(code, verifier.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The client with its verifier gets a session, once.
    let code = loopback_code(&app, cli_port, &challenge, "dee").await;
    let (status, body) = exchange(code.clone(), verifier.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = app.get("/api/v1/me", body["token"].as_str()).await;
    assert_eq!(me["id"], json!(dee));
    let (status, _) = exchange(code, verifier).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A start naming a loopback port without a proper challenge is refused.
    let res = Browser::new()
        .get(&app.url(
            "/auth/oidc/start?cli_port=8080&cli_challenge=short&cli_state=client-state-123456",
        ))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
