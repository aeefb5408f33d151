//! What `/metrics` says: a HELP text for every metric the server records, its build, and
//! the process's own figures (CPU time, resident memory, open files, start time).

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution (seconds or counts).
    Histogram,
}

/// Every metric the server records: name, kind, HELP text. The Grafana dashboard in
/// `deploy/` uses only these (and the `process_*` figures); a test holds it to that.
pub const CATALOG: &[(&str, Kind, &str)] = &[
    (
        "readtrack_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by method, route and status.",
    ),
    (
        "readtrack_http_request_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, by method and route.",
    ),
    (
        "readtrack_http_shed_total",
        Kind::Counter,
        "Requests refused with 503 because the server was at capacity.",
    ),
    (
        "readtrack_http_per_address_refused_total",
        Kind::Counter,
        "Requests refused with 429 because their address had too many in flight.",
    ),
    (
        "readtrack_http_slow_bodies_total",
        Kind::Counter,
        "Requests answered 408 because their body did not arrive within the deadline.",
    ),
    (
        "readtrack_http_connections_refused_total",
        Kind::Counter,
        "Connections closed at once because their address already had too many open.",
    ),
    (
        "readtrack_http_idle_connections_closed_total",
        Kind::Counter,
        "Connections closed because nothing was read or written on them for too long.",
    ),
    (
        "readtrack_mail_total",
        Kind::Counter,
        "Emails attempted, by outcome (sent, skipped, deferred, retry, failed).",
    ),
    (
        "readtrack_rate_limited_total",
        Kind::Counter,
        "Requests refused by a rate limit (sign-in, sends, receipts), by limit.",
    ),
    (
        "readtrack_messages_sent_total",
        Kind::Counter,
        "Notices sent.",
    ),
    (
        "readtrack_receipts_applied_total",
        Kind::Counter,
        "Receipts durably committed (duplicates and rejections excluded).",
    ),
    (
        "readtrack_receipt_queue_full_total",
        Kind::Counter,
        "Receipt batches refused because the writer's queue was full.",
    ),
    (
        "readtrack_receipt_queue_depth",
        Kind::Gauge,
        "Receipt batches waiting for the writer behind the one being committed.",
    ),
    (
        "readtrack_receipt_commit_seconds",
        Kind::Histogram,
        "Time of one group commit of receipts.",
    ),
    (
        "readtrack_receipt_commit_batch_size",
        Kind::Histogram,
        "Receipts in one group commit.",
    ),
    (
        "readtrack_device_clock_correction_seconds",
        Kind::Histogram,
        "How far clients corrected their device clock (|at - device_at|).",
    ),
    (
        "readtrack_reminder_steps_fired_total",
        Kind::Counter,
        "Reminder and escalation steps fired.",
    ),
    (
        "readtrack_due_queue_lag_seconds",
        Kind::Gauge,
        "How late the most overdue reminder step is after a scheduler pass (0: none overdue).",
    ),
    (
        "readtrack_webhook_attempts_total",
        Kind::Counter,
        "Webhook delivery attempts, by outcome.",
    ),
    (
        "readtrack_webhook_backlog",
        Kind::Gauge,
        "Webhook deliveries still to be made (not delivered, not given up).",
    ),
    (
        "readtrack_websocket_connections",
        Kind::Gauge,
        "Open realtime streams.",
    ),
    (
        "readtrack_websocket_slow_disconnects_total",
        Kind::Counter,
        "Streams ended because the client read too slowly.",
    ),
    (
        "readtrack_websocket_stalled_total",
        Kind::Counter,
        "Streams that stalled on a full send buffer.",
    ),
    (
        "readtrack_streams_revoked_total",
        Kind::Counter,
        "Open streams ended because their credential was revoked.",
    ),
    (
        "readtrack_memory_allocated_bytes",
        Kind::Gauge,
        "Bytes the allocator handed out and not yet freed.",
    ),
    (
        "readtrack_memory_resident_bytes",
        Kind::Gauge,
        "Bytes the allocator holds in memory.",
    ),
    (
        "readtrack_memory_retained_bytes",
        Kind::Gauge,
        "Address space the allocator keeps for reuse but returned to the system.",
    ),
    (
        "readtrack_build_info",
        Kind::Gauge,
        "Always 1; the labels say which build runs.",
    ),
];

