//! The figures of a run: the JSON document (`--json`) and the table printed at the end,
//! each figure next to its target.

use hdrhistogram::Histogram;
use readtrack_protocol::receipts::Summary;
use serde::Serialize;

use crate::population::SetupTimings;

/// Percentiles of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Worst.
    pub max: f64,
    /// Samples.
    pub count: u64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |v: u64| round3(v as f64 / 1000.0);
        Self {
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

/// The board's two reads, in milliseconds (median of repeated calls).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BoardTimings {
    /// `GET /messages/{id}/receipts?limit=1`: counts and the department lines.
    pub summary_ms: f64,
    /// `GET /messages/{id}/receipts?state=unread&limit=50`.
    pub unread_page_ms: f64,
    /// Rows on that unread page.
    pub unread_rows: usize,
}

/// What the sender's WebSocket carried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SenderFigures {
    /// Frames received.
    pub frames: u64,
    /// Their size, MiB.
    pub mib: f64,
    /// Closes with 1013 (fell behind), each followed by a resume with `since`.
    pub closed_slow: u64,
    /// Other closes or errors, each followed by a resume.
    pub closed_other: u64,
    /// Frames replayed at or below the last seen `seq`, set aside before counting.
    pub resent_deduplicated: u64,
    /// Frames of the notice without a member (per-person data hidden).
    pub anonymous: u64,
    /// Frames of the notice for a member or state never sent.
    pub unexpected: u64,
}

/// Figures scraped from the server's `/metrics` after the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerMetrics {
    /// Receipt transactions committed.
    pub commits: f64,
    /// Receipts per transaction, on average.
    pub mean_commit_batch: f64,
    /// Time per receipt transaction, on average.
    pub mean_commit_ms: f64,
    /// Connections dropped for falling behind.
    pub slow_disconnects: f64,
    /// Receipt requests refused because the writer's queue was full.
    pub queue_full: f64,
    /// Requests shed at the concurrency cap.
    pub http_shed: f64,
}

/// Everything a run measured (the `--json` document).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Members of the company (recipients of the notice).
    pub members: usize,
    /// Simulated clients (and idle connections opened).
    pub connections: usize,
    /// `sqlite`, `postgres`, or `server` for a running server.
    pub backend: String,
    /// Receipts per second offered (`null`: as fast as possible).
    pub rate_offered: Option<u64>,
    /// Receipts per gateway request.
    pub batch: usize,
    /// Gateway requests in flight.
    pub in_flight: usize,
    /// Setup durations (not measured figures).
    pub setup: SetupTimings,
    /// `POST /messages` to everyone, answered (recipient rows committed).
    pub fanout_ms: f64,
    /// Recipients the notice reached.
    pub recipients: i64,
    /// From the send to each client socket hearing `message.created`.
    pub push_ms: Percentiles,
    /// Client sockets that never heard it.
    pub push_missed: usize,
    /// Receipts answered `applied` (durably committed).
    pub receipts: u64,
    /// Receipts sent (first attempts).
    pub receipts_sent: u64,
    /// Applied receipts per second, first request to last answer.
    pub receipts_per_sec: f64,
    /// That span.
    pub receipt_phase_ms: f64,
    /// Answered `duplicate` (a retry of a committed receipt).
    pub duplicate_answers: u64,
    /// Answered `rejected`.
    pub rejected: u64,
    /// Given up after repeated overload answers.
    pub failed: u64,
    /// Never sent: the `--duration` ran out.
    pub unsent: u64,
    /// Requests retried after back-pressure.
    pub retries: u64,
    /// Gateway requests answered.
    pub requests: u64,
    /// Their round trips.
    pub request_ms: Percentiles,
    /// From a receipt's send to the sender seeing its frame.
    pub visible_latency_ms: Percentiles,
    /// CPU the server used during the receipt phase (user + system).
    pub server_cpu_ms: Option<f64>,
    /// Applied receipts per second of server CPU: the server's efficiency, which other
    /// load on the machine does not change much.
    pub receipts_per_server_cpu_sec: Option<f64>,
    /// The same the other way round: microseconds of server CPU per applied receipt,
    /// the figure to compare with other paths (a phone's one receipt per request).
    pub server_cpu_us_per_receipt: Option<f64>,
    /// CPU this load generator used during the receipt phase.
    pub generator_cpu_ms: Option<f64>,
    /// The machine's one-minute load average at the start, when the receipts began,
    /// and at the end (the generator and server count for up to about 2).
    pub load_average_1m: Vec<f64>,
    /// Board counts at full size, before anyone read (median).
    pub board_summary_ms: f64,
    /// First unread page at full size, before anyone read (median).
    pub unread_page_ms: f64,
    /// The same two reads at full size, before the receipts.
    pub board_before: BoardTimings,
    /// And after every receipt.
    pub board_after: BoardTimings,
    /// Board counts sampled while receipts poured in.
    pub board_under_load_ms: Percentiles,
    /// Server memory at the end, with the idle connections open.
    pub server_rss_mib: Option<f64>,
    /// The server's peak memory.
    pub server_peak_rss_mib: Option<f64>,
    /// Server memory per idle WebSocket connection.
    pub ws_bytes_per_connection: Option<f64>,
    /// The same, measured when the clients' sockets opened (before the notice).
    pub ws_bytes_per_connection_clients: Option<f64>,
    /// The sender's stream.
    pub sender: SenderFigures,
    /// The last counts the sender saw.
    pub final_summary: Option<Summary>,
    /// Receipts sent whose frame the sender never saw.
    pub lost: u64,
    /// Extra sightings of a receipt (after `seq` deduplication).
    pub duplicated: u64,
    /// From the server's `/metrics`.
    pub server_metrics: Option<ServerMetrics>,
    /// Caveats of this run.
    pub notes: Vec<String>,
}

