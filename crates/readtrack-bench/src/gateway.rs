//! The simulated clients and the company's messaging gateway that carries their
//! receipts.
//!
//! Each client stands for a slice of the members. Once its WebSocket heard the notice
//! arrive it queues its members' `delivered` receipts as one flush, the way the SDK's
//! outbox does: the next flush (`read`, then `ack`) is queued only after the server
//! answered the previous one, so a member's receipts never overtake each other. The
//! gateway packs whole flushes into requests of at most `batch` receipts on its relay
//! token, keeps `in_flight` requests going, paces them to `rate` receipts per second
//! when asked, and honours the server's back-pressure (503/429 with `Retry-After`).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use readtrack_client::{ApiClient, ClientError};
use readtrack_protocol::receipts::{ReceiptItem, ReceiptResult, ReceiptStatus};
use tokio::sync::mpsc;

use crate::watcher::SentTimes;

/// The receipt kinds in slot order (a slot is `member * 3 + kind`).
pub const KINDS: [&str; 3] = ["delivered", "read", "ack"];
/// Attempts per request the server refused for overload before its receipts count as
/// failed.
const MAX_ATTEMPTS: u8 = 20;
/// Longest wait before a retry, whatever `Retry-After` says: a gateway under a
/// benchmark retries sooner than a phone would.
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// How often a paced gateway releases receipts (its batching window).
const PACE_TICK: Duration = Duration::from_millis(5);

/// How the gateway sends.
#[derive(Debug, Clone, Copy)]
pub struct GatewayConfig {
    /// Most receipts per request (≤ 1000).
    pub batch: usize,
    /// Requests in flight at once.
    pub in_flight: usize,
    /// Receipts per second offered; as fast as possible when `None`.
    pub rate: Option<u64>,
    /// No request starts after this.
    pub deadline: Instant,
}

/// Everything the gateway needs to build receipts.
pub struct GatewayInput {
    /// The relay token's client.
    pub relay: ApiClient,
    /// The run's tag (event ids are `<tag>.<kind>.<member>`).
    pub tag: String,
    /// The notice.
    pub message_id: String,
    /// Member ids, by index.
    pub member_ids: Arc<Vec<String>>,
    /// Each client's members (index ranges).
    pub clients: Vec<Range<usize>>,
    /// When each slot was first sent.
    pub sent: Arc<SentTimes>,
    /// Receipts answered so far, for the progress bar.
    pub answered: Arc<AtomicU64>,
}

