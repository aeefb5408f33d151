//! The command-line client's commands against the real server: signing in, the
//! inbox, reading and confirming, sending, the board (also live), the import, and
//! switching accounts.

mod cli_harness;

use cli_harness::{Cli, DEADLINE, Org, PASSWORD, Server, call, eventually, login};
use readtrack_client::{ApiClient, Outbox, ReceiptKind, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_the_token_in_a_private_profile_and_refuses_a_wrong_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let reader = Cli::new(&dir.path().join("reader"));

    let wrong = reader
        .run_with_stdin(
            &[
                "--server",
                &server.url,
                "login",
                "--email",
                &org.reader_email,
                "--password-stdin",
            ],
            Some("not the password\n"),
        )
        .await;
    assert_ne!(wrong.code, Some(0));
    assert!(
        wrong.stderr.contains("401") || wrong.stderr.to_lowercase().contains("password"),
        "{}",
        wrong.stderr
    );
    assert!(!reader.home.join("profile.json").exists());

    let ok = reader
        .run_with_stdin(
            &[
                "--server",
                &server.url,
                "--json",
                "login",
                "--email",
                &org.reader_email,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        )
        .await
        .ok()
        .json();
    assert_eq!(ok["member_id"], org.reader_id.as_str());
    let profile = reader.home.join("profile.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile)
            .expect("profile saved")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read the token");
    }
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&profile).expect("readable")).expect("JSON");
    assert!(
        saved["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rt_"))
    );
    assert!(
        !ok.to_string()
            .contains(saved["token"].as_str().unwrap_or("-")),
        "the token is never printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_read_and_ack_record_delivered_read_and_the_chosen_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let (status, sent) = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/messages", server.url),
        Some(&org.sender_token),
        Some(json!({
            "title": "Town hall on Friday", "body": "Tell us if you come.", "priority": "important",
            "tracking": "per_person", "response_options": ["Attending", "Not attending"],
            "audience": {"members": [org.reader_id]}
        })),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().expect("id").to_string();
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;

    let inbox = reader.run(&["--json", "inbox"]).await.ok().json();
    assert_eq!(inbox["source"], "server");
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    assert_eq!(inbox["items"][0]["my_state"], "delivered", "{inbox}");
    assert_eq!(org.board(&server.url, &id).await["summary"]["delivered"], 1);

    let read = reader.run(&["read", &id]).await.ok();
    assert!(
        read.stdout.contains("Tell us if you come."),
        "{}",
        read.stdout
    );
    assert!(read.stdout.contains("Read recorded at"), "{}", read.stdout);
    let again = reader.run(&["read", &id]).await.ok();
    assert!(again.stdout.contains("Already read"), "{}", again.stdout);

    let missing = reader.run(&["ack", &id]).await;
    assert_ne!(missing.code, Some(0));
    assert!(
        missing.stderr.contains("Attending, Not attending"),
        "{}",
        missing.stderr
    );
    reader
        .run(&["ack", &id, "--response", "not ATTENDING"])
        .await
        .ok();

    let board = org.board(&server.url, &id).await;
    assert_eq!(board["summary"]["acknowledged"], 1, "{board}");
    assert_eq!(board["summary"]["responses"]["Not attending"], 1, "{board}");
    assert_eq!(reader.outbox().await["pending_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_resolves_departments_and_emails_and_the_board_names_who_has_not_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let sender = Cli::new(&dir.path().join("sender"));
    sender.login(&server.url, &org.sender_email).await;

    let unknown = sender
        .run(&[
            "send",
            "--to",
            "nobody@test.example",
            "--title",
            "x",
            "--body",
            "y",
        ])
        .await;
    assert_ne!(unknown.code, Some(0));
    assert!(
        unknown.stderr.contains("nobody@test.example"),
        "{}",
        unknown.stderr
    );

    let sent = sender
        .run(&[
            "--json",
            "send",
            "--to",
            "dept:operations",
            "--to",
            &org.reader_email,
            "--title",
            "Loading bay closed",
            "--body",
            "Use gate 4 today.",
            "--priority",
            "urgent",
            "--tracking",
            "per_person",
            "--require-ack",
        ])
        .await
        .ok()
        .json();
    // The department holds the sender and the reader; the sender is not a recipient and
    // the reader, named twice, counts once.
    assert_eq!(sent["recipient_count"], 1, "{sent}");
    let id = sent["id"].as_str().expect("id");

    let board = sender.run(&["board", id]).await.ok();
    assert!(
        board.stdout.contains("Loading bay closed"),
        "{}",
        board.stdout
    );
    assert!(
        board.stdout.contains("Still unread (1)"),
        "{}",
        board.stdout
    );
    assert!(board.stdout.contains("Rita Reader"), "{}", board.stdout);
    assert!(board.stdout.contains("Operations"), "{}", board.stdout);
    let json = sender.run(&["--json", "board", id]).await.ok().json();
    assert_eq!(json["summary"]["unread"], 1);
    assert_eq!(json["unread"][0]["member_id"], org.reader_id.as_str());

    // Once read, the board says who read it and when, in a named time zone.
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;
    reader.run(&["read", id]).await.ok();
    let board = sender.run(&["board", id]).await.ok();
    let listed = board
        .stdout
        .split("Read by (1):")
        .nth(1)
        .unwrap_or_else(|| panic!("a list of readers: {}", board.stdout));
    let line = listed.lines().nth(1).unwrap_or_default();
    assert!(line.contains("Rita Reader"), "{line}");
    assert!(line.contains("read 20"), "a date and time: {line}");
    let zone = line.split_whitespace().last().unwrap_or_default();
    assert!(
        zone.chars().any(|c| c.is_ascii_alphabetic()) || zone.starts_with(['+', '-']),
        "the time names its zone: {line}"
    );
    let json = sender.run(&["--json", "board", id]).await.ok().json();
    assert_eq!(json["read"][0]["member_id"], org.reader_id.as_str());
    assert!(json["read"][0]["read_at"].is_string(), "{json}");

    // The reader manages nobody: a new organisation's rights let her send nothing, and
    // the command says so rather than failing mutely.
    let refused = reader
        .run(&[
            "send",
            "--to",
            "dept:operations",
            "--title",
            "Free pizza",
            "--body",
            "In the canteen.",
        ])
        .await;
    assert_ne!(refused.code, Some(0));
    assert!(
        refused.stderr.contains("may not send"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_watch_redraws_as_soon_as_a_receipt_arrives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let id = org
        .notice_to_reader(&server.url, "Lift out of service")
        .await;
    let sender = Cli::new(&dir.path().join("sender"));
    sender.login(&server.url, &org.sender_email).await;
    let reader = Cli::new(&dir.path().join("reader"));
    reader.login(&server.url, &org.reader_email).await;

    let mut watch = sender
        .command(&["--json", "board", &id, "--watch"])
        .spawn()
        .expect("watch starts");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(cli_harness::DEADLINE, lines.next_line())
            .await
            .expect("a redraw in time")
            .expect("readable")
            .expect("the watch is still running");
        serde_json::from_str(&line).expect("one JSON board per line")
    };
    while next_line().await["connection"] != "live" {}

    reader.run(&["read", &id]).await.ok();
    loop {
        let board = next_line().await;
        if board["summary"]["read"] == 1 {
            break;
        }
    }
    watch.kill().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_watch_waits_for_a_server_that_is_away_and_follows_it_once_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let org = Org::setup(&server).await;
    let id = org
        .notice_to_reader(&server.url, "Lift out of service")
        .await;
    let sender = Cli::new(&dir.path().join("sender"));
    sender.login(&server.url, &org.sender_email).await;
    let addr = server.url.trim_start_matches("http://").to_string();
    server.kill();

    let mut watch = sender
        .command(&["--json", "board", &id, "--watch"])
        .spawn()
        .expect("watch starts");
    let mut said = BufReader::new(watch.stderr.take().expect("stderr")).lines();
    let first = tokio::time::timeout(cli_harness::DEADLINE, said.next_line())
        .await
        .expect("a word in time")
        .expect("readable")
        .expect("the watch waits instead of exiting");
    assert!(first.contains("retrying"), "{first}");
    tokio::spawn(async move { while let Ok(Some(_)) = said.next_line().await {} });

    let _back = Server::start_on(&data, &addr, &[]);
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    loop {
        let line = tokio::time::timeout(cli_harness::DEADLINE, lines.next_line())
            .await
            .expect("the board once the server is back")
            .expect("readable")
            .expect("the watch is still running");
        let board: Value = serde_json::from_str(&line).expect("one JSON board per line");
        if board["connection"] == "live" {
            assert_eq!(board["summary"]["recipients"], 1, "{board}");
            break;
        }
    }
    watch.kill().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_lists_every_refused_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let _org = Org::setup(&server).await;
    let admin = Cli::new(&dir.path().join("admin"));
    admin.login(&server.url, "ada@test.example").await;
    let header = "name,email,department,manager_email,backup_email,role\n";
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("{header}Amy Ng,amy@test.example,Test Shipping/Depot,,,member\nBo Li,not-an-email,Test Shipping/Depot,,,member\n"),
    )
    .expect("written");
    let refused = admin
        .run(&["import", bad.to_str().expect("utf-8 path")])
        .await;
    assert_ne!(refused.code, Some(0));
    assert!(refused.stdout.contains("line 3:"), "{}", refused.stdout);
    assert!(
        refused.stdout.contains("nothing was written"),
        "{}",
        refused.stdout
    );

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("{header}Amy Ng,amy@test.example,Test Shipping/Depot,,,member\n"),
    )
    .expect("written");
    let done = admin
        .run(&["--json", "import", good.to_str().expect("utf-8 path")])
        .await
        .ok()
        .json();
    assert_eq!(done["created"], 1, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_as_someone_else_is_refused_while_the_first_persons_receipts_wait() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let org = Org::setup(&server).await;
    let id = org.notice_to_reader(&server.url, "Parking permits").await;
    let device = Cli::new(&dir.path().join("device"));
    device.login(&server.url, &org.reader_email).await;
    {
        let store = Store::open(&device.store_path()).await.expect("store");
        let outbox = Outbox::new(store, ApiClient::new(&server.url).expect("client"));
        outbox
            .record(ReceiptKind::Read, &id, None)
            .await
            .expect("recorded");
        outbox.store().close().await;
    }

    let switch = device
        .run_with_stdin(
            &["login", "--email", &org.sender_email, "--password-stdin"],
            Some(PASSWORD),
        )
        .await;
    assert_ne!(switch.code, Some(0));
    assert!(
        switch.stderr.contains("readtrack sync"),
        "{}",
        switch.stderr
    );

    device.run(&["sync"]).await.ok();
    let reader_outbox = device.outbox().await;
    assert_eq!(reader_outbox["pending_count"], 0);
    device.login(&server.url, &org.sender_email).await;
    eventually("the board to show the read", || {
        let (org, url, id) = (&org, &server.url, &id);
        async move { (org.board(url, id).await["summary"]["read"] == 1).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_asks_for_the_authenticator_code_when_the_account_has_two_step_sign_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &["--dev-clock"]);
    let org = Org::setup(&server).await;
    let url = &server.url;
    let rita = login(url, &org.reader_email).await;
    let (status, setup) = call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/me/second-factor"),
        Some(&rita),
        None,
    )
    .await;
    assert_eq!(status, 201, "{setup}");
    // The authenticator app's side (the server's clock is the system's until moved).
    let app = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(setup["secret"].as_str().unwrap()).unwrap())
        .build()
        .unwrap();
    let unix = |ahead: u64| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + ahead
    };
    let (status, res) = call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/me/second-factor/confirm"),
        Some(&rita),
        Some(json!({"code": app.generate(unix(0)).to_string()})),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    // A minute on, so the next code is a fresh one.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{url}/api/v1/dev/clock"),
        None,
        Some(json!({"advance_minutes": 1})),
    )
    .await;
    assert_eq!(status, 200);

    let cli = Cli::new(&dir.path().join("rita"));
    let sign_in = |code: Option<String>| {
        let mut args = vec![
            "--server".to_string(),
            url.clone(),
            "login".into(),
            "--email".into(),
            org.reader_email.clone(),
            "--password-stdin".into(),
        ];
        if let Some(code) = code {
            args.extend(["--code".to_string(), code]);
        }
        let cli = &cli;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run_with_stdin(&args, Some(PASSWORD)).await
        }
    };
    let asked = sign_in(None).await;
    assert_ne!(asked.code, Some(0));
    assert!(asked.stderr.contains("--code"), "{}", asked.stderr);
    let wrong = sign_in(Some("000000".into())).await;
    assert_ne!(wrong.code, Some(0), "{}", wrong.stdout);
    sign_in(Some(app.generate(unix(60)).to_string())).await.ok();
}

