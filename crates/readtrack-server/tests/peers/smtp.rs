//! The SMTP server of the email tests: aiosmtpd (PyPI) run by `smtp_peer.py` next to
//! this file, stopped when dropped. Each message is parsed by Python's email package and
//! logged as JSON, so a test reads what a mail client would show. Shared by the server's
//! and the binary's test suites.
// Each suite uses its own part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// How long a test waits for an email.
const WAIT: Duration = Duration::from_secs(30);

/// The SMTP server, stopped when dropped.
pub struct SmtpPeer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpPeer {
    /// Starts it, or says why not: a skip on a laptop without aiosmtpd, a failure in CI.
    pub fn start() -> Option<Self> {
        let has_aiosmtpd = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but aiosmtpd is missing (pip install aiosmtpd)"
            );
            eprintln!("SKIPPED: the email suite needs aiosmtpd (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../readtrack-server/tests/peers/smtp_peer.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path().join("Maildir"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP peer did not start: {line:?}"));
        Some(SmtpPeer { child, port, dir })
    }

    /// Everything it logged so far: messages and refusals.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("Maildir/messages.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The messages to `to` so far.
    pub fn mails_to(&self, to: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t == to))
            })
            .collect()
    }

    /// Waits until `to` has `n` messages, and returns them.
    pub async fn until_mails(&self, to: &str, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= n {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{to} has {} of {n} emails: {:?}",
                mails.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
