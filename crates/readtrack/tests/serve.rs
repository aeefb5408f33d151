//! The real binary: `readtrack serve` starts, answers, shuts down cleanly on SIGTERM,
//! keeps its data across restarts and reports its memory on `/metrics`.

mod support;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
}

/// A test that fails half-way must not leave its server running.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start(data: &std::path::Path, extra: &[&str]) -> Server {
    let (child, addr) = support::spawn_server(
        Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", "127.0.0.1:0", "--print-addr", "--data"])
            .arg(data)
            .args(extra)
            .env("READTRACK_LOG", "warn"),
        Duration::from_secs(30),
    );
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

/// Sends SIGTERM and waits for the exit. A clean exit status is the proof of a graceful
/// stop (a process killed by the signal has none), so the deadline only has to catch a
/// server that never stops; it is generous because a busy machine can slow a healthy
/// shutdown down many times over.
fn terminate(mut server: Server) -> std::process::ExitStatus {
    let pid = server.child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = server.child.kill();
            panic!("server did not stop within 90 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's `/metrics` page.
fn metrics_page(http: &reqwest::blocking::Client, server: &Server) -> String {
    http.get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::new()
}

#[test]
fn serve_answers_stops_cleanly_on_sigterm_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = client();
    assert!(
        http.get(format!("{}/healthz", server.base))
            .send()
            .unwrap()
            .status()
            .is_success()
    );
    let setup: serde_json::Value = http
        .post(format!("{}/api/v1/setup", server.base))
        .json(
            &serde_json::json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE, "time_zone": "Asia/Hong_Kong",
            "admin": {"name": "Ivy", "email": "ivy@harbour.example", "password": "correct horse"}}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(setup["token"].is_string(), "{setup}");
    assert!(terminate(server).success(), "SIGTERM is a clean exit");

    let server = start(dir.path(), &[]);
    let res = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&serde_json::json!({"email": "ivy@harbour.example", "password": "correct horse"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200, "the admin survived the restart");
    assert!(terminate(server).success());
}

#[test]
fn a_sigterm_the_moment_the_address_is_announced_stops_the_server_cleanly() {
    // Background loops that had not run yet when shutdown began used to miss it and
    // keep the process alive for ever; a signal before the handler was installed killed
    // the process outright. Several rounds, as the race depends on scheduling.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), &[]);
        let status = terminate(server);
        assert!(status.success(), "round {round}: {status}");
    }
}

#[test]
fn the_demo_seeds_an_organisation_whose_board_fills_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--demo"]);
    let http = client();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&serde_json::json!({"email": "grace.wong@harbourline.example", "password": "readtrack-demo"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = login["token"]
        .as_str()
        .expect("demo sender signs in")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent: serde_json::Value = http
            .get(format!("{}/api/v1/messages?box=sent", server.base))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(id) = sent["items"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|m| m["id"].as_str())
        {
            let board: serde_json::Value = http
                .get(format!("{}/api/v1/messages/{id}/receipts", server.base))
                .bearer_auth(&token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            let recipients = board["summary"]["recipients"].as_i64().unwrap_or(0);
            // Nearly everyone's phone has reported by now (the crowd delivers within 8 s).
            if board["summary"]["delivered"].as_i64().unwrap_or(0) * 10 >= recipients * 8
                && recipients > 0
            {
                assert!(recipients > 100);
                // The reader account is left for people to try by hand: the crowd never
                // reports for it, even on a fresh data directory.
                let reader: serde_json::Value = http
                    .post(format!("{}/api/v1/auth/login", server.base))
                    .json(&serde_json::json!({"email": "kelvin.chan@harbourline.example", "password": "readtrack-demo"}))
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                let inbox: serde_json::Value = http
                    .get(format!("{}/api/v1/messages?box=inbox", server.base))
                    .bearer_auth(reader["token"].as_str().expect("the reader signs in"))
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                let states: Vec<&str> = inbox["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|m| m["my_state"].as_str())
                    .collect();
                assert!(!states.is_empty(), "{inbox}");
                assert!(states.iter().all(|s| *s == "sent"), "{states:?}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the simulated crowd never reported a delivery"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(terminate(server).success());
}

#[test]
fn the_demo_crowd_takes_up_its_readers_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let sign_in = |base: &str| -> String {
        let login: serde_json::Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "grace.wong@harbourline.example", "password": "readtrack-demo"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        login["token"].as_str().unwrap_or_default().to_string()
    };
    // The board of the demo's first notice, once there is one.
    let board = |base: &str, token: &str| -> Option<serde_json::Value> {
        let sent: serde_json::Value = http
            .get(format!("{base}/api/v1/messages?box=sent"))
            .bearer_auth(token)
            .send()
            .ok()?
            .json()
            .ok()?;
        let id = sent["items"].as_array()?.last()?["id"]
            .as_str()?
            .to_string();
        http.get(format!("{base}/api/v1/messages/{id}/receipts"))
            .bearer_auth(token)
            .send()
            .ok()?
            .json()
            .ok()
    };
    // First run: stopped as soon as the opening notice is out, before most phones report.
    let server = start(dir.path(), &["--demo"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let token = sign_in(&server.base);
        if !token.is_empty() && board(&server.base, &token).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the demo never sent its notice");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(terminate(server).success());
    // Second run on the same data: nothing new is sent, and the crowd carries on.
    let server = start(dir.path(), &["--demo"]);
    let token = sign_in(&server.base);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = board(&server.base, &token).expect("the board");
        let recipients = b["summary"]["recipients"].as_i64().unwrap_or(0);
        if recipients > 0 && b["summary"]["delivered"].as_i64().unwrap_or(0) * 10 >= recipients * 8
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the crowd did not resume after the restart: {}",
            b["summary"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(terminate(server).success());
}

#[test]
fn dev_clock_is_refused_off_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_readtrack"))
        .args(["serve", "--dev-clock", "--listen", "0.0.0.0:0", "--data"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

/// The value of a gauge in a Prometheus text page.
#[cfg(feature = "jemalloc")]
fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

// Built without jemalloc (the suite's calendar check), there are no allocator figures.
#[cfg(feature = "jemalloc")]
#[test]
fn metrics_report_the_allocators_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = client();
    // The figures are published by a background thread: poll with a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (allocated, resident) = loop {
        let page = metrics_page(&http, &server);
        if let (Some(a), Some(r)) = (
            gauge(&page, "readtrack_memory_allocated_bytes"),
            gauge(&page, "readtrack_memory_resident_bytes"),
        ) {
            break (a, r);
        }
        assert!(Instant::now() < deadline, "no memory gauges in:\n{page}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        allocated > 1_000_000.0,
        "a running server holds more than 1 MB: {allocated}"
    );
    assert!(
        resident >= allocated,
        "resident {resident} < allocated {allocated}"
    );
    assert!(terminate(server).success());
}

/// Debian's promtool (package `prometheus`); under `CI=true` its absence is a failure.
fn promtool() -> Option<&'static str> {
    let path = "/usr/bin/promtool";
    if std::path::Path::new(path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but /usr/bin/promtool is missing (apt-get install prometheus)"
    );
    eprintln!(
        "skipped the promtool check: /usr/bin/promtool is missing (apt-get install prometheus)"
    );
    None
}

#[test]
fn metrics_pass_promtool_and_every_answer_carries_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = client();
    // An id a proxy gave the request comes back; without one the server makes one.
    let res = http
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "ticket-4711")
        .send()
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "ticket-4711");
    let res = http
        .get(format!("{}/api/v1/no-such-thing", server.base))
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        id.len() == 36 && id.matches('-').count() == 4,
        "a fresh UUID, got {id:?}"
    );
    let res = http.get(format!("{}/readyz", server.base)).send().unwrap();
    assert_eq!(res.status(), 200, "the database answers");

    let page = metrics_page(&http, &server);
    for name in [
        "readtrack_build_info",
        "readtrack_http_requests_total",
        "readtrack_http_request_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(
            page.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{page}"
        );
    }
    assert!(
        page.contains(&format!(
            "readtrack_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{page}"
    );
    if let Some(promtool) = promtool() {
        use std::io::Write;
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool starts");
        check
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool refuses /metrics:\n{}{}\n{page}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(terminate(server).success());
}

/// A minimal OTLP/HTTP collector: takes `POST /v1/traces` bodies (protobuf), keeps every
/// span they carry with its resource's attributes, and answers 200.
struct Collector {
    base: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<ReceivedSpan>>>,
}

/// A span as the collector received it, with its resource's attributes.
type ReceivedSpan = (Vec<KeyValue>, ProtoSpan);

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;

impl Collector {
    fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let spans = std::sync::Arc::<std::sync::Mutex<Vec<_>>>::default();
        let kept = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    // One request after another on a kept-alive connection.
                    loop {
                        let mut length = 0usize;
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        assert!(
                            request_line.starts_with("POST /v1/traces "),
                            "{request_line}"
                        );
                        let export = <opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as prost::Message>::decode(body.as_slice())
                            .expect("a protobuf ExportTraceServiceRequest");
                        for resource_spans in export.resource_spans {
                            let resource = resource_spans
                                .resource
                                .map(|r| r.attributes)
                                .unwrap_or_default();
                            for scope in resource_spans.scope_spans {
                                for span in scope.spans {
                                    kept.lock().unwrap().push((resource.clone(), span));
                                }
                            }
                        }
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                            .unwrap();
                    }
                });
            }
        });
        Collector { base, spans }
    }
}

/// The value of attribute `key` as text (strings as they are, numbers printed).
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn traces_reach_an_otlp_collector_and_continue_the_callers_trace() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--otlp-endpoint", &collector.base]);
    let http = client();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let res = http
        .get(format!(
            "{}/api/v1/messages/0192a5f0-0000-7000-8000-000000000000?token=a-secret-token",
            server.base
        ))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "ticket-9001")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    // A clean stop sends what is still buffered.
    assert!(terminate(server).success());

    let spans = collector.spans.lock().unwrap().clone();
    let (resource, span) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| panic!("no span of the caller's trace among {spans:#?}"));
    assert_eq!(
        attribute(resource, "service.name").as_deref(),
        Some("readtrack")
    );
    assert_eq!(span.name, "GET /api/v1/messages/{id}");
    assert_eq!(
        hex(&span.parent_span_id),
        caller_span,
        "the caller's span is the parent"
    );
    assert_eq!(
        span.kind,
        opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32
    );
    assert_eq!(
        attribute(&span.attributes, "http.response.status_code").as_deref(),
        Some("401")
    );
    assert_eq!(
        attribute(&span.attributes, "http.route").as_deref(),
        Some("/api/v1/messages/{id}")
    );
    assert_eq!(
        attribute(&span.attributes, "id").as_deref(),
        Some("ticket-9001"),
        "the request id joins the trace to the log lines"
    );
    let everything = format!("{spans:?}");
    assert!(
        !everything.contains("a-secret-token"),
        "a credential in the query string never reaches the traces"
    );
}