/// A cookie jar per host and redirects followed by hand: enough browser for an OpenID
/// Provider's plain HTML forms.
struct FormBrowser {
    http: reqwest::Client,
    jar: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
}

impl FormBrowser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Default::default(),
        }
    }

    /// GET, or POST of a form when `form` is given; answers the status and the next URL
    /// (absolute) or the page.
    async fn go(&mut self, url: &str, form: Option<String>) -> (u16, String) {
        let parsed = reqwest::Url::parse(url).unwrap();
        let host = format!("{}:{:?}", parsed.host_str().unwrap(), parsed.port());
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
        let req = match form {
            Some(body) => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
            None => self.http.get(url),
        };
        let res = req.header("cookie", cookies).send().await.expect("request");
        let jar = self.jar.entry(host).or_default();
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), v.to_string());
            }
        }
        let status = res.status().as_u16();
        match res.headers().get("location") {
            Some(to) => (
                status,
                parsed.join(to.to_str().unwrap()).unwrap().to_string(),
            ),
            None => (status, res.text().await.unwrap_or_default()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_sso_signs_in_through_the_browser_and_keeps_the_token() {
    use std::path::Path;
    use std::process::{Command, Stdio};
    let peers = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../readtrack-server/tests/peers"
    ));
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(node && peers.join("node_modules/oidc-provider").is_dir()) {
        let message = "`readtrack login --sso` test needs Node.js and `npm ci` in crates/readtrack-server/tests/peers";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {message}"
        );
        eprintln!("SKIPPED: {message}");
        return;
    }
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (port, idp_port) = (free(), free());
    let public_url = format!("http://127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let dir = tempfile::tempdir().expect("temp dir");
    // Discovery waits for the first sign-in, so the server may start first.
    let server = Server::start_on(
        &dir.path().join("data"),
        &format!("127.0.0.1:{port}"),
        &[
            "--public-url",
            &public_url,
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "readtrack",
            "--oidc-client-secret",
            "clisecret9",
        ],
    );
    let org = Org::setup(&server).await;
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _provider = Killed(
        Command::new("node")
            .arg(peers.join("oidc_provider.mjs"))
            .current_dir(peers)
            .env("PORT", idp_port.to_string())
            .env("OIDC_CLIENT_ID", "readtrack")
            .env("OIDC_CLIENT_SECRET", "clisecret9")
            .env(
                "OIDC_REDIRECT_URIS",
                format!("{public_url}/auth/oidc/callback"),
            )
            .env("OIDC_USER_LOGIN", "reader")
            .env("OIDC_USER_PASSWORD", "company-pass")
            .env("OIDC_USER_SUB", "idp-reader")
            .env("OIDC_USER_EMAIL", &org.reader_email)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts the OpenID Provider"),
    );
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    eventually("the OpenID Provider answering", || async {
        reqwest::get(&discovery)
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;

    let reader = Cli::new(&dir.path().join("reader"));
    let mut child = reader
        .command(&["--server", &server.url, "--json", "login", "--sso"])
        .spawn()
        .expect("readtrack login --sso starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let start = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .expect("the client prints the address to open");
        if let Some(at) = line.find("http") {
            break line[at..].trim().to_string();
        }
    };
    assert!(start.starts_with(&format!("{}/auth/oidc/start?cli_port=", server.url)));

    // The person signs in at the provider; the browser ends at the client's loopback.
    let mut browser = FormBrowser::new();
    let (status, mut url) = browser.go(&start, None).await;
    assert_eq!(status, 303);
    let mut hops = 0;
    // Through the server and the provider until the browser is sent elsewhere.
    while url.starts_with(&issuer) || url.starts_with(&server.url) {
        hops += 1;
        assert!(hops < 15, "never came back to the client (at {url})");
        let (status, next) = browser.go(&url, None).await;
        if (300..400).contains(&status) {
            url = next;
            continue;
        }
        let form = if next.contains("name=\"login\"") {
            "prompt=login&login=reader&password=company-pass".to_string()
        } else {
            "prompt=consent".to_string()
        };
        url = browser.go(&url, Some(form)).await.1;
    }
    let (status, page) = browser.go(&url, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");

    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("the client finishes")
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["member_id"], org.reader_id.as_str());
    assert!(reader.home.join("profile.json").exists());
}
