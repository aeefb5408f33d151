//! `readtrack bench all-hands`: the 09:00 all-hands notice, measured.
//!
//! 1. An organisation of N members in a department tree is imported through the CSV
//!    endpoint; every member gets an API token and acknowledges the privacy policy (so
//!    the sender may see per-person rows); a relay token is made for the gateway.
//! 2. The sender's WebSocket and C client WebSockets connect; one tracked,
//!    ack-required urgent notice goes to everyone, and the fan-out is timed.
//! 3. The board's counts and first unread page are timed at full size.
//! 4. Each client, once its socket heard the notice, reports `delivered`, `read` and
//!    `ack` for its members through the gateway, one flush after the other, while the
//!    sender's stream is matched against every receipt sent.
//! 5. C idle WebSockets are opened and the server's memory per connection weighed.
//!
//! Every phase is bounded in time; the run stops by itself, prints a table (with a
//! progress bar while it runs) and writes the figures as JSON. It fails if a receipt
//! was lost or seen twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use readtrack_client::{ApiClient, BoardQuery};
use readtrack_protocol::messages::{AudienceBody, SendMessage};
use tokio::sync::{mpsc, watch};

use crate::gateway::{self, GatewayConfig, GatewayInput};
use crate::population::{self, Credentials};
use crate::report::{self, BoardTimings, Percentiles, Report, SenderFigures, round3};
use crate::server::{self, SpawnedServer};
use crate::sockets::{self, Sockets};
use crate::watcher::{self, SentTimes, WatchInput, WatchProgress};

/// Longest wait for every client socket to hear the notice before the stragglers start
/// anyway (and count as `push_missed`).
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait, after the last answer, for the sender to see the last frames.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The drain also ends when nothing new was seen for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(10);
/// Calls per board timing (the median is reported).
const BOARD_SAMPLES: usize = 21;
/// How often the board is read while the receipts flow.
const BOARD_LOAD_EVERY: Duration = Duration::from_millis(250);
/// Time for the server's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Flags of `readtrack bench all-hands`.
#[derive(Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["server", "spawn"])))]
pub struct AllHandsArgs {
    /// Load the running server at this URL (loopback only), e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Start a server on a temporary data directory instead (`readtrack serve`).
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: run the spawned server on this PostgreSQL database
    /// (postgres://…) instead of SQLite.
    #[arg(long, value_name = "URL", requires = "spawn")]
    pub database: Option<String>,
    /// The readtrack binary to spawn [default: this executable].
    #[arg(long, value_name = "PATH")]
    pub readtrack_bin: Option<PathBuf>,
    /// Members of the company; all of them receive the notice.
    #[arg(long, default_value_t = 20_000)]
    pub members: usize,
    /// Simulated clients holding WebSockets (and idle connections opened to weigh them).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Receipts per second offered [default: as fast as the server answers].
    #[arg(long, value_name = "R")]
    pub rate: Option<u64>,
    /// Longest receipt phase (e.g. 90s, 2m); receipts not sent by then are reported
    /// as unsent.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Receipts per gateway request (1–1000).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Gateway requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// With --server: an admin's API token (the admin also sends the notice).
    #[arg(long, env = "READTRACK_BENCH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// With --server: an admin's email (with --admin-password).
    #[arg(long, env = "READTRACK_BENCH_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// With --server: that admin's password.
    #[arg(long, env = "READTRACK_BENCH_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// With --server on a server without an organisation: its setup code.
    #[arg(long, env = "READTRACK_SETUP_CODE", hide_env_values = true)]
    pub setup_code: Option<String>,
    /// With --server on this machine: the server's process id, to read its memory.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

impl std::fmt::Debug for AllHandsArgs {
    // By hand: the admin's token and password must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllHandsArgs")
            .field("server", &self.server)
            .field("spawn", &self.spawn)
            .field("database", &self.database.as_ref().map(|_| "<set>"))
            .field("members", &self.members)
            .field("connections", &self.connections)
            .field("rate", &self.rate)
            .field("duration", &self.duration)
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

/// `90s`, `2m`, `1500ms`, `1h`, or plain seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration such as 90s, 2m or 1500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {raw:?}; use ms, s, m or h"
            ));
        }
    };
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{raw:?} must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Runs the benchmark: prints the table, writes the JSON, and fails if a receipt was
/// lost or duplicated.
pub async fn run(args: AllHandsArgs) -> anyhow::Result<()> {
    if args.members == 0 {
        bail!("--members must be at least 1");
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(1..=1000).contains(&args.batch) {
        bail!("--batch must be between 1 and 1000 (the server's limit per request)");
    }
    if args.in_flight == 0 {
        bail!("--in-flight must be at least 1");
    }
    if args.rate == Some(0) {
        bail!("--rate must be more than 0 (leave it out for as fast as possible)");
    }
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .context("progress style")?,
    );
    progress.enable_steady_tick(Duration::from_millis(120));

    let spawned = if args.spawn {
        let bin = match &args.readtrack_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("cannot find this executable")?,
        };
        progress.set_message("starting the server");
        Some(SpawnedServer::start(&bin, args.database.as_deref()).await?)
    } else {
        None
    };
    let (base, pid, backend) = match (&spawned, &args.server) {
        (Some(s), _) => (
            s.url().to_string(),
            Some(s.pid()),
            if args.database.is_some() {
                "postgres"
            } else {
                "sqlite"
            },
        ),
        (None, Some(url)) => {
            if !server::is_loopback_url(url) {
                bail!("--server must be on this machine (127.0.0.1, ::1 or localhost): {url}");
            }
            (
                url.trim_end_matches('/').to_string(),
                args.server_pid,
                "server",
            )
        }
        (None, None) => bail!("give --server URL or --spawn"),
    };

    let setup_code = match &spawned {
        Some(server) => Some(server.setup_code().to_string()),
        None => args.setup_code.clone(),
    };
    let outcome = measure(&args, &base, pid, backend, setup_code, &progress).await;
    progress.finish_and_clear();
    if let Some(server) = spawned {
        if outcome.is_err() {
            eprintln!("the server's last log lines:\n{}", server.log_tail());
        }
        server.stop().await;
    }
    let report = outcome?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.lost > 0 || report.duplicated > 0 {
        bail!(
            "{} receipt(s) lost and {} duplicated: the sender's view is wrong",
            report.lost,
            report.duplicated
        );
    }
    Ok(())
}