/// The `process_*` figures [`process_text`] writes.
pub const PROCESS_METRICS: &[&str] = &[
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
];

/// Describes every metric once per process (the recorder is global) and sets the build
/// gauge.
pub fn describe() {
    for &(name, kind, help) in CATALOG {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
    gauge!("readtrack_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// The process's own figures in the Prometheus text format, read as a scrape asks (the
/// standard `process_*` names, so stock dashboards find them); empty where `/proc` is
/// not there. Written here rather than through the recorder because CPU time is a
/// counter of fractional seconds, which the `metrics` counters (whole numbers) cannot
/// hold.
pub fn process_text() -> String {
    #[cfg(target_os = "linux")]
    if let Some(p) = linux::read() {
        let mut out = String::new();
        for (name, kind, help, value) in [
            (
                "process_cpu_seconds_total",
                "counter",
                "CPU time the process used, user and system, in seconds.",
                p.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory of the process in bytes.",
                p.resident_bytes,
            ),
            (
                "process_open_fds",
                "gauge",
                "Open file descriptors of the process.",
                p.open_fds,
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "When the process started, in seconds since the Unix epoch.",
                p.start_time_seconds,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        return out;
    }
    String::new()
}

#[cfg(target_os = "linux")]
mod linux {
    /// The figures of `/proc/self`.
    pub struct Process {
        pub cpu_seconds: f64,
        pub resident_bytes: f64,
        pub open_fds: f64,
        pub start_time_seconds: f64,
    }

    /// Clock ticks per second in `/proc/self/stat` (`USER_HZ`): 100 on every Linux
    /// architecture readtrack builds for.
    const TICKS: f64 = 100.0;

    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces), from field 3 on.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(Process {
            cpu_seconds: (utime + stime) / TICKS,
            resident_bytes: rss_kb * 1024.0,
            open_fds,
            start_time_seconds: boot + start_ticks / TICKS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names in `text` that look like metric names (`readtrack_…`, `process_…`).
    fn metric_names(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, _) in text
            .match_indices("readtrack_")
            .chain(text.match_indices("process_"))
        {
            if i > 0 && text.as_bytes()[i - 1].is_ascii_alphanumeric() {
                continue;
            }
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            out.push(name);
        }
        out
    }

    fn known(name: &str) -> bool {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        CATALOG.iter().any(|(n, _, _)| *n == base) || PROCESS_METRICS.contains(&base)
    }

    #[test]
    fn the_dashboard_and_the_code_use_only_catalogued_metrics() {
        let dashboard = include_str!("../../../deploy/grafana-dashboard.json");
        let unknown: Vec<String> = metric_names(dashboard)
            .into_iter()
            .filter(|n| !known(n))
            .collect();
        assert!(unknown.is_empty(), "the dashboard uses {unknown:?}");
        // Every metric the code records has its HELP text here.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("crates")];
        let mut recorded = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    files.push(entry.unwrap().path());
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("metrics_catalog.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                for macro_call in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
                    for (i, _) in text.match_indices(macro_call) {
                        let name: String = text[i + macro_call.len()..]
                            .chars()
                            .take_while(|c| *c != '"')
                            .collect();
                        recorded.push((name, path.display().to_string()));
                    }
                }
            }
        }
        assert!(
            recorded.len() > 10,
            "found the recording sites: {recorded:?}"
        );
        let undescribed: Vec<_> = recorded.iter().filter(|(n, _)| !known(n)).collect();
        assert!(
            undescribed.is_empty(),
            "recorded without a HELP text: {undescribed:?}"
        );
    }
}