#[test]
fn a_new_server_prints_a_one_time_setup_code_on_its_console_and_setup_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    // A server told no setup code, with its console to read.
    let start_unclaimed = || {
        support::spawn_and_wait_for_address(
            Command::new(env!("CARGO_BIN_EXE_readtrack"))
                .args(["serve", "--listen", "127.0.0.1:0", "--print-addr", "--data"])
                .arg(dir.path())
                .env("READTRACK_LOG", "warn")
                .env_remove("READTRACK_SETUP_CODE"),
            Duration::from_secs(30),
        )
    };
    let (child, addr, mut lines) = start_unclaimed();
    let server = Server {
        child,
        base: format!("http://{addr}"),
    };
    let mut console = Vec::new();
    let code = loop {
        let line = lines
            .next()
            .expect("the console ended before a setup code")
            .unwrap();
        console.push(line.clone());
        let candidate = line.trim();
        if line.starts_with("    ") && candidate.len() == 14 && candidate.matches('-').count() == 2
        {
            break candidate.to_string();
        }
    };
    assert!(
        console
            .iter()
            .any(|l| l.contains(&format!("{}/setup", server.base))),
        "the console says where to enter it: {console:?}"
    );
    std::thread::spawn(move || for _ in lines {});
    let http = client();
    let body = |code: &str| {
        serde_json::json!({"org_name": "Harbour Line", "time_zone": "Asia/Hong_Kong", "setup_code": code,
            "admin": {"name": "Ivy", "email": "ivy@harbour.example", "password": "correct horse"}})
    };
    let url = format!("{}/api/v1/setup", server.base);
    let res = http.post(&url).json(&body("")).send().unwrap();
    assert_eq!(res.status(), 403, "no code, no organisation");
    let res = http.post(&url).json(&body(&code)).send().unwrap();
    assert_eq!(res.status(), 201, "the console's code sets it up");
    assert!(terminate(server).success());

    // Once set up, a restart prints no code.
    let (child, _, mut lines) = start_unclaimed();
    let server = Server {
        child,
        base: String::new(),
    };
    let status = terminate(server);
    assert!(status.success());
    let rest: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
    assert!(
        !rest.iter().any(|l| l.contains("setup code")),
        "a set-up server asks for no code: {rest:?}"
    );
}