fn say(progress: &ProgressBar, line: String) {
    progress.suspend(|| eprintln!("{line}"));
}

async fn measure(
    args: &AllHandsArgs,
    base: &str,
    pid: Option<u32>,
    backend: &str,
    setup_code: Option<String>,
    progress: &ProgressBar,
) -> anyhow::Result<Report> {
    let n = args.members;
    let clients_n = args.connections.min(n);
    let mut report = Report {
        members: n,
        connections: clients_n,
        backend: backend.to_string(),
        rate_offered: args.rate,
        batch: args.batch,
        in_flight: args.in_flight,
        ..Default::default()
    };
    if clients_n < args.connections {
        report.notes.push(format!(
            "--connections lowered to {clients_n}: one client per member at most"
        ));
    }
    report.load_average_1m.extend(server::load_average());
    let tag: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build an HTTP client")?;

    // 1. The company.
    progress.set_message("signing in");
    let creds = Credentials {
        token: args.admin_token.clone(),
        email: args.admin_email.clone(),
        password: args.admin_password.clone(),
        setup_code,
    };
    let admin = population::sign_in(base, &creds, &tag).await?;
    let company = population::import(&admin, &http, &tag, n, progress).await?;
    let relay = ApiClient::new(base)
        .context("bad server URL")?
        .with_token(population::relay_token(&admin, &http, &tag).await?);
    report.setup = company.timings.clone();
    say(
        progress,
        format!(
            "setup: {n} members imported in {:.1} s, tokens in {:.1} s, policy acknowledged in {:.1} s",
            report.setup.import_ms / 1000.0,
            report.setup.tokens_ms / 1000.0,
            report.setup.policy_acks_ms / 1000.0
        ),
    );
    let member_ids = Arc::new(company.member_ids);
    let index: HashMap<u64, u32> = member_ids
        .iter()
        .enumerate()
        .map(|(i, id)| Ok((id.parse::<u64>()?, i as u32)))
        .collect::<Result<_, std::num::ParseIntError>>()
        .context("a member id is not a number")?;

    // 2. The sender's stream and the clients' sockets, then the notice.
    let sent = Arc::new(SentTimes::new(n * 3));
    let message_id = Arc::new(OnceLock::new());
    let watch_progress = Arc::new(WatchProgress::default());
    let (stop_watch, stop_watch_rx) = watch::channel(false);
    progress.set_message("connecting the sender's stream");
    let watcher = watcher::start(WatchInput {
        api: admin.api.clone(),
        message_id: message_id.clone(),
        index,
        sent: sent.clone(),
        progress: watch_progress.clone(),
        stop: stop_watch_rx,
    })
    .await?;

    let clients: Vec<std::ops::Range<usize>> = (0..clients_n)
        .map(|c| c * n / clients_n..(c + 1) * n / clients_n)
        .collect();
    let client_tokens: Vec<&str> = clients
        .iter()
        .map(|r| company.tokens[r.start].as_str())
        .collect();
    let title: Arc<str> = format!("All-hands {tag}: please read and confirm").into();
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let before = pid.and_then(server::memory_of);
    let client_sockets = Sockets::open(
        &admin.api,
        &client_tokens,
        Some((title.clone(), push_tx)),
        |k| progress.set_message(format!("client sockets: {k} of {clients_n} connected")),
    )
    .await
    .context("cannot open the client sockets")?;
    tokio::time::sleep(SETTLE).await;
    let after = pid.and_then(server::memory_of);
    if let (Some(b), Some(a)) = (before, after) {
        report.ws_bytes_per_connection_clients = Some(round3(
            a.rss.saturating_sub(b.rss) as f64 / clients_n as f64,
        ));
    }

    progress.set_message(format!("sending the notice to {n} members"));
    let notice = SendMessage {
        title: title.to_string(),
        body: "The company meets at 09:00. Please read this and confirm.".into(),
        priority: Some("urgent".into()),
        tracking: Some("per_person".into()),
        require_ack: true,
        audience: AudienceBody {
            members: vec![],
            departments: vec![company.root_department.clone()],
        },
        ..Default::default()
    };
    let send_started = Instant::now();
    let sent_notice = admin
        .api
        .send_message(&notice)
        .await
        .context("POST /api/v1/messages failed")?;
    report.fanout_ms = round3(send_started.elapsed().as_secs_f64() * 1000.0);
    report.recipients = sent_notice.recipient_count;
    if sent_notice.recipient_count != n as i64 {
        bail!(
            "the notice reached {} people, not the {n} imported",
            sent_notice.recipient_count
        );
    }
    let id = sent_notice.id.clone();
    let _ = message_id.set(id.clone());
    say(
        progress,
        format!("fan-out: {n} recipients in {:.1} ms", report.fanout_ms),
    );

    // 3. The board at full size, everyone unread.
    progress.set_message("timing the board at full size");
    report.board_before = time_board(&admin.api, &id, Some(n)).await?;
    report.board_summary_ms = report.board_before.summary_ms;
    report.unread_page_ms = report.board_before.unread_page_ms;

    // 4. The receipts.
    let total = n as u64 * 3;
    progress.set_length(total);
    progress.set_position(0);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} receipts  {msg}",
        )
        .context("progress style")?,
    );
    let (start_tx, start_rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(sockets::forward_pushes(
        push_rx,
        clients_n,
        Instant::now() + PUSH_TIMEOUT,
        start_tx,
    ));
    let answered = Arc::new(AtomicU64::new(0));
    let mut gateway = tokio::spawn(gateway::run(
        GatewayInput {
            relay,
            tag: tag.clone(),
            message_id: id.clone(),
            member_ids: member_ids.clone(),
            clients: clients.clone(),
            sent: sent.clone(),
            answered: answered.clone(),
        },
        start_rx,
        GatewayConfig {
            batch: args.batch,
            in_flight: args.in_flight,
            rate: args.rate,
            deadline: Instant::now() + args.duration,
        },
    ));
    let (stop_sampler, stop_sampler_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample_board(
        admin.api.clone(),
        id.clone(),
        stop_sampler_rx,
        Instant::now() + args.duration + PUSH_TIMEOUT,
    ));
    let phase_started = Instant::now();
    report.load_average_1m.extend(server::load_average());
    let server_cpu_before = pid.and_then(server::cpu_of);
    let own_cpu_before = server::own_cpu();
    let gateway_report = loop {
        tokio::select! {
            done = &mut gateway => break done.context("the gateway task failed")?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let done = answered.load(Ordering::Relaxed);
                progress.set_position(done);
                let secs = phase_started.elapsed().as_secs_f64().max(0.001);
                progress.set_message(format!(
                    "{:.0}/s, sender saw {}, resumes {}",
                    done as f64 / secs,
                    watch_progress.seen.load(Ordering::Relaxed),
                    watch_progress.reconnects.load(Ordering::Relaxed)
                ));
            }
        }
    };
    if let (Some(b), Some(a)) = (server_cpu_before, pid.and_then(server::cpu_of)) {
        report.server_cpu_ms = Some(a.saturating_sub(b).as_millis() as f64);
    }
    if let (Some(b), Some(a)) = (own_cpu_before, server::own_cpu()) {
        report.generator_cpu_ms = Some(a.saturating_sub(b).as_millis() as f64);
    }
    let _ = stop_sampler.send(true);
    report.board_under_load_ms = sampler.await.context("the board sampler failed")?;
    let heard = forwarder.await.context("the push forwarder failed")?;
    let push_micros = heard
        .iter()
        .flatten()
        .map(|at| at.saturating_duration_since(send_started).as_micros() as u64);
    report.push_ms = percentiles(push_micros);
    report.push_missed = heard.iter().filter(|h| h.is_none()).count();
    if report.push_missed > 0 {
        report.notes.push(format!(
            "{} client socket(s) never heard the notice; they started after {} s",
            report.push_missed,
            PUSH_TIMEOUT.as_secs()
        ));
    }

    let g = gateway_report;
    report.receipts = g.applied;
    report.receipts_sent = total - g.unsent;
    report.duplicate_answers = g.duplicate;
    report.rejected = g.rejected;
    report.failed = g.failed;
    report.unsent = g.unsent;
    report.retries = g.retries;
    report.requests = g.requests;
    report.request_ms = Percentiles::of_micros(&g.request_latency);
    if let (Some(first), Some(last)) = (g.first_send, g.last_answer) {
        let span = last.duration_since(first).as_secs_f64();
        report.receipt_phase_ms = round3(span * 1000.0);
        report.receipts_per_sec = (g.applied as f64 / span.max(1e-6)).round();
    }
    if let Some(cpu) = report.server_cpu_ms.filter(|c| *c > 0.0) {
        report.receipts_per_server_cpu_sec = Some((g.applied as f64 / (cpu / 1000.0)).round());
        if g.applied > 0 {
            report.server_cpu_us_per_receipt = Some(round3(cpu * 1000.0 / g.applied as f64));
        }
    }
    if let Some(e) = &g.first_error {
        report.notes.push(format!("first gateway error: {e}"));
    }
    if g.unsent > 0 {
        report.notes.push(format!(
            "{} receipts were never sent: --duration {:?} ran out",
            g.unsent, args.duration
        ));
    }
    say(
        progress,
        format!(
            "receipts: {} applied in {:.0} ms ({:.0}/s), {} retries",
            g.applied, report.receipt_phase_ms, report.receipts_per_sec, g.retries
        ),
    );

    // Drain: wait until the sender saw every answered receipt, or nothing moves.
    progress.set_message("waiting for the sender to see the last frames");
    let expected = g.applied + g.duplicate;
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    let mut last_seen = watch_progress.seen.load(Ordering::Relaxed);
    let mut last_move = Instant::now();
    while Instant::now() < drain_until {
        let seen = watch_progress.seen.load(Ordering::Relaxed);
        if seen >= expected {
            break;
        }
        if seen != last_seen {
            last_seen = seen;
            last_move = Instant::now();
        } else if last_move.elapsed() > DRAIN_QUIET {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_watch.send(true);
    let w = watcher.await.context("the sender's stream task failed")?;
    report.visible_latency_ms = Percentiles::of_micros(&w.latency);
    let mut lost = 0;
    let mut duplicated = 0;
    for (slot, &count) in w.counts.iter().enumerate() {
        if count == 0 && sent.get(slot).is_some() {
            lost += 1;
        }
        duplicated += u64::from(count.saturating_sub(1));
    }
    report.lost = lost;
    report.duplicated = duplicated;
    report.sender = SenderFigures {
        frames: w.frames,
        mib: round3(w.bytes as f64 / (1024.0 * 1024.0)),
        closed_slow: w.closed_slow,
        closed_other: w.closed_other,
        resent_deduplicated: w.resent,
        anonymous: w.anonymous,
        unexpected: w.unexpected,
    };
    report.final_summary = w.last_summary;
    if g.rejected + g.failed > 0 {
        report.notes.push(format!(
            "{} receipts were rejected and {} failed; they count as lost, since the sender never sees them",
            g.rejected, g.failed
        ));
    }

    // The board again, everyone having confirmed.
    progress.set_message("timing the board after the receipts");
    report.board_after = time_board(&admin.api, &id, None).await?;

    // 5. Idle connections: the server's memory per WebSocket. The clients' sockets stay
    // open meanwhile, so the new ones cannot reuse memory freed by closing them.
    tokio::time::sleep(SETTLE).await;
    let before = pid.and_then(server::memory_of);
    let idle_tokens: Vec<&str> = clients
        .iter()
        .map(|r| company.tokens[r.end - 1].as_str())
        .collect();
    let idle = Sockets::open(&admin.api, &idle_tokens, None, |k| {
        progress.set_message(format!("idle sockets: {k} of {clients_n} connected"))
    })
    .await
    .context("cannot open the idle sockets")?;
    tokio::time::sleep(SETTLE).await;
    let after = pid.and_then(server::memory_of);
    let dropped = idle.closed_by_server();
    match (before, after) {
        (Some(b), Some(a)) => {
            report.ws_bytes_per_connection =
                Some(round3(a.rss.saturating_sub(b.rss) as f64 / clients_n as f64));
            report.server_rss_mib = Some(round3(a.rss as f64 / (1024.0 * 1024.0)));
            report.server_peak_rss_mib = Some(round3(a.peak as f64 / (1024.0 * 1024.0)));
        }
        _ => report.notes.push(
            "server memory not measured: pass --server-pid for a server on this machine (or use --spawn)"
                .into(),
        ),
    }
    if dropped > 0 {
        report.notes.push(format!(
            "{dropped} idle socket(s) were closed by the server"
        ));
    }
    progress.set_message("closing the sockets");
    idle.close().await;
    client_sockets.close().await;

    report.load_average_1m.extend(server::load_average());
    match report::server_metrics_of(&http, base).await {
        Ok(m) => report.server_metrics = Some(m),
        Err(e) => report.notes.push(format!("/metrics not read: {e}")),
    }
    if backend == "server" {
        report
            .notes
            .push("server metrics are cumulative since that server started".into());
    }
    Ok(report)
}

/// The median of repeated board reads: counts (`limit=1`) and the first unread page.
/// `unread`, when known, is how many people have not read yet (the page holds 50 of
/// them at most).
async fn time_board(
    api: &ApiClient,
    id: &str,
    unread: Option<usize>,
) -> anyhow::Result<BoardTimings> {
    let summary_q = BoardQuery {
        limit: Some(1),
        ..Default::default()
    };
    let unread_q = BoardQuery {
        state: Some("unread".into()),
        limit: Some(50),
        cursor: None,
    };
    let mut summary = Vec::with_capacity(BOARD_SAMPLES);
    let mut page = Vec::with_capacity(BOARD_SAMPLES);
    let mut rows = 0;
    // The first call of each warms the caches and is not counted.
    api.board(id, &summary_q).await.context("GET board")?;
    api.board(id, &unread_q).await.context("GET board")?;
    for _ in 0..BOARD_SAMPLES {
        let started = Instant::now();
        api.board(id, &summary_q).await.context("GET board")?;
        summary.push(started.elapsed());
        let started = Instant::now();
        let b = api.board(id, &unread_q).await.context("GET board")?;
        page.push(started.elapsed());
        rows = b.items.len();
    }
    if let Some(unread) = unread
        && rows != unread.min(50)
    {
        bail!(
            "the unread page holds {rows} rows, expected {}",
            unread.min(50)
        );
    }
    Ok(BoardTimings {
        summary_ms: median_ms(&mut summary),
        unread_page_ms: median_ms(&mut page),
        unread_rows: rows,
    })
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map(|d| round3(d.as_secs_f64() * 1000.0))
        .unwrap_or(0.0)
}

fn percentiles(micros: impl Iterator<Item = u64>) -> Percentiles {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    for m in micros {
        h.saturating_record(m.max(1));
    }
    Percentiles::of_micros(&h)
}

/// Reads the board's counts every [`BOARD_LOAD_EVERY`] until told to stop (or
/// `deadline`), as a sender refreshing the page would.
async fn sample_board(
    api: ApiClient,
    id: String,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) -> Percentiles {
    let q = BoardQuery {
        limit: Some(1),
        ..Default::default()
    };
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    while Instant::now() < deadline && !*stop.borrow() {
        let started = Instant::now();
        if api.board(&id, &q).await.is_ok() {
            h.saturating_record((started.elapsed().as_micros() as u64).max(1));
        }
        tokio::select! {
            _ = tokio::time::sleep(BOARD_LOAD_EVERY) => {}
            _ = stop.changed() => break,
        }
    }
    Percentiles::of_micros(&h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn clients_split_the_members_without_gaps() {
        let (n, c) = (2000usize, 50usize);
        let ranges: Vec<_> = (0..c).map(|k| k * n / c..(k + 1) * n / c).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[c - 1].end, n);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }
}
