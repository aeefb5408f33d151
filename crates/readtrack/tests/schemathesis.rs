//! Hostile input from schemathesis: generated requests, valid and invalid, against every
//! documented operation of the real binary, signed in as an admin so they reach the real
//! handlers. No answer may be a 5xx, and every answer (status, content type, headers,
//! body) must conform to the served `/openapi.json`.
//!
//! Needs the `schemathesis` command (`pip install 'schemathesis>=3.30'`); without it the
//! test says so and passes, unless `CI=true`, where it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path) -> Server {
    let (child, addr) = support::spawn_server(
        Command::new(env!("CARGO_BIN_EXE_readtrack"))
            .args(["serve", "--listen", "127.0.0.1:0", "--print-addr", "--data"])
            .arg(data)
            .env("READTRACK_LOG", "error")
            // Generated sign-ins would otherwise lock the run out for minutes; the limits
            // themselves are tested elsewhere.
            .env("READTRACK_LOGIN_LIMIT", "100000/1")
            .env("READTRACK_LOGIN_ADDRESS_LIMIT", "100000/1"),
        Duration::from_secs(30),
    );
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

/// The schemathesis command, if installed.
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("schemathesis"))
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn post(http: &reqwest::blocking::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().expect("request");
    let status = res.status();
    let body: Value = res.json().expect("json");
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

#[test]
fn generated_requests_never_get_a_server_error_or_an_answer_outside_the_spec() {
    let Some(tool) = schemathesis() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but `schemathesis` is not installed (pip install 'schemathesis>=3.30')"
        );
        eprintln!(
            "SKIPPED: `schemathesis` is not on PATH; install it with pip install 'schemathesis>=3.30'"
        );
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let base = server.base.clone();
    let http = reqwest::blocking::Client::new();

    // Something for every id-taking operation to find: generated ids alone would only
    // ever reach "not found".
    let admin = post(
        &http,
        format!("{base}/api/v1/setup"),
        None,
        json!({"org_name": "Harbour Line", "setup_code": support::SETUP_CODE, "time_zone": "Asia/Hong_Kong",
               "admin": {"name": "Ivy", "email": "ivy@harbour.example", "password": "correct horse"}}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Some(admin.as_str());
    let dept = id(&post(
        &http,
        format!("{base}/api/v1/departments"),
        t,
        json!({"name": "Kowloon"}),
    ));
    let member = id(&post(
        &http,
        format!("{base}/api/v1/members"),
        t,
        json!({"name": "Ada", "email": "ada@harbour.example", "department_id": dept,
               "password": "password123"}),
    ));
    let message = id(&post(
        &http,
        format!("{base}/api/v1/messages"),
        t,
        json!({"title": "Typhoon signal No. 8", "priority": "urgent", "tracking": "per_person",
               "require_ack": true, "audience": {"departments": [dept]}}),
    ));
    let webhook = id(&post(
        &http,
        format!("{base}/api/v1/webhooks"),
        t,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["receipt.updated"],
               "secret": "a shared secret of some length"}),
    ));
    let survey = id(&post(
        &http,
        format!("{base}/api/v1/surveys"),
        t,
        json!({"title": "Do you feel monitored?"}),
    ));

    let config = dir.path().join("schemathesis.toml");
    let section = |pattern: &str, value: &str| {
        format!(
            "[[operations]]\ninclude-path-regex = {:?}\nparameters = {{ \"path.id\" = {:?} }}\n\n",
            pattern, value
        )
    };
    let mut toml = format!("[headers]\nAuthorization = \"Bearer {admin}\"\n\n");
    toml.push_str(&section(r"^/api/v1/messages/\{id\}", &message));
    toml.push_str(&section(r"^/api/v1/members/\{id\}", &member));
    toml.push_str(&section(r"^/api/v1/webhooks/\{id\}", &webhook));
    toml.push_str(&section(r"^/api/v1/surveys/\{id\}", &survey));
    std::fs::write(&config, toml).unwrap();

    let examples = std::env::var("READTRACK_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("READTRACK_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let output = Command::new(tool)
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run"])
        .arg(format!("{base}/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            // The WebSocket is not HTTP request/response; it has its own hostile-frame test.
            "--exclude-path",
            "/api/v1/stream",
            // Signing out and revoking tokens would revoke the run's own credentials.
            "--exclude-path",
            "/api/v1/auth/logout",
            "--exclude-operation-id",
            "delete_token",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "2",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested:"))
        .collect();
    eprintln!("schemathesis: {}", summary.join("; "));
    drop(server);
}
