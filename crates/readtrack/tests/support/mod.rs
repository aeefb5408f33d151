//! What the suites that drive the real binary share: starting `readtrack serve` and
//! waiting for the address it prints.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The setup code every server these suites start is given (`READTRACK_SETUP_CODE`).
#[allow(dead_code)]
pub const SETUP_CODE: &str = "SUITE-SETUP-CODE";

/// Spawns `cmd` (a `readtrack serve … --print-addr` command, given [`SETUP_CODE`]) with
/// its stdout piped and waits up to `timeout` for its `listening on ADDR` line. Answers the child, the
/// address, and the rest of its stdout, which the caller must keep draining so the
/// server never blocks on a full pipe.
pub fn spawn_and_wait_for_address(
    cmd: &mut Command,
    timeout: Duration,
) -> (Child, String, Lines<BufReader<ChildStdout>>) {
    // Unless the caller chose otherwise (set it, or removed it to see one made).
    if !cmd.get_envs().any(|(key, _)| key == "READTRACK_SETUP_CODE") {
        cmd.env("READTRACK_SETUP_CODE", SETUP_CODE);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start readtrack");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + timeout;
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "server did not report its address"
        );
        let line = lines.next().expect("server exited").expect("read stdout");
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    (child, addr, lines)
}

/// [`spawn_and_wait_for_address`], then drains the rest of stdout on a thread.
// Each suite compiles this module on its own; one that keeps the output uses only the above.
#[allow(dead_code)]
pub fn spawn_server(cmd: &mut Command, timeout: Duration) -> (Child, String) {
    let (child, addr, lines) = spawn_and_wait_for_address(cmd, timeout);
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}
