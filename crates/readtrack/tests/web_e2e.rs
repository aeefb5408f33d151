//! End-to-end tests of the web app: the real `readtrack` binary with its demo company,
//! Debian's chromedriver, and two headless Chromium browsers at once, a sender watching
//! a read board and a recipient reading.
//!
//! Without /usr/bin/chromium or /usr/bin/chromedriver the tests say so and pass as
//! skipped, except under `CI=true`, where a missing browser is a failure. Every wait
//! polls against a deadline; nothing sleeps hoping the page caught up.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "readtrack-demo";
const ADMIN: &str = "admin@harbourline.example";
const SENDER: &str = "grace.wong@harbourline.example";
const READER: &str = "kelvin.chan@harbourline.example";

/// The browser tests share two cores: one at a time keeps their timing checks honest.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls `$body` (an `Option`) until it is `Some`, failing after `$within`.
macro_rules! eventually {
    ($within:expr, $what:expr, $body:expr) => {{
        let within: Duration = $within;
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = $body {
                break v;
            }
            if Instant::now() > deadline {
                panic!("{} did not happen within {:?}", $what, within);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// Whether the browser is installed; `CI=true` turns its absence into a failure.
fn browsers_present() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        let message = format!(
            "browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and {message}");
        }
        // Straight to the process's stderr: the test harness captures eprintln! output
        // of passing tests, and a skip must be seen.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
    }
    present
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends SIGTERM (a graceful stop), then SIGKILL if the process lingers.
fn stop_process(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The real `readtrack serve`.
struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    data: PathBuf,
}

/// The setup code the servers started here are given.
const SETUP_CODE: &str = "BROWSER-SUITE-SETUP";

impl Server {
    /// `flags` are extra `serve` flags: `--demo`, `--dev-clock`.
    fn start(data: &Path, listen: &str, flags: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_readtrack"));
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", listen, "--print-addr"])
            .env("READTRACK_LOG", "warn")
            .env("READTRACK_SETUP_CODE", SETUP_CODE)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd.args(flags);
        let mut child = cmd.spawn().expect("the readtrack binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its address")
            .parse()
            .expect("a socket address");
        Server {
            child: Some(child),
            addr,
            data: data.to_path_buf(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_process(&mut child, Duration::from_secs(10));
        }
    }

    /// Starts again on the same address and data directory (without re-seeding).
    fn restart(&mut self) {
        self.stop();
        let mut again = Server::start(&self.data, &self.addr.to_string(), &[]);
        assert_eq!(again.addr, self.addr);
        self.child = again.child.take();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Debian's chromedriver on a port of its own.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let status = format!("http://127.0.0.1:{port}/status");
        eventually!(Duration::from_secs(15), "chromedriver answering", {
            match http.get(&status).send().await {
                Ok(r) if r.status().is_success() => Some(()),
                _ => None,
            }
        });
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a test needs: the server with its demo company, chromedriver, the API.
struct World {
    server: Server,
    driver: Driver,
    http: reqwest::Client,
    profiles: tempfile::TempDir,
    _data: tempfile::TempDir,
    reader_id: String,
    sender_token: String,
}

impl World {
    async fn start() -> World {
        World::start_with(&["--demo"]).await
    }

    /// A world whose server runs with `flags` (which must include `--demo`).
    async fn start_with(flags: &[&str]) -> World {
        World::start_on("127.0.0.1:0", flags).await
    }

    /// [`World::start_with`] on a given address (for settings that name the server's
    /// own address, as the identity provider's redirect URI).
    async fn start_on(listen: &str, flags: &[&str]) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = tempfile::tempdir().expect("a data dir");
        let server = Server::start(data.path(), listen, flags);
        let driver = Driver::start().await;
        let http = reqwest::Client::new();
        let mut world = World {
            server,
            driver,
            http,
            profiles: tempfile::tempdir().expect("a profiles dir"),
            _data: data,
            reader_id: String::new(),
            sender_token: String::new(),
        };
        let admin = world.login(ADMIN).await;
        let found = world
            .api(&admin, "GET", "/api/v1/members?q=kelvin.chan", None)
            .await;
        world.reader_id = found["items"][0]["id"]
            .as_str()
            .expect("the demo reader")
            .to_string();
        // Reads in the reader's quiet hours are shown without a time, by design. Put the
        // reader where it is midday now, so this suite does not depend on the hour it runs.
        let zone = midday_zone();
        let path = format!("/api/v1/members/{}", world.reader_id);
        world
            .api(&admin, "PATCH", &path, Some(json!({ "time_zone": zone })))
            .await;
        world.sender_token = world.login(SENDER).await;
        world
    }

    async fn login(&self, email: &str) -> String {
        let url = self.server.url("/api/v1/auth/login");
        let body = eventually!(Duration::from_secs(30), "the server accepting sign-ins", {
            match self
                .http
                .post(&url)
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                _ => None,
            }
        });
        body["token"].as_str().expect("a token").to_string()
    }

    async fn api(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = self.server.url(path);
        let req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "PATCH" => self.http.patch(&url),
            other => panic!("unsupported method {other}"),
        };
        let req = req.bearer_auth(token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let res = req.send().await.expect("the API answers");
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// The sender posts an urgent, per-person tracked notice to the reader alone.
    async fn send_notice(&self, title: &str, require_ack: bool) -> String {
        let body = "The alarm sounds at **10:00**. Leave by the nearest stairway and gather at the \
                    assembly point on the pier.\n\n- Take your staff card.\n- Do not use the lifts.\n- \
                    Floor wardens count their floor and report to reception.\n\nThank you for \
                    taking part: the drill keeps our licence and, more importantly, keeps you safe.";
        let sent = self.send_notice_with_body(title, body, require_ack).await;
        sent["id"].as_str().expect("a notice id").to_string()
    }

    /// [`World::send_notice`] with a body of the test's own; the whole answer.
    async fn send_notice_with_body(&self, title: &str, body: &str, require_ack: bool) -> Value {
        self.api(
            &self.sender_token,
            "POST",
            "/api/v1/messages",
            Some(json!({
                "title": title,
                "body": body,
                "priority": "urgent",
                "tracking": "per_person",
                "require_ack": require_ack,
                "audience": {"members": [self.reader_id]},
            })),
        )
        .await
    }

    async fn browser(&self, name: &str, accept_language: &str) -> WebDriver {
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).expect("binary");
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).expect("arg");
        }
        let profile = self.profiles.path().join(name);
        caps.add_arg(&format!("--user-data-dir={}", profile.display()))
            .expect("profile");
        caps.add_experimental_option("prefs", json!({ "intl.accept_languages": accept_language }))
            .expect("prefs");
        WebDriver::new(format!("http://127.0.0.1:{}", self.driver.port), caps)
            .await
            .expect("a browser session")
    }

    async fn sign_in(&self, b: &WebDriver, email: &str) {
        b.goto(self.server.url("/login"))
            .await
            .expect("the sign-in page");
        b.find(By::Css("input[name=email]"))
            .await
            .unwrap()
            .send_keys(email)
            .await
            .unwrap();
        b.find(By::Css("input[name=password]"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        b.find(By::Css("form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        eventually!(
            Duration::from_secs(10),
            format!("{email} reaching the inbox"),
            {
                let url = b.current_url().await.ok();
                url.filter(|u| u.path() == "/inbox")
            }
        );
    }
}

/// An IANA zone where the local time is now around noon (`Etc/GMT-3` is UTC+3).
fn midday_zone() -> String {
    let hour = Timestamp::now().as_second().rem_euclid(86_400) / 3600;
    let mut offset = 12 - hour;
    if offset > 12 {
        offset -= 24;
    }
    match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// Runs a script and returns its value.
async fn js(b: &WebDriver, script: &str) -> Value {
    b.execute(script, Vec::<Value>::new())
        .await
        .expect("script runs")
        .json()
        .clone()
}

/// A string the script returns, when it returns one.
async fn js_string(b: &WebDriver, script: &str) -> Option<String> {
    js(b, script).await.as_str().map(String::from)
}

/// The reader's row on the sender's board: `[state, read_at, acked_at]`.
async fn board_row(
    b: &WebDriver,
    member: &str,
) -> Option<(String, Option<String>, Option<String>)> {
    let v = js(
        b,
        &format!(
            "const r = document.querySelector('#people tr[data-member=\"{member}\"]');
             if (!r) return null;
             return [r.dataset.state, r.querySelector('.read-at time')?.dateTime ?? null,
                     r.querySelector('.acked-at time')?.dateTime ?? null];"
        ),
    )
    .await;
    let a = v.as_array()?;
    Some((
        a[0].as_str()?.to_string(),
        a[1].as_str().map(String::from),
        a[2].as_str().map(String::from),
    ))
}

async fn count(b: &WebDriver, id: &str) -> Option<String> {
    js_string(
        b,
        &format!("return document.getElementById('{id}')?.textContent.trim() ?? null"),
    )
    .await
}

fn instant(iso: &str) -> Timestamp {
    iso.parse()
        .unwrap_or_else(|e| panic!("{iso:?} is not an RFC 3339 time: {e}"))
}

/// Saves a screenshot: into the build's scratch folder by default, so running the tests
/// leaves the checkout clean, or into `READTRACK_SCREENSHOTS` (e.g. `docs/screenshots`)
/// to refresh the ones the README shows.
async fn screenshot(b: &WebDriver, name: &str) {
    let dir = match std::env::var_os("READTRACK_SCREENSHOTS") {
        Some(d) => std::path::PathBuf::from(d),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    let png = b.screenshot_as_png().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(name), png).expect("the screenshot is saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_in_the_recipients_browser_reaches_the_senders_open_board_live_and_so_does_the_confirmation()
 {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let world = World::start().await;
    let id = world
        .send_notice("Fire drill on Thursday at 10:00", true)
        .await;
    let reader_id = world.reader_id.clone();

    let sender = world.browser("sender", "en-GB,en").await;
    world.sign_in(&sender, SENDER).await;
    sender
        .goto(world.server.url(&format!("/notices/{id}/board")))
        .await
        .unwrap();
    eventually!(Duration::from_secs(10), "the board going live", {
        js_string(
            &sender,
            "return document.getElementById('live').dataset.state",
        )
        .await
        .filter(|s| s == "live")
    });

    let reader = world.browser("reader", "en-GB,en").await;
    world.sign_in(&reader, READER).await;
    // The inbox reports the notice delivered, live on the board, and never read.
    eventually!(
        Duration::from_secs(15),
        "the board showing the inbox's delivery",
        {
            board_row(&sender, &reader_id)
                .await
                .filter(|(state, _, _)| state == "delivered")
        }
    );
    let watched = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watched {
        assert_eq!(
            count(&sender, "n-read").await.as_deref(),
            Some("0"),
            "listing a notice is not reading it"
        );
        assert_eq!(count(&sender, "n-unread").await.as_deref(), Some("1"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&reader, "inbox.png").await;

    reader
        .find(By::Css(format!("a[href='/notices/{id}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let read_at = eventually!(
        Duration::from_secs(15),
        "the notice page recording the read",
        {
            js_string(
                &reader,
                "return document.querySelector('#read-status time')?.dateTime ?? null",
            )
            .await
        }
    );
    let recorded = Instant::now();
    let opened_ms = js(&reader, "return performance.timeOrigin")
        .await
        .as_f64()
        .expect("a number");
    // On the device's own clock: `read_at` is on the server's, as the page learned it.
    let device_at = js_string(
        &reader,
        "return document.getElementById('read-status').dataset.deviceAt ?? null",
    )
    .await
    .expect("the device's own time of the read");
    let dwell_ms = instant(&device_at).as_millisecond() as f64 - opened_ms;
    assert!(
        dwell_ms >= 1000.0,
        "read after {dwell_ms} ms on screen; it must be at least a second"
    );

    let (_, board_read_at, _) = eventually!(
        Duration::from_secs(2),
        "the sender's board showing the read",
        {
            board_row(&sender, &reader_id)
                .await
                .filter(|(state, read, _)| state == "read" && read.is_some())
        }
    );
    assert!(
        recorded.elapsed() <= Duration::from_secs(2),
        "the board took {:?}",
        recorded.elapsed()
    );
    assert_eq!(
        instant(&board_read_at.unwrap()),
        instant(&read_at),
        "the board shows the reader's own time"
    );
    assert_eq!(count(&sender, "n-read").await.as_deref(), Some("1"));
    assert_eq!(count(&sender, "n-unread").await.as_deref(), Some("0"));
    screenshot(&reader, "notice-read.png").await;
    screenshot(&sender, "board-live-read.png").await;

    reader
        .find(By::Id("confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (_, _, acked_at) = eventually!(
        Duration::from_secs(3),
        "the sender's board showing the confirmation",
        {
            board_row(&sender, &reader_id)
                .await
                .filter(|(state, _, acked)| state == "acknowledged" && acked.is_some())
        }
    );
    assert!(instant(&acked_at.unwrap()) >= instant(&read_at));
    assert_eq!(count(&sender, "n-acknowledged").await.as_deref(), Some("1"));
    screenshot(&sender, "board-acknowledged.png").await;
    sender.set_window_rect(0, 0, 390, 844).await.unwrap();
    screenshot(&sender, "board-phone.png").await;

    sender.quit().await.ok();
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_notice_is_read_only_at_its_end_and_a_lagging_device_clock_is_corrected() {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    // The server's clock runs ten minutes ahead of this machine's: to the server, the
    // browser's device clock lags ten minutes, twice what a report may be off by.
    let ahead = Timestamp::now() + jiff::SignedDuration::from_mins(10);
    let world = World::start_with(&["--demo", "--dev-clock-at", &ahead.to_string()]).await;
    let body = (1..=80)
        .map(|i| format!("Rule {i}: keep the walkways clear and report any hazard at once."))
        .collect::<Vec<_>>()
        .join("\n\n");
    let sent = world
        .send_notice_with_body("The safety rules, in full", &body, false)
        .await;
    let id = sent["id"].as_str().expect("a notice id").to_string();
    let created_at = instant(sent["created_at"].as_str().expect("its send time"));

    let reader = world.browser("long-reader", "en-GB,en").await;
    world.sign_in(&reader, READER).await;
    reader
        .goto(world.server.url(&format!("/notices/{id}")))
        .await
        .unwrap();
    // The first screenful, however long it stays, is not the whole notice.
    let taller = js(
        &reader,
        "return document.getElementById('notice-body').scrollHeight > 2 * window.innerHeight",
    )
    .await;
    assert_eq!(taller, json!(true), "the notice is longer than the screen");
    let watched = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < watched {
        let done = js(
            &reader,
            "return document.getElementById('read-status').classList.contains('done')",
        )
        .await;
        assert_eq!(done, json!(false), "read before its end was on screen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    js(
        &reader,
        "document.querySelector('.notice-end').scrollIntoView({block: 'end'}); return null",
    )
    .await;
    let read_at = eventually!(Duration::from_secs(15), "the read at the notice's end", {
        js_string(
            &reader,
            "return document.querySelector('#read-status time')?.dateTime ?? null",
        )
        .await
    });
    let device_at = js_string(
        &reader,
        "return document.getElementById('read-status').dataset.deviceAt ?? null",
    )
    .await
    .expect("the device's own time");
    let correction = instant(&read_at).duration_since(instant(&device_at));
    assert!(
        (correction.as_secs() - 600).abs() <= 30,
        "the page learned that its clock lags ten minutes: corrected by {correction:?}"
    );

    // The sender's board has the read at its true moment on the server's time line: not
    // refused as before the send, not clamped to the send, and after the time it took.
    let path = format!("/api/v1/messages/{id}/receipts");
    let row = eventually!(Duration::from_secs(15), "the read on the board", {
        let board = world.api(&world.sender_token, "GET", &path, None).await;
        board["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|r| r["member_id"] == world.reader_id.as_str())
            })
            .filter(|r| r["state"] == "read")
            .cloned()
    });
    let board_read_at = instant(row["read_at"].as_str().expect("a read time"));
    assert_eq!(board_read_at, instant(&read_at));
    let after_send = board_read_at.duration_since(created_at);
    assert!(
        after_send >= jiff::SignedDuration::from_millis(2500)
            && after_send < jiff::SignedDuration::from_mins(2),
        "read {after_send:?} after the send"
    );
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installable_app_shows_the_inbox_and_an_opened_notice_while_the_server_is_away() {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let mut world = World::start().await;
    let title = "Fire drill on Thursday at 10:00";
    let id = world.send_notice(title, false).await;
    let reader = world.browser("reader-installed", "en-GB,en").await;
    world.sign_in(&reader, READER).await;
    reader.goto(world.server.url("/inbox")).await.unwrap();
    let manifest = reader
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('link[rel=manifest]').href;
             fetch(link).then((r) => r.json()).then(done, (e) => done(String(e)));",
            Vec::<Value>::new(),
        )
        .await
        .expect("the manifest can be fetched")
        .json()
        .clone();
    assert_eq!(manifest["start_url"], "/inbox", "{manifest}");
    assert_eq!(manifest["display"], "standalone", "{manifest}");
    // The page registers the worker; once it is active it takes charge of the page.
    let state = reader
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.serviceWorker.ready.then((r) => done(r.active ? r.active.state : 'none'), (e) => done(String(e)));",
            Vec::<Value>::new(),
        )
        .await
        .expect("the service worker becomes ready")
        .json()
        .clone();
    assert_eq!(state, "activated");
    // Pages loaded from now on go through it.
    reader.goto(world.server.url("/inbox")).await.unwrap();
    eventually!(
        Duration::from_secs(20),
        "the service worker taking charge of the page",
        {
            js(
                &reader,
                "return navigator.serviceWorker.controller ? true : null",
            )
            .await
            .as_bool()
        }
    );
    // Opened once while the server is there, the notice is kept for later.
    reader
        .goto(world.server.url(&format!("/notices/{id}")))
        .await
        .unwrap();
    reader.goto(world.server.url("/inbox")).await.unwrap();

    world.server.stop();
    reader.goto(world.server.url("/inbox")).await.unwrap();
    let inbox = eventually!(Duration::from_secs(10), "the inbox from the app's cache", {
        js_string(
            &reader,
            "return document.querySelector('main')?.innerText ?? null",
        )
        .await
    });
    assert!(inbox.contains(title), "the inbox lists the notice: {inbox}");
    reader
        .goto(world.server.url(&format!("/notices/{id}")))
        .await
        .unwrap();
    let heading = eventually!(
        Duration::from_secs(10),
        "the notice from the app's cache",
        {
            js_string(
                &reader,
                "return document.querySelector('h1')?.innerText ?? null",
            )
            .await
        }
    );
    assert_eq!(heading, title);
    world.server.restart();
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_made_while_the_server_is_down_reaches_the_board_after_the_restart_with_its_true_time()
 {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let mut world = World::start().await;
    let id = world
        .send_notice(
            "New roster for the Christmas peak: please read before Monday",
            false,
        )
        .await;
    let reader_id = world.reader_id.clone();

    let sender = world.browser("sender", "en-GB,en").await;
    world.sign_in(&sender, SENDER).await;
    sender
        .goto(world.server.url(&format!("/notices/{id}/board")))
        .await
        .unwrap();

    let reader = world.browser("reader", "en-GB,en").await;
    world.sign_in(&reader, READER).await;
    // A short window keeps the body below the fold: the page is open, the notice unread.
    reader.set_window_rect(0, 0, 1000, 240).await.unwrap();
    reader
        .goto(world.server.url(&format!("/notices/{id}")))
        .await
        .unwrap();
    let below = js(
        &reader,
        "return document.getElementById('notice-body').getBoundingClientRect().top >= innerHeight",
    )
    .await;
    assert_eq!(below, json!(true), "the body starts below the fold");
    eventually!(
        Duration::from_secs(15),
        "the board showing the page's delivery",
        {
            board_row(&sender, &reader_id)
                .await
                .filter(|(state, _, _)| state == "delivered")
        }
    );

    world.server.stop();
    js(
        &reader,
        "document.getElementById('notice-body').scrollIntoView({block: 'end'}); return true",
    )
    .await;
    let read_at = eventually!(
        Duration::from_secs(15),
        "the read recorded on the device while offline",
        {
            js_string(
                &reader,
                "return document.querySelector('#read-status time')?.dateTime ?? null",
            )
            .await
        }
    );
    let queued = reader
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('readtrack');
             open.onsuccess = () => {
               const all = open.result.transaction('outbox').objectStore('outbox').getAll();
               all.onsuccess = () => done(all.result.filter((i) => i.kind === 'read').map((i) => i.at));
             };",
            Vec::<Value>::new(),
        )
        .await
        .expect("the outbox can be read")
        .json()
        .clone();
    assert_eq!(
        queued,
        json!([read_at]),
        "the read waits in the IndexedDB outbox"
    );
    reader.set_window_rect(0, 0, 1280, 900).await.unwrap();
    screenshot(&reader, "notice-read-offline.png").await;

    let restarted_at = Timestamp::now();
    world.server.restart();
    let (_, board_read_at, _) = eventually!(
        Duration::from_secs(30),
        "the board showing the offline read",
        {
            board_row(&sender, &reader_id)
                .await
                .filter(|(state, read, _)| state == "read" && read.is_some())
        }
    );
    let shown = instant(&board_read_at.unwrap());
    assert_eq!(
        shown,
        instant(&read_at),
        "the board shows when it was read on the device"
    );
    assert!(
        shown < restarted_at,
        "the read time is not the time the server came back"
    );
    eventually!(
        Duration::from_secs(10),
        "the notice page confirming the sync",
        {
            js_string(
                &reader,
                "return document.getElementById('read-status').dataset.synced ?? null",
            )
            .await
        }
    );
    screenshot(&sender, "board-after-restart.png").await;

    sender.quit().await.ok();
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_speaks_traditional_chinese_to_a_chinese_browser_and_switches_to_english_and_back()
 {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let world = World::start().await;
    world
        .send_notice("Fire drill on Thursday at 10:00", true)
        .await;
    let reader = world.browser("reader-zh", "zh-HK,zh;q=0.9,en;q=0.5").await;

    reader.goto(world.server.url("/login")).await.unwrap();
    assert_eq!(
        reader
            .find(By::Css("main h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "登入"
    );
    world.sign_in(&reader, READER).await;
    let heading = reader
        .find(By::Css("main h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "收件匣");
    assert_eq!(
        js_string(&reader, "return document.documentElement.lang")
            .await
            .as_deref(),
        Some("zh-Hant")
    );
    let state = reader
        .find(By::Css(".notice-item .state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(state, "未讀");
    let nav = reader
        .find(By::Css(".main-nav"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(nav.contains("待辦事項"), "{nav}");
    // A customer-service agent manages nobody: a new organisation's sending rights
    // give them nothing to send, and the navigation offers no "New notice".
    assert!(!nav.contains("新通告"), "{nav}");
    screenshot(&reader, "inbox-zh-hant.png").await;

    reader
        .find(By::Css(".lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the switch to English", {
        let h = reader.find(By::Css("main h1")).await.ok();
        match h {
            Some(h) => h.text().await.ok().filter(|t| t == "Inbox"),
            None => None,
        }
    });
    reader
        .find(By::Css(".lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the switch back to Chinese", {
        let h = reader.find(By::Css("main h1")).await.ok();
        match h {
            Some(h) => h.text().await.ok().filter(|t| t == "收件匣"),
            None => None,
        }
    });
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_page_counts_the_recipients_before_sending_and_the_board_reminds_the_unread() {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let world = World::start().await;
    let sender = world.browser("composer", "en-GB,en").await;
    world.sign_in(&sender, SENDER).await;
    sender.goto(world.server.url("/compose")).await.unwrap();

    let customer_service = js_string(
        &sender,
        "const l = [...document.querySelectorAll('.dept-tree label')].find((l) => l.textContent.trim() === 'Customer Service');
         return l ? l.querySelector('input').value : null;",
    )
    .await
    .expect("the Customer Service department in the picker");
    sender
        .find(By::Css(format!(
            "input[name=department][value='{customer_service}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let departmental: u64 = eventually!(Duration::from_secs(15), "the recipient count", {
        count(&sender, "recipient-count")
            .await
            .and_then(|c| c.parse::<u64>().ok())
            .filter(|n| *n > 0)
    });

    let search = sender.find(By::Id("people-search")).await.unwrap();
    search.send_keys("Kelvin Chan").await.unwrap();
    let result = eventually!(Duration::from_secs(15), "a search result", {
        sender.find(By::Css("#people-results button")).await.ok()
    });
    result.click().await.unwrap();
    eventually!(
        Duration::from_secs(15),
        "the count including the person picked",
        {
            count(&sender, "recipient-count")
                .await
                .filter(|c| *c == (departmental + 1).to_string())
        }
    );

    sender
        .find(By::Css("input[name=title]"))
        .await
        .unwrap()
        .send_keys("Counter closes early on Friday")
        .await
        .unwrap();
    sender
        .find(By::Id("body"))
        .await
        .unwrap()
        .send_keys("The counter closes at **15:00** for the stock-take.")
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the Markdown preview", {
        js_string(
            &sender,
            "return document.querySelector('#preview strong')?.textContent ?? null",
        )
        .await
    });
    screenshot(&sender, "compose.png").await;
    sender
        .find(By::Css(".send-row button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(Duration::from_secs(10), "the new notice's board", {
        let url = sender.current_url().await.ok();
        url.filter(|u| u.path().ends_with("/board"))
    });
    assert_eq!(
        count(&sender, "n-recipients").await,
        Some((departmental + 1).to_string())
    );

    // Reminding the unread by hand answers with what happened, and a second press within
    // ten minutes is refused politely.
    sender
        .find(By::Id("remind"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the reminder answer", {
        count(&sender, "remind-status")
            .await
            .filter(|t| t.starts_with("Reminded: "))
    });
    sender
        .find(By::Id("remind"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(
        Duration::from_secs(15),
        "the refusal of a second reminder",
        {
            count(&sender, "remind-status")
                .await
                .filter(|t| t == "Reminded recently. Try again later.")
        }
    );
    // Hidden people too few to count are in no figure (the board says how many).
    let hidden: u64 = count(&sender, "n-hidden")
        .await
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let counted = if hidden > 0 && hidden < 5 {
        departmental + 1 - hidden
    } else {
        departmental + 1
    };
    sender.goto(world.server.url("/sent")).await.unwrap();
    let progress = sender
        .find(By::Css(".sent-progress"))
        .await
        .expect("the sent list shows read progress")
        .text()
        .await
        .unwrap();
    assert!(progress.contains(&format!("/{counted} read")), "{progress}");
    screenshot(&sender, "sent.png").await;
    sender.quit().await.ok();
}

/// (department path, people) of the organisation the analytics test builds: Compliance
/// is smaller than the minimum group size of 5, so its figures must stay hidden.
const HISTORY_DEPARTMENTS: &[(&str, usize, f64)] = &[
    // (path, people, typical minutes to read at the start)
    ("Retail/Causeway Bay", 12, 9.0),
    ("Retail/Mong Kok", 14, 45.0),
    ("Retail/Tsim Sha Tsui", 10, 16.0),
    ("Logistics/Kwai Chung", 12, 80.0),
    ("Customer Service", 9, 6.0),
    ("Head Office/Compliance", 3, 12.0),
];

const HISTORY_TITLES: &[&str] = &[
    "Typhoon season: updated store closing procedure",
    "New card terminals from Monday",
    "Stock-take on Sunday: rosters",
    "Fire drill on Thursday at 10:00",
    "Privacy refresher: customer data at the counter",
    "Peak season overtime arrangements",
    "Uniform collection at Kwai Chung",
    "Christmas roster: please confirm your shifts",
    "Price change on festive hampers",
    "Lift maintenance at head office",
];

/// A small deterministic generator, so the seeded history (and its charts) is the same
/// on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the seeded history is made of, for the test to check against.
struct History {
    /// The notices, oldest first: (id, sent at).
    notices: Vec<(String, Timestamp)>,
    /// The first and last day with a notice, `YYYY-MM-DD` in Hong Kong.
    first_day: String,
    last_day: String,
    /// The day the pilot started.
    pilot_day: String,
}

/// 10:00 in Hong Kong on `day`.
fn hk(day: jiff::civil::Date, hour: i8, minute: i8) -> Timestamp {
    day.at(hour, minute, 0, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Hong_Kong").expect("the zone"))
        .expect("a time")
        .timestamp()
}

impl World {
    /// A server with a movable clock and no demo crowd, holding two working weeks of
    /// notices that people read at chosen times: slower departments, late readers who
    /// were reminded, a few who never read, and a pilot half-way that speeds reading up.
    async fn start_with_history() -> (World, History) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = tempfile::tempdir().expect("a data dir");
        let server = Server::start(data.path(), "127.0.0.1:0", &["--dev-clock"]);
        let driver = Driver::start().await;
        let mut world = World {
            server,
            driver,
            http: reqwest::Client::new(),
            profiles: tempfile::tempdir().expect("a profiles dir"),
            _data: data,
            reader_id: String::new(),
            sender_token: String::new(),
        };
        let http = world.http.clone();
        let url = |p: &str| world.server.url(p);
        let hk_today = jiff::tz::TimeZone::get("Asia/Hong_Kong")
            .expect("the zone")
            .to_datetime(Timestamp::now())
            .date();
        // The last ten working days up to today: reminders and escalations count working
        // time, so every notice goes out on a weekday.
        let mut days: Vec<jiff::civil::Date> = (0..=16)
            .rev()
            .filter_map(|n| hk_today.checked_sub(jiff::Span::new().days(n)).ok())
            .filter(|d| {
                !matches!(
                    d.weekday(),
                    jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
                )
            })
            .collect();
        days.drain(..days.len().saturating_sub(10));
        let clock = |at: Timestamp| {
            let http = http.clone();
            let url = url("/api/v1/dev/clock");
            async move {
                let res = http
                    .post(&url)
                    .json(&json!({"set": at.to_string()}))
                    .send()
                    .await
                    .expect("the clock moves");
                assert!(res.status().is_success(), "{}", res.status());
            }
        };
        // Set up two weeks ago, so that nothing happened before the organisation existed.
        clock(hk(days[0], 8, 0)).await;
        let setup: Value = http
            .post(url("/api/v1/setup"))
            .json(&json!({"org_name": "Harbour Line", "setup_code": SETUP_CODE, "time_zone": "Asia/Hong_Kong",
                          "admin": {"name": "Ivy Lam (IT admin)", "email": ADMIN, "password": PASSWORD}}))
            .send()
            .await
            .expect("setup")
            .json()
            .await
            .expect("setup answer");
        let admin = setup["token"].as_str().expect("an admin token").to_string();

        let mut csv = String::from("name,email,department,manager_email,backup_email,role\n");
        csv.push_str(&format!(
            "Grace Wong,{SENDER},Head Office/Operations,,,member\n"
        ));
        let surnames = [
            "Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Yip", "Tam", "Lam",
        ];
        let given = [
            "Ka Yan",
            "Wing Sze",
            "Chi Ho",
            "Man Kit",
            "Hoi Ting",
            "Tsz Ching",
            "Ka Ho",
            "Wai Man",
            "Pui Yee",
        ];
        let mut n = 0usize;
        for (path, people, _) in HISTORY_DEPARTMENTS {
            for i in 0..*people {
                if *path == "Customer Service" && i == 0 {
                    csv.push_str(&format!("Kelvin Chan,{READER},{path},{SENDER},,member\n"));
                    continue;
                }
                let name = format!(
                    "{} {}",
                    surnames[n % surnames.len()],
                    given[(n / surnames.len() + n) % given.len()]
                );
                csv.push_str(&format!(
                    "{name},person{n}@harbourline.example,{path},{SENDER},,member\n"
                ));
                n += 1;
            }
        }
        let imported = http
            .post(url("/api/v1/members/import"))
            .bearer_auth(&admin)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import");
        assert!(
            imported.status().is_success(),
            "{}",
            imported.text().await.unwrap_or_default()
        );
        let members = world
            .api(&admin, "GET", "/api/v1/members?limit=500", None)
            .await;
        let departments = world.api(&admin, "GET", "/api/v1/departments", None).await;
        // Head office sends to everyone (the sender works there); everyone else keeps a
        // new organisation's rights.
        let head_office = departments["items"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["name"] == "Head Office"))
            .and_then(|d| d["id"].as_str())
            .expect("the head office department")
            .to_string();
        let all =
            json!({"reach": "everyone", "max_priority": "urgent", "max_tracking": "per_person"});
        world
            .api(
                &admin,
                "PATCH",
                "/api/v1/org/settings",
                Some(json!({"sending_rights": {
                    "staff": {"reach": "nobody", "max_priority": "normal", "max_tracking": "off"},
                    "managers": {"reach": "own_department", "max_priority": "urgent", "max_tracking": "per_person"},
                    "departments": [{"department_id": head_office, "reach": all["reach"],
                                     "max_priority": all["max_priority"], "max_tracking": all["max_tracking"]}]
                }})),
            )
            .await;
        let dept_name = |id: &str| {
            departments["items"]
                .as_array()
                .and_then(|a| a.iter().find(|d| d["id"] == id))
                .and_then(|d| d["name"].as_str())
                .unwrap_or("")
                .to_string()
        };
        // (member id, email, typical minutes) for everyone who receives the notices.
        let mut people: Vec<(String, String, f64)> = Vec::new();
        for m in members["items"].as_array().expect("members") {
            let email = m["email"].as_str().unwrap_or("").to_string();
            let dept = dept_name(m["department_id"].as_str().unwrap_or(""));
            if let Some((_, _, minutes)) = HISTORY_DEPARTMENTS
                .iter()
                .find(|(p, _, _)| p.ends_with(&dept))
            {
                people.push((m["id"].as_str().unwrap().to_string(), email, *minutes));
            }
        }
        let id_of = |email: &str| {
            members["items"]
                .as_array()
                .and_then(|a| a.iter().find(|m| m["email"] == email))
                .and_then(|m| m["id"].as_str())
                .map(String::from)
                .expect("a member")
        };
        world.reader_id = id_of(READER);
        for email in [SENDER, READER] {
            let path = format!("/api/v1/members/{}", id_of(email));
            world
                .api(&admin, "PATCH", &path, Some(json!({"password": PASSWORD})))
                .await;
        }
        let ids: Vec<&String> = people.iter().map(|(id, _, _)| id).collect();
        let tokens = world
            .api(
                &admin,
                "POST",
                "/api/v1/tokens/batch",
                Some(json!({"name": "history", "member_ids": ids})),
            )
            .await;
        let token_of: std::collections::HashMap<String, String> = tokens["items"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| {
                (
                    t["member_id"].as_str().unwrap().to_string(),
                    t["token"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // Everyone acknowledges the policy, so the boards may list them.
        let acks = people.iter().map(|(id, _, _)| {
            let (http, url, token) = (
                http.clone(),
                url("/api/v1/policy/ack"),
                token_of[id].clone(),
            );
            async move {
                http.post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"version": 1}))
                    .send()
                    .await
                    .map(|r| r.status())
            }
        });
        for status in futures_util::future::join_all(acks).await {
            assert!(status.expect("an answer").is_success());
        }
        world.sender_token = world.login(SENDER).await;
        world
            .api(
                &admin,
                "POST",
                "/api/v1/policy/ack",
                Some(json!({"version": 1})),
            )
            .await;
        let top: Vec<String> = departments["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                ["Retail", "Logistics", "Customer Service", "Head Office"]
                    .contains(&d["name"].as_str().unwrap_or(""))
            })
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        let pilot: Vec<String> = departments["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"] == "Retail" || d["name"] == "Customer Service")
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();

        let mut rng = Lcg(20_261_128);
        let mut notices = Vec::new();
        let pilot_index = days.len() / 2;
        for (index, day) in days.iter().enumerate() {
            if index == pilot_index {
                // The pilot starts: per-person tracking in Retail and Customer Service
                // only, and people read sooner (what the before/after comparison shows).
                world
                    .api(
                        &admin,
                        "PATCH",
                        "/api/v1/org/settings",
                        Some(json!({"pilot": {"departments": pilot}})),
                    )
                    .await;
            }
            let sent_at = hk(*day, 10, 0);
            // Every third notice asks to be confirmed too.
            let asks_ack = index % 3 == 0;
            clock(sent_at).await;
            let sent = world
                .api(
                    &world.sender_token,
                    "POST",
                    "/api/v1/messages",
                    Some(
                        json!({"title": HISTORY_TITLES[index % HISTORY_TITLES.len()],
                                "body": "Please read this notice and tell your team.",
                                "priority": "important", "tracking": "per_person",
                                "require_ack": asks_ack,
                                "audience": {"departments": top}}),
                    ),
                )
                .await;
            let id = sent["id"].as_str().expect("a notice id").to_string();
            // Who reads when, in minutes after sending.
            let mut reads: Vec<(String, f64)> = Vec::new();
            for (member, email, typical) in &people {
                let later = if index >= pilot_index { 0.45 } else { 1.0 };
                let read_share = if index >= pilot_index { 0.96 } else { 0.82 };
                let minutes = if email == READER {
                    // Kelvin is late on the last two: one read after its escalation, one
                    // still unread, so his task list has one of each.
                    match days.len() - index {
                        2 => Some(7.0 * 60.0),
                        1 => None,
                        _ => Some(4.0 + rng.next() * 20.0),
                    }
                } else if rng.next() < read_share {
                    let spread = (-(1.0 - rng.next()).ln()).powf(1.3) * 1.6 + 0.15;
                    Some((typical * later * spread).clamp(0.3, 470.0))
                } else {
                    None
                };
                if let Some(m) = minutes {
                    reads.push((member.clone(), m));
                }
            }
            // A receipt may not be dated after the server's clock, so the clock moves
            // first: to 11:58, before the first reminder, for the prompt readers; then to
            // 17:55, still working time, so the reminders and escalations of those still
            // unread fire before the late readers' receipts land.
            for ((hour, minute), (from, until)) in
                [((11, 58), (0.0, 118.0)), ((17, 55), (118.0, 475.0))]
            {
                clock(hk(*day, hour, minute)).await;
                if from > 0.0 && days.len() - index <= 2 {
                    // Kelvin's escalation (at 16:00) comes before his late read.
                    let reader = token_of[&world.reader_id].clone();
                    eventually!(
                        Duration::from_secs(10),
                        "Kelvin's task from the escalation",
                        {
                            let tasks = world.api(&reader, "GET", "/api/v1/tasks", None).await;
                            tasks["items"]
                                .as_array()
                                .and_then(|a| a.iter().find(|t| t["message_id"] == id.as_str()))
                                .map(|_| ())
                        }
                    );
                }
                let posts = reads
                    .iter()
                    .filter(|(_, m)| *m >= from && *m < until)
                    .map(|(member, m)| {
                        let at = sent_at + jiff::SignedDuration::from_secs_f64(m * 60.0);
                        let mut items = vec![
                            json!({"event_id": format!("{id}-{member}-d"), "message_id": id, "kind": "delivered",
                                   "at": (sent_at + jiff::SignedDuration::from_secs(20)).to_string()}),
                            json!({"event_id": format!("{id}-{member}-r"), "message_id": id, "kind": "read", "at": at.to_string()}),
                        ];
                        if asks_ack {
                            // Confirmed a few minutes after reading, within the same window.
                            let acked = (m + 2.0 + m % 7.0).min(until - 0.5);
                            let acked_at = sent_at + jiff::SignedDuration::from_secs_f64(acked * 60.0);
                            items.push(json!({"event_id": format!("{id}-{member}-a"), "message_id": id,
                                              "kind": "ack", "at": acked_at.to_string()}));
                        }
                        let body = json!({ "receipts": items });
                        let (http, url, token) = (http.clone(), url("/api/v1/receipts"), token_of[member].clone());
                        async move {
                            let res = http.post(&url).bearer_auth(&token).json(&body).send().await.expect("an answer");
                            res.json::<Value>().await.expect("results")
                        }
                    });
                for answer in futures_util::future::join_all(posts).await {
                    let applied = answer["results"]
                        .as_array()
                        .is_some_and(|r| r.iter().all(|i| i["status"] == "applied"));
                    assert!(applied, "every seeded receipt applies: {answer}");
                }
            }
            notices.push((id, sent_at));
        }
        let history = History {
            notices,
            first_day: days[0].to_string(),
            last_day: days[days.len() - 1].to_string(),
            pilot_day: days[pilot_index].to_string(),
        };
        (world, history)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_page_renders_its_charts_and_members_see_their_tasks_and_their_data() {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let (world, history) = World::start_with_history().await;
    let days = history.notices.len();

    let analyst = world.browser("analyst", "en-GB,en").await;
    world.sign_in(&analyst, ADMIN).await;
    analyst.set_window_rect(0, 0, 1280, 1500).await.unwrap();
    analyst.goto(world.server.url("/analytics")).await.unwrap();
    let bars = js(
        &analyst,
        "const svg = document.getElementById('chart-time-to-read');
         if (!svg) return null;
         const box = svg.getBoundingClientRect();
         return {width: box.width, height: box.height,
                 medians: svg.querySelectorAll('rect[fill=\"#0A58AD\"]').length,
                 p90s: svg.querySelectorAll('rect[fill=\"#9CC1EA\"]').length,
                 labels: [...svg.querySelectorAll('text')].map((t) => t.textContent.trim()),
                 title: svg.querySelector('title')?.textContent ?? null};",
    )
    .await;
    assert!(bars.is_object(), "the bar chart is on the page");
    assert_eq!(
        bars["medians"], 5,
        "a median bar per department of 5 or more: {bars}"
    );
    assert_eq!(bars["p90s"], 5, "and its 90th percentile behind it: {bars}");
    assert!(
        bars["width"].as_f64().unwrap() > 500.0,
        "drawn at a readable size: {bars}"
    );
    assert_eq!(bars["title"], "Time to read by department");
    let labels: Vec<&str> = bars["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for label in [
        "Mong Kok",
        "Kwai Chung",
        "Causeway Bay",
        "fewer than 5 people",
    ] {
        assert!(labels.contains(&label), "{label:?} in {labels:?}");
    }
    assert!(
        labels
            .iter()
            .any(|l| l.ends_with(" min") || l.ends_with(" h")),
        "the time axis is in minutes or hours: {labels:?}"
    );

    let line = js(
        &analyst,
        "const svg = document.getElementById('chart-read-rate');
         if (!svg) return null;
         const points = svg.querySelector('polyline[stroke=\"#0A58AD\"]')?.getAttribute('points').trim().split(/\\s+/) ?? [];
         return {points: points.length, dots: svg.querySelectorAll('circle').length,
                 width: svg.getBoundingClientRect().width,
                 labels: [...svg.querySelectorAll('text')].map((t) => t.textContent.trim())};",
    )
    .await;
    assert_eq!(line["points"], days, "a point a day: {line}");
    assert_eq!(line["dots"], days, "and a dot on each: {line}");
    assert!(line["width"].as_f64().unwrap() > 500.0);
    assert!(
        line["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "100%"),
        "{line}"
    );

    // Lagging departments first: the table's read rates never go down.
    let rates = js(
        &analyst,
        "return [...document.querySelectorAll('#departments-table tbody tr:not(.suppressed)')]
           .map((r) => parseFloat(r.cells[3].textContent));",
    )
    .await;
    let rates: Vec<f64> = rates
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(rates.len(), 5, "{rates:?}");
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    screenshot(&analyst, "analytics.png").await;

    // Before and after the pilot: people read sooner once it started.
    let before_to = js_string(
        &analyst,
        &format!(
            "const d = new Date('{}T00:00:00Z'); d.setUTCDate(d.getUTCDate() - 1);
             return d.toISOString().slice(0, 10);",
            history.pilot_day
        ),
    )
    .await
    .unwrap();
    js(
        &analyst,
        &format!(
            "const set = (n, v) => document.querySelector(`input[name=${{n}}]`).value = v;
             set('before_from', '{}'); set('before_to', '{before_to}');
             set('after_from', '{}'); set('after_to', '{}'); return true;",
            history.first_day, history.pilot_day, history.last_day
        ),
    )
    .await;
    analyst
        .find(By::Id("compare-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let verdict = eventually!(Duration::from_secs(10), "the comparison", {
        js_string(
            &analyst,
            "const row = [...document.querySelectorAll('#compare-table tbody tr')]
               .find((r) => r.cells[0].textContent.trim() === 'Median time to read');
             return row ? row.cells[3].className : null;",
        )
        .await
    });
    assert!(verdict.contains("good"), "reading got faster: {verdict}");

    analyst
        .goto(world.server.url("/admin/settings"))
        .await
        .unwrap();
    let pilot = js(
        &analyst,
        "return [...document.querySelectorAll('input[name=pilot]:checked')]
           .map((i) => i.parentElement.textContent.trim());",
    )
    .await;
    assert_eq!(
        pilot,
        json!(["Customer Service", "Retail"]),
        "the pilot as set"
    );
    screenshot(&analyst, "settings.png").await;
    // The administrator's look at a board lists Kelvin: an audited view he can see.
    let first = &history.notices[0].0;
    analyst
        .goto(world.server.url(&format!("/notices/{first}/board")))
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the audited board", {
        analyst.find(By::Css("p.audited")).await.ok()
    });
    analyst.quit().await.ok();

    let reader = world.browser("kelvin", "en-GB,en").await;
    world.sign_in(&reader, READER).await;
    reader.goto(world.server.url("/tasks")).await.unwrap();
    let (last, _) = &history.notices[days - 1];
    let (late, _) = &history.notices[days - 2];
    let open = js(
        &reader,
        "return [...document.querySelectorAll('#open-tasks .task-title')].map((a) => a.getAttribute('href'));",
    )
    .await;
    assert_eq!(
        open,
        json!([format!("/notices/{last}")]),
        "the unread notice's task"
    );
    let done = js(
        &reader,
        "return [...document.querySelectorAll('#done-tasks .task-title')].map((a) => a.getAttribute('href'));",
    )
    .await;
    assert_eq!(
        done,
        json!([format!("/notices/{late}")]),
        "reading late closed the other"
    );
    screenshot(&reader, "tasks.png").await;
    reader
        .find(By::Css("#open-tasks button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(Duration::from_secs(15), "the task marked done", {
        js(
            &reader,
            "return document.querySelectorAll('#done-tasks .task').length",
        )
        .await
        .as_u64()
        .filter(|n| *n == 2)
    });

    reader.set_window_rect(0, 0, 1280, 1400).await.unwrap();
    reader.goto(world.server.url("/me/data")).await.unwrap();
    let viewed = count(&reader, "viewed-by").await.unwrap_or_default();
    assert!(
        viewed.contains("Ivy Lam") && viewed.contains("viewed a read board"),
        "{viewed}"
    );
    let receipts = js(
        &reader,
        "return document.querySelectorAll('#my-receipts tbody tr').length",
    )
    .await;
    assert_eq!(receipts, json!(days), "a line per notice received");
    screenshot(&reader, "my-data.png").await;
    reader.quit().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_screen_and_the_navigation_stays_short() {
    if !browsers_present() {
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let world = World::start().await;
    let id = world.send_notice("Lift maintenance on level 3", true).await;
    let admin = world.browser("phone-admin", "en-GB,en").await;
    world.sign_in(&admin, ADMIN).await;
    let reader = world.browser("phone-reader", "zh-HK,zh-Hant").await;
    world.sign_in(&reader, READER).await;
    let sender = world.browser("phone-sender", "en-GB,en").await;
    world.sign_in(&sender, SENDER).await;
    let mut overflowing = Vec::new();
    let pages: [(&WebDriver, &str, String); 15] = [
        (&admin, "admin", "/inbox".into()),
        (&admin, "admin", "/sent".into()),
        (&admin, "admin", "/compose".into()),
        (&admin, "admin", "/tasks".into()),
        (&admin, "admin", "/analytics".into()),
        (&admin, "admin", "/admin/directory".into()),
        (&admin, "admin", "/admin/settings".into()),
        (&admin, "admin", "/admin/surveys".into()),
        (&admin, "admin", "/me/data".into()),
        (&admin, "admin", "/policy".into()),
        (&sender, "sender", format!("/notices/{id}/board")),
        (&sender, "sender", "/sent".into()),
        (&reader, "reader", "/inbox".into()),
        (&reader, "reader", format!("/notices/{id}")),
        (&reader, "reader", "/me/data".into()),
    ];
    for b in [&admin, &reader, &sender] {
        b.set_window_rect(0, 0, 375, 812).await.unwrap();
    }
    for (b, who, path) in &pages {
        b.goto(world.server.url(path)).await.unwrap();
        let sizes = js(
            b,
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                     document.querySelector('header.top').getBoundingClientRect().height,
                     parseFloat(getComputedStyle(document.querySelector('.main-nav a') || document.body).lineHeight) || 24]",
        )
        .await;
        let n = |i: usize| sizes[i].as_f64().expect("a number");
        let (scroll, client, header, line) = (n(0), n(1), n(2), n(3));
        if scroll > client + 1.0 {
            // Name the innermost elements that stick out, to say what to fix.
            let culprits = js(
                b,
                "const w = document.documentElement.clientWidth;
                 const out = (e) => e.getBoundingClientRect().right > w + 1;
                 const scrolled = (e) => {
                   for (let x = e.parentElement; x; x = x.parentElement) {
                     if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(x).overflowX)) return true;
                   }
                   return false;
                 };
                 return [...document.querySelectorAll('body *')]
                   .filter((e) => out(e) && !scrolled(e) && ![...e.children].some(out))
                   .slice(0, 5)
                   .map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`)",
            )
            .await;
            overflowing.push(format!(
                "{who} {path}: {scroll} px wide on a {client} px screen: {culprits}"
            ));
        }
        // The brand and the language switch share the first line; the entries take at
        // most two more, however many the viewer has.
        if header > 4.0 * line + 40.0 {
            overflowing.push(format!("{who} {path}: the header is {header} px tall"));
        }
        let name = format!("phone-{who}{}.png", path.replace('/', "-"));
        screenshot(b, &name).await;
    }
    assert!(overflowing.is_empty(), "{overflowing:#?}");
    for b in [admin, reader, sender] {
        b.quit().await.ok();
    }
}

/// panva's oidc-provider from the server crate's test peers, for one person; stopped
/// when dropped.
struct OpenIdProvider(Child);

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const OIDC_PEERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../readtrack-server/tests/peers"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signs_in_with_the_company_account_in_a_real_browser() {
    if !browsers_present() {
        return;
    }
    let peer = Path::new(OIDC_PEERS);
    if !peer.join("node_modules/oidc-provider").is_dir() {
        let message =
            "the OpenID Connect browser test needs `npm ci` in crates/readtrack-server/tests/peers";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {message}"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
        return;
    }
    let _one_at_a_time = SERIAL.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (port, idp_port) = (free_port(), free_port());
    let public_url = format!("http://127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let _provider = OpenIdProvider(
        Command::new("node")
            .arg(peer.join("oidc_provider.mjs"))
            .current_dir(peer)
            .env("PORT", idp_port.to_string())
            .env("OIDC_CLIENT_ID", "readtrack")
            .env("OIDC_CLIENT_SECRET", "browsersecret7")
            .env(
                "OIDC_REDIRECT_URIS",
                format!("{public_url}/auth/oidc/callback"),
            )
            .env("OIDC_USER_LOGIN", "kelvin")
            .env("OIDC_USER_PASSWORD", "company-pass")
            .env("OIDC_USER_SUB", "idp-kelvin")
            .env("OIDC_USER_EMAIL", READER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts the OpenID Provider"),
    );
    let http = reqwest::Client::new();
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    eventually!(Duration::from_secs(15), "the OpenID Provider answering", {
        match http.get(&discovery).send().await {
            Ok(r) if r.status().is_success() => Some(()),
            _ => None,
        }
    });
    let world = World::start_on(
        &format!("127.0.0.1:{port}"),
        &[
            "--demo",
            "--public-url",
            &public_url,
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "readtrack",
            "--oidc-client-secret",
            "browsersecret7",
        ],
    )
    .await;
    let reader = world.browser("reader-oidc", "en").await;
    reader.goto(world.server.url("/login")).await.unwrap();
    reader
        .find(By::Id("oidc-sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The provider's own pages: its login form, then its consent.
    let login = eventually!(Duration::from_secs(15), "the provider's login form", {
        reader.find(By::Css("input[name=login]")).await.ok()
    });
    login.send_keys("kelvin").await.unwrap();
    reader
        .find(By::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("company-pass")
        .await
        .unwrap();
    reader
        .find(By::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually!(
        Duration::from_secs(20),
        "the inbox after the company sign-in",
        {
            let url = reader.current_url().await.ok();
            if url.as_ref().is_some_and(|u| u.port() == Some(idp_port)) {
                // Consent, when the provider asks for it.
                if let Ok(b) = reader.find(By::Css("button[type=submit]")).await {
                    let _ = b.click().await;
                }
            }
            let heading = reader.find(By::Css("main h1")).await.ok();
            match (url, heading) {
                (Some(u), Some(h)) if u.path() == "/inbox" => {
                    h.text().await.ok().filter(|t| t == "Inbox")
                }
                _ => None,
            }
        }
    );
    // Signed in as the demo reader the provider's verified email named.
    let page = reader.source().await.unwrap();
    assert!(page.contains("Kelvin Chan"), "signed in as someone else");
    screenshot(&reader, "oidc-signed-in-inbox.png").await;
    reader.quit().await.ok();
}