/// Rounds to three decimals (microsecond resolution for milliseconds).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl Report {
    /// The table printed at the end: each figure, its target, and whether it is met.
    pub fn table(&self) -> String {
        let full = self.members >= 100_000;
        let postgres = self.backend == "postgres";
        let mut rows: Vec<[String; 4]> = Vec::new();
        let mut row = |figure: &str, value: String, target: &str, met: Option<bool>| {
            let verdict = match met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            };
            rows.push([figure.into(), value, target.into(), verdict.into()]);
        };
        row(
            "members / connections",
            format!("{} / {}", self.members, self.connections),
            "",
            None,
        );
        row(
            "fan-out of the notice",
            format!("{:.1} ms", self.fanout_ms),
            "<= 300 ms at 100,000",
            full.then_some(self.fanout_ms <= 300.0),
        );
        row(
            "notice pushed to client sockets",
            format!(
                "p50 {:.1} ms, max {:.1} ms",
                self.push_ms.p50, self.push_ms.max
            ),
            "",
            None,
        );
        let (target, floor) = if postgres {
            (">= 50,000/s (PostgreSQL)", 50_000.0)
        } else {
            (">= 100,000/s (SQLite)", 100_000.0)
        };
        row(
            "receipts applied and committed",
            format!(
                "{:.0}/s ({} in {:.0} ms)",
                self.receipts_per_sec, self.receipts, self.receipt_phase_ms
            ),
            target,
            self.rate_offered
                .is_none()
                .then_some(self.receipts_per_sec >= floor),
        );
        if let (Some(cpu), Some(eff)) = (self.server_cpu_ms, self.receipts_per_server_cpu_sec) {
            row(
                "server CPU in the receipt phase",
                format!(
                    "{cpu:.0} ms ({eff:.0} receipts per CPU-second, {:.1} µs each); generator {:.0} ms",
                    self.server_cpu_us_per_receipt.unwrap_or(0.0),
                    self.generator_cpu_ms.unwrap_or(0.0)
                ),
                "",
                None,
            );
        }
        let l = &self.visible_latency_ms;
        row(
            "sender-visible latency",
            format!(
                "p50 {:.1} / p99 {:.1} / p99.9 {:.1} / max {:.1} ms",
                l.p50, l.p99, l.p999, l.max
            ),
            "p99 <= 25 ms at half the max rate",
            self.rate_offered.map(|_| l.p99 <= 25.0),
        );
        row(
            "board summary (full size)",
            format!("{:.2} ms", self.board_summary_ms),
            "<= 2 ms at 100,000",
            full.then_some(self.board_summary_ms <= 2.0),
        );
        row(
            "first unread page (full size)",
            format!("{:.2} ms", self.unread_page_ms),
            "<= 5 ms at 100,000",
            full.then_some(self.unread_page_ms <= 5.0),
        );
        row(
            "board summary while receipts flow",
            format!(
                "p50 {:.1} ms, max {:.1} ms",
                self.board_under_load_ms.p50, self.board_under_load_ms.max
            ),
            "",
            None,
        );
        match self.ws_bytes_per_connection {
            Some(b) => row(
                "server memory per idle WebSocket",
                format!("{:.1} KiB", b / 1024.0),
                "<= 16 KiB",
                Some(b <= 16.0 * 1024.0),
            ),
            None => row(
                "server memory per idle WebSocket",
                "not measured".into(),
                "<= 16 KiB",
                None,
            ),
        }
        row(
            "server RSS (end / peak)",
            match (self.server_rss_mib, self.server_peak_rss_mib) {
                (Some(r), Some(p)) => format!("{r:.1} / {p:.1} MiB"),
                _ => "not measured".into(),
            },
            "",
            None,
        );
        row(
            "sender stream",
            format!(
                "{} frames, {:.1} MiB, {} resumes after 1013",
                self.sender.frames, self.sender.mib, self.sender.closed_slow
            ),
            "",
            None,
        );
        row(
            "lost / duplicated",
            format!("{} / {}", self.lost, self.duplicated),
            "0 / 0",
            Some(self.lost == 0 && self.duplicated == 0),
        );
        let widths: Vec<usize> = (0..4)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        let header = ["figure", "measured", "target", ""];
        for r in std::iter::once(header.map(String::from)).chain(rows) {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        if !self.load_average_1m.is_empty() {
            let loads: Vec<String> = self
                .load_average_1m
                .iter()
                .map(|l| format!("{l:.1}"))
                .collect();
            out.push_str(&format!(
                "load average (1 min) at start / receipts / end: {}\n",
                loads.join(" / ")
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// Sums every sample of a Prometheus metric (all label sets) in `/metrics` text.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut total = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = match rest.chars().next() {
            Some(' ') => rest.trim(),
            Some('{') => rest.rsplit_once('}').map(|(_, v)| v.trim()).unwrap_or(""),
            _ => continue,
        };
        if let Ok(v) = value.parse::<f64>() {
            total += v;
            found = true;
        }
    }
    found.then_some(total)
}

/// The figures of `/metrics` the report keeps.
pub fn server_metrics(text: &str) -> ServerMetrics {
    let get = |name: &str| metric_sum(text, name).unwrap_or(0.0);
    let commits = get("readtrack_receipt_commit_batch_size_count");
    let per = |sum: f64| if commits > 0.0 { sum / commits } else { 0.0 };
    ServerMetrics {
        commits,
        mean_commit_batch: round3(per(get("readtrack_receipt_commit_batch_size_sum"))),
        mean_commit_ms: round3(per(get("readtrack_receipt_commit_seconds_sum")) * 1000.0),
        slow_disconnects: get("readtrack_websocket_slow_disconnects_total"),
        queue_full: get("readtrack_receipt_queue_full_total"),
        http_shed: get("readtrack_http_shed_total"),
    }
}

/// Reads the server's `/metrics`.
pub async fn server_metrics_of(
    http: &reqwest::Client,
    base: &str,
) -> Result<ServerMetrics, crate::rest::RestError> {
    let text = crate::rest::get_text(http, &format!("{base}/metrics")).await?;
    Ok(server_metrics(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums_add_every_label_set_and_ignore_longer_names() {
        let text = "# TYPE x counter\n\
            readtrack_x_total{a=\"1\"} 2\n\
            readtrack_x_total{a=\"2\"} 3.5\n\
            readtrack_x_total_other 100\n\
            readtrack_y 7\n";
        assert_eq!(metric_sum(text, "readtrack_x_total"), Some(5.5));
        assert_eq!(metric_sum(text, "readtrack_y"), Some(7.0));
        assert_eq!(metric_sum(text, "readtrack_z"), None);
    }

    #[test]
    fn percentiles_are_milliseconds_of_microsecond_samples() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        for v in 1..=1000u64 {
            h.record(v * 10).expect("in bounds");
        }
        let p = Percentiles::of_micros(&h);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn the_table_flags_a_lost_receipt() {
        let report = Report {
            members: 10,
            lost: 1,
            ..Default::default()
        };
        let table = report.table();
        assert!(table.contains("lost / duplicated"));
        assert!(table.contains("1 / 0"));
        assert!(table.contains("MISSED"));
    }
}
