//! Hardening of the real binary: HTTPS served natively with a certificate (and HSTS),
//! secrets kept out of the logs, rate limits set from flags, and the web pages' security
//! headers.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    addr: String,
    /// Copies the output; joined on stop so the log file is complete.
    copier: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `readtrack serve` with extra flags; its output (logs go to stdout) is copied
/// to `log` when given.
fn start(data: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Server {
    let (child, addr, lines) = support::spawn_and_wait_for_address(
        Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", "127.0.0.1:0", "--print-addr", "--data"])
            .arg(data)
            .args(extra)
            .env("READTRACK_LOG", "warn")
            .envs(env.iter().copied()),
        Duration::from_secs(30),
    );
    let mut copy = log.map(|p| std::fs::File::create(p).expect("log file"));
    let copier = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(f) = copy.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
    });
    Server {
        child,
        addr,
        copier: Some(copier),
    }
}

/// SIGTERM, then wait for the clean exit (so every log line is written).
fn stop(mut server: Server) {
    let pid = server.child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(copier) = server.copier.take() {
        copier.join().expect("output copied");
    }
}

fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::new()
}

fn setup(http: &reqwest::blocking::Client, base: &str) -> String {
    let res: Value = http
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE, "time_zone": "Asia/Hong_Kong",
            "admin": {"name": "Ivy", "email": "ivy@harbour.example", "password": "correct horse battery"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    res["token"].as_str().expect("admin token").to_string()
}

#[test]
fn https_is_served_natively_with_a_certificate_and_strict_transport_security() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["readtrack.test".to_string()])
        .expect("a self-signed certificate");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        &[],
        None,
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr: std::net::SocketAddr = server.addr.parse().unwrap();
    let https = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("readtrack.test", addr)
        .build()
        .unwrap();
    let base = format!("https://readtrack.test:{}", addr.port());
    let res = https
        .get(format!("{base}/healthz"))
        .send()
        .expect("HTTPS answers");
    assert_eq!(res.status(), 200);
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .expect("HSTS over HTTPS")
        .to_str()
        .unwrap()
        .to_string();
    assert!(hsts.starts_with("max-age="), "{hsts}");
    // The API works over it end to end.
    let token = setup(&https, &base);
    let me: Value = https
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["email"], "ivy@harbour.example");
    // The web pages' cookies are Secure over HTTPS.
    let login = https.get(format!("{base}/login")).send().unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain HTTP on the TLS port gets no answer from the application.
    let plain = client()
        .get(format!("http://{}/healthz", server.addr))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP is not served on the TLS port"
    );
    stop(server);

    // Without TLS, no HSTS: a browser would ignore it anyway, and a proxy in front owns it.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], &[], None);
    let res = client()
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
    let login = client()
        .get(format!("http://{}/login", server.addr))
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        !cookie.contains("Secure"),
        "a plain-HTTP demo keeps its cookies: {cookie}"
    );
}

#[test]
fn tokens_and_passwords_never_reach_the_logs_even_at_debug_level() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = start(
        &dir.path().join("data"),
        &["--log-format", "json"],
        &[("READTRACK_LOG", "debug")],
        Some(&log),
    );
    let base = format!("http://{}", server.addr);
    let http = client();
    let token = setup(&http, &base);
    // The WebSocket's query-string token, a bearer header, a failed and a good sign-in.
    let ws = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = format!("ws://{}/api/v1/stream?since=0&token={token}", server.addr);
        tokio_tungstenite::connect_async(url).await.map(|_| ())
    });
    assert!(ws.is_ok(), "the stream opened: {ws:?}");
    assert_eq!(
        http.get(format!("{base}/api/v1/me?token={token}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status(),
        200
    );
    for password in ["a wrong password", "correct horse battery"] {
        http.post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "ivy@harbour.example", "password": password}))
            .send()
            .unwrap();
    }
    stop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("/api/v1/stream"),
        "requests are logged at debug level:\n{text}"
    );
    assert!(text.contains("token=***"), "the token's place is shown");
    for secret in [token.as_str(), "a wrong password", "correct horse battery"] {
        assert!(!text.contains(secret), "{secret:?} is in the log:\n{text}");
    }
}

#[test]
fn rate_limits_are_set_from_flags_per_account_per_address_and_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            "--login-limit",
            "2/600",
            "--login-address-limit",
            "4/600",
            "--receipt-limit",
            "3/600",
            "--send-limit",
            "2/600",
        ],
        &[],
        None,
    );
    let base = format!("http://{}", server.addr);
    let http = client();
    let admin = setup(&http, &base);
    let login = |email: &str| {
        let res = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "not the password"}))
            .send()
            .unwrap();
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (status, retry)
    };
    // Per account: the third attempt on ivy@ is refused...
    assert_eq!(login("ivy@harbour.example").0, 401);
    assert_eq!(login("ivy@harbour.example").0, 401);
    let (status, retry) = login("ivy@harbour.example");
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| s >= 1), "with Retry-After");
    // ...while another account still gets an answer, until this address has used its four.
    assert_eq!(login("ben@harbour.example").0, 401);
    let (status, retry) = login("cat@harbour.example");
    assert_eq!(status, 429, "per address");
    assert!(retry.is_some_and(|s| s >= 1));

    // Per token: three receipt requests, then 429; another token is not affected.
    let post = |token: &str| {
        http.post(format!("{base}/api/v1/receipts"))
            .bearer_auth(token)
            .json(&json!({"receipts": []}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    for _ in 0..3 {
        assert_eq!(post(&admin), 200);
    }
    assert_eq!(post(&admin), 429);
    let me: Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let other: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "kiosk", "member_id": me["id"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(post(other["token"].as_str().unwrap()), 200);

    // Per token: two notices, then 429.
    let send = || {
        http.post(format!("{base}/api/v1/messages"))
            .bearer_auth(&admin)
            .json(&json!({"title": "Lift out of order", "audience": {"departments": [me["department_id"]]}}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // (The admin's own department has nobody else, so each is refused as an empty
    // audience: the limit counts attempts, before any parsing.)
    assert_ne!(send(), 429);
    assert_ne!(send(), 429);
    assert_eq!(send(), 429, "the third notice within the window");
}

#[test]
fn the_web_pages_carry_the_browser_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], &[], None);
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    for path in ["/", "/login", "/api/v1/me"] {
        let res = http
            .get(format!("http://{}{path}", server.addr))
            .send()
            .unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        if path != "/api/v1/me" {
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
        }
    }
}
