//! The server under test: either one this process spawned on a temporary data
//! directory, or a running one named by URL (which must be on loopback).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Longest wait for a spawned server to print its address and answer `/readyz`
/// (PostgreSQL migrations on a fresh database take a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A `readtrack serve` child process with its own data directory.
pub struct SpawnedServer {
    child: Child,
    pid: u32,
    url: String,
    log: PathBuf,
    setup_code: String,
    /// Kept so the data directory lives exactly as long as the server.
    _dir: tempfile::TempDir,
}

/// The server's memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident set size now, in bytes.
    pub rss: u64,
    /// The highest resident set size so far, in bytes.
    pub peak: u64,
}

impl SpawnedServer {
    /// Starts `bin serve` on `127.0.0.1:0` with a fresh data directory (and the given
    /// PostgreSQL database, if any) and waits until it is ready.
    pub async fn start(bin: &Path, database: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("readtrack-bench-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(dir.path().join("data"))
            .arg("--print-addr");
        // The benchmark creates the organisation itself, with a code it chose.
        let setup_code = format!("bench-{}", uuid::Uuid::new_v4().simple());
        cmd.arg("--setup-code").arg(&setup_code);
        if let Some(url) = database {
            cmd.arg("--database").arg(url);
        }
        // The caller's own READTRACK_* settings (a config file, a database, NATS) must
        // not leak into the server under test; its log filter may.
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("READTRACK_") && name != "READTRACK_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no stdout from the server")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(addr.trim().to_string()));
                }
            }
            Ok(None)
        })
        .await;
        let addr = match addr {
            Ok(Ok(Some(addr))) => addr,
            _ => bail!(
                "the server did not print its address; its log: {}\n{}",
                log.display(),
                tail(&log)
            ),
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Self {
            child,
            pid,
            url: format!("http://{addr}"),
            log,
            setup_code,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The code that sets up its organisation.
    pub fn setup_code(&self) -> &str {
        &self.setup_code
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("cannot build an HTTP client")?;
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/readyz", self.url);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the server never became ready; its log: {}\n{}",
            self.log.display(),
            tail(&self.log)
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Stops the server (SIGTERM, so it closes its database connections; SIGKILL if it
    /// lingers) and removes its data directory.
    pub async fn stop(mut self) {
        let terminated = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if terminated
            && tokio::time::timeout(Duration::from_secs(15), self.child.wait())
                .await
                .is_ok()
        {
            return;
        }
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The memory of process `pid`, where `/proc` exists (Linux).
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// CPU time (user + system) process `pid` has used so far, where `/proc` exists.
pub fn cpu_of(pid: u32) -> Option<Duration> {
    cpu_from_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// CPU time of this process (the load generator).
pub fn own_cpu() -> Option<Duration> {
    cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn cpu_from_stat(stat: &str) -> Option<Duration> {
    // Fields after the command name (which may hold spaces): state is the 3rd field,
    // utime and stime the 14th and 15th, in clock ticks of 1/100 s (USER_HZ on Linux).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The machine's one-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `url` names this machine (the benchmark never loads another host).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers_may_be_loaded() {
        assert!(is_loopback_url("http://127.0.0.1:8080"));
        assert!(is_loopback_url("http://localhost:1"));
        assert!(is_loopback_url("http://[::1]:8080/"));
        assert!(!is_loopback_url("http://10.0.0.1:8080"));
        assert!(!is_loopback_url("https://readtrack.example"));
        assert!(!is_loopback_url("not a url"));
    }

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces() {
        let stat = "42 (tokio rt) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 3 0";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_millis(2800)));
        assert!(own_cpu().is_some());
        assert!(load_average().is_some());
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let m = memory_of(std::process::id()).expect("/proc is readable");
        assert!(m.rss > 0 && m.peak >= m.rss);
    }
}