/// What the gateway did.
pub struct GatewayReport {
    /// Receipts the server answered `applied` (durably committed).
    pub applied: u64,
    /// Answered `duplicate`.
    pub duplicate: u64,
    /// Answered `rejected`.
    pub rejected: u64,
    /// Given up after repeated failures.
    pub failed: u64,
    /// Never sent (the deadline came first).
    pub unsent: u64,
    /// Requests retried after back-pressure or a dropped connection.
    pub retries: u64,
    /// Requests answered.
    pub requests: u64,
    /// From the first request's start to the last answer.
    pub first_send: Option<Instant>,
    /// The last answer.
    pub last_answer: Option<Instant>,
    /// Request round trips, microseconds.
    pub request_latency: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

/// One client's flush: one kind of receipt for a contiguous run of its members.
#[derive(Debug, Clone)]
struct Flush {
    client: usize,
    kind: usize,
    members: Range<usize>,
    attempt: u8,
}

struct Done {
    flushes: Vec<Flush>,
    result: Result<Vec<ReceiptResult>, ClientError>,
    started: Instant,
    finished: Instant,
}

/// Runs until every client has sent its three flushes, or the deadline passed and
/// nothing is in flight. `starts` names each client once, when it may begin.
pub async fn run(
    input: GatewayInput,
    mut starts: mpsc::UnboundedReceiver<usize>,
    config: GatewayConfig,
) -> GatewayReport {
    let clients = input.clients.len();
    let total = input.member_ids.len() as u64 * 3;
    let batch = config.batch.clamp(1, 1000);
    let mut report = GatewayReport {
        applied: 0,
        duplicate: 0,
        rejected: 0,
        failed: 0,
        unsent: 0,
        retries: 0,
        requests: 0,
        first_send: None,
        last_answer: None,
        request_latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        first_error: None,
    };
    let mut ready: VecDeque<Flush> = VecDeque::new();
    let mut parts_left = vec![0usize; clients];
    let mut finished_clients = 0;
    let mut starts_open = true;
    let mut in_flight = 0usize;
    let mut first_sent = 0u64;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    // Token bucket of the paced mode; a burst is at most one request or 100 ms of rate.
    let capacity = config
        .rate
        .map(|r| (r as f64 / 10.0).max(batch as f64))
        .unwrap_or(0.0);
    let mut tokens = 0.0f64;
    let mut refilled = Instant::now();

    loop {
        let now = Instant::now();
        let past_deadline = now >= config.deadline;
        if in_flight == 0
            && (finished_clients == clients || past_deadline || (!starts_open && ready.is_empty()))
        {
            break;
        }
        if let Some(rate) = config.rate {
            tokens =
                (tokens + rate as f64 * now.duration_since(refilled).as_secs_f64()).min(capacity);
            refilled = now;
        }
        while !past_deadline && in_flight < config.in_flight && !ready.is_empty() {
            let budget = match config.rate {
                Some(_) => batch.min(tokens as usize),
                None => batch,
            };
            let mut flushes = Vec::new();
            let mut size = 0;
            while let Some(f) = ready.front() {
                if size + f.members.len() > budget {
                    break;
                }
                size += f.members.len();
                flushes.extend(ready.pop_front());
            }
            if flushes.is_empty() {
                break;
            }
            tokens -= size as f64;
            let started = Instant::now();
            let at = jiff::Timestamp::now().to_string();
            let mut items = Vec::with_capacity(size);
            for f in &flushes {
                for m in f.members.clone() {
                    if f.attempt == 0 {
                        input.sent.mark(m * 3 + f.kind, started);
                        first_sent += 1;
                    }
                    items.push(ReceiptItem {
                        event_id: format!("{}.{}.{m}", input.tag, f.kind),
                        message_id: input.message_id.clone(),
                        kind: KINDS[f.kind].to_string(),
                        at: at.clone(),
                        device_at: None,
                        response: None,
                        member_id: Some(input.member_ids[m].clone()),
                    });
                }
            }
            report.first_send.get_or_insert(started);
            in_flight += 1;
            tokio::spawn(send(input.relay.clone(), items, flushes, done_tx.clone()));
        }

        tokio::select! {
            start = starts.recv(), if starts_open => match start {
                Some(client) if client < clients => {
                    if !enqueue(&mut ready, &mut parts_left, &input.clients, batch, client, 0) {
                        finished_clients += 1;
                    }
                }
                Some(_) => {}
                None => starts_open = false,
            },
            done = done_rx.recv(), if in_flight > 0 => {
                let Some(done) = done else { break };
                in_flight -= 1;
                report.requests += 1;
                report.last_answer = Some(done.finished);
                let micros = done.finished.duration_since(done.started).as_micros() as u64;
                report.request_latency.saturating_record(micros.max(1));
                let completed = settle(&mut report, &mut ready, done, &input.answered);
                for f in completed {
                    parts_left[f.client] -= 1;
                    if parts_left[f.client] == 0 {
                        let next = f.kind + 1;
                        if next == KINDS.len() || !enqueue(&mut ready, &mut parts_left, &input.clients, batch, f.client, next) {
                            finished_clients += 1;
                        }
                    }
                }
            },
            _ = tokio::time::sleep(PACE_TICK), if config.rate.is_some() && !ready.is_empty() && !past_deadline => {},
            _ = tokio::time::sleep_until(config.deadline.into()), if !past_deadline => {},
        }
    }
    report.unsent = total - first_sent;
    report
}

/// Queues a client's flush of `kind`, split into parts of at most `batch`; returns
/// whether there was anything to send.
fn enqueue(
    ready: &mut VecDeque<Flush>,
    parts_left: &mut [usize],
    clients: &[Range<usize>],
    batch: usize,
    client: usize,
    kind: usize,
) -> bool {
    let range = clients[client].clone();
    let mut start = range.start;
    let mut parts = 0;
    while start < range.end {
        let end = (start + batch).min(range.end);
        ready.push_back(Flush {
            client,
            kind,
            members: start..end,
            attempt: 0,
        });
        parts += 1;
        start = end;
    }
    parts_left[client] = parts;
    parts > 0
}

async fn send(
    relay: ApiClient,
    items: Vec<ReceiptItem>,
    flushes: Vec<Flush>,
    done: mpsc::UnboundedSender<Done>,
) {
    let started = Instant::now();
    let result = relay.post_receipts(&items).await.map(|r| r.results);
    let finished = Instant::now();
    let backoff = match &result {
        Err(ClientError::Api {
            status: 429 | 503,
            retry_after,
            ..
        }) => Some(retry_after.unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)),
        Err(ClientError::Network(_)) => Some(MAX_BACKOFF),
        _ => None,
    };
    // Back off before handing the slot back, as a client honouring Retry-After would.
    if let Some(wait) = backoff {
        tokio::time::sleep(wait).await;
    }
    let _ = done.send(Done {
        flushes,
        result,
        started,
        finished,
    });
}

/// Counts a request's answers; returns the flushes that are finished (answered, or
/// failed for good). Flushes to retry go back to the front of the queue.
fn settle(
    report: &mut GatewayReport,
    ready: &mut VecDeque<Flush>,
    done: Done,
    answered: &AtomicU64,
) -> Vec<Flush> {
    let size: usize = done.flushes.iter().map(|f| f.members.len()).sum();
    match done.result {
        Ok(results) if results.len() == size => {
            for r in &results {
                match r.status {
                    ReceiptStatus::Applied => report.applied += 1,
                    ReceiptStatus::Duplicate => report.duplicate += 1,
                    ReceiptStatus::Rejected => {
                        report.rejected += 1;
                        if report.first_error.is_none() {
                            report.first_error =
                                Some(format!("receipt {:?} rejected: {:?}", r.event_id, r.error));
                        }
                    }
                }
            }
            answered.fetch_add(size as u64, Ordering::Relaxed);
            done.flushes
        }
        Ok(results) => {
            report.failed += size as u64;
            report
                .first_error
                .get_or_insert(format!("{} results for {size} receipts", results.len()));
            answered.fetch_add(size as u64, Ordering::Relaxed);
            done.flushes
        }
        Err(e) => {
            let transient = matches!(
                e,
                ClientError::Api {
                    status: 429 | 503,
                    ..
                } | ClientError::Network(_)
            );
            if transient && done.flushes.iter().all(|f| f.attempt + 1 < MAX_ATTEMPTS) {
                report.retries += 1;
                // Same event ids on the retry: the server answers `duplicate` for any
                // that were committed before the answer was lost.
                for mut f in done.flushes.into_iter().rev() {
                    f.attempt += 1;
                    ready.push_front(f);
                }
                return Vec::new();
            }
            report.failed += size as u64;
            report.first_error.get_or_insert(e.to_string());
            answered.fetch_add(size as u64, Ordering::Relaxed);
            done.flushes
        }
    }
}
