//! The sender watching the read board live: the sender's own WebSocket, matched against
//! what the gateway sent.
//!
//! Each `receipt.updated` frame of the notice names a member and a state; the slot
//! `(member, state)` is looked up in the gateway's send times to give the
//! sender-visible latency. A connection the server closes (1013 when the sender falls
//! behind) is reopened at once with `since` = the last sequence number seen, and frames
//! replayed at or below it are set aside by `seq` before anything is counted, so
//! `duplicated` means the server really reported a change twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use readtrack_client::ApiClient;
use readtrack_protocol::frames::ServerFrame;
use readtrack_protocol::receipts::Summary;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::sockets::{Socket, connect};

/// Most connections one watch may open (the first plus reconnections).
const MAX_CONNECTS: u32 = 10_000;
/// Consecutive failed reconnections before the watch gives up.
const MAX_FAILED_CONNECTS: u32 = 50;
/// A connection silent this long is replaced (the server pings every 25 s).
const IDLE: Duration = Duration::from_secs(60);

/// The states a receipt reaches, in slot order: a slot is `member * 3 + kind`.
pub const STATES: [&str; 3] = ["delivered", "read", "acknowledged"];

/// When each receipt slot was first sent, shared by the gateway (writes) and the
/// watcher (reads).
pub struct SentTimes {
    epoch: Instant,
    /// Nanoseconds after `epoch`, plus one; 0 = never sent.
    slots: Vec<AtomicU64>,
}

impl SentTimes {
    /// Room for `slots` receipts, none sent.
    pub fn new(slots: usize) -> Self {
        Self {
            epoch: Instant::now(),
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records that `slot` is being sent now (the first send counts).
    pub fn mark(&self, slot: usize, now: Instant) {
        let nanos = now.duration_since(self.epoch).as_nanos() as u64 + 1;
        let _ = self.slots[slot].compare_exchange(0, nanos, Ordering::Release, Ordering::Relaxed);
    }

    /// When `slot` was first sent.
    pub fn get(&self, slot: usize) -> Option<Instant> {
        match self.slots.get(slot)?.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.epoch + Duration::from_nanos(n - 1)),
        }
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Live counters, for the progress bar and for knowing when the drain is over.
#[derive(Default)]
pub struct WatchProgress {
    /// Slots seen at least once.
    pub seen: AtomicU64,
    /// Frames received.
    pub frames: AtomicU64,
    /// Connections reopened.
    pub reconnects: AtomicU64,
}

/// What the sender saw.
pub struct WatchReport {
    /// From send to sight, microseconds, per slot seen the first time.
    pub latency: Histogram<u64>,
    /// How many times each slot was seen.
    pub counts: Vec<u8>,
    /// Frames received (all kinds).
    pub frames: u64,
    /// Bytes of text frames received.
    pub bytes: u64,
    /// Frames at or below the last seen `seq` (replays after a resume), set aside.
    pub resent: u64,
    /// Frames of the notice without a member (hidden per-person data).
    pub anonymous: u64,
    /// Frames of the notice for a member or state this run never sent.
    pub unexpected: u64,
    /// Closes with 1013 (the sender fell behind).
    pub closed_slow: u64,
    /// Other closes and errors.
    pub closed_other: u64,
    /// The latest counts the sender saw.
    pub last_summary: Option<Summary>,
}

/// What the watch needs.
pub struct WatchInput {
    /// The sender's client (signed in).
    pub api: ApiClient,
    /// The notice, once sent.
    pub message_id: Arc<OnceLock<String>>,
    /// Member id → member index.
    pub index: HashMap<u64, u32>,
    /// When each slot was sent.
    pub sent: Arc<SentTimes>,
    /// Live counters.
    pub progress: Arc<WatchProgress>,
    /// Flips when the benchmark is done watching.
    pub stop: watch::Receiver<bool>,
}

/// Connects the sender's stream, waits for its `hello` (so nothing sent afterwards can
/// be missed), then follows it in a task until `stop` flips.
pub async fn start(input: WatchInput) -> anyhow::Result<JoinHandle<WatchReport>> {
    let token = input
        .api
        .token()
        .context("the sender is not signed in")?
        .to_string();
    let mut socket = connect(&input.api, &token, None).await?;
    let last_seq = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(msg) = socket.next().await {
            if let Message::Text(t) = msg.context("the sender's stream failed")?
                && let Ok(ServerFrame::Hello { last_seq, .. }) = serde_json::from_str(t.as_str())
            {
                return Ok(last_seq);
            }
        }
        bail!("the sender's stream closed before hello")
    })
    .await
    .context("the sender's stream did not say hello")??;
    Ok(tokio::spawn(follow(input, token, socket, last_seq)))
}

enum Ended {
    Stopped,
    Closed(Option<u16>),
    Failed,
}

async fn follow(
    mut input: WatchInput,
    token: String,
    first: Socket,
    mut last_seq: i64,
) -> WatchReport {
    let slots = input.sent.len();
    let mut report = WatchReport {
        latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        counts: vec![0; slots],
        frames: 0,
        bytes: 0,
        resent: 0,
        anonymous: 0,
        unexpected: 0,
        closed_slow: 0,
        closed_other: 0,
        last_summary: None,
    };
    let mut socket = Some(first);
    let mut failures = 0;
    for _ in 0..MAX_CONNECTS {
        let mut current = match socket.take() {
            Some(s) => s,
            None => {
                let connecting = tokio::select! {
                    s = connect(&input.api, &token, Some(last_seq)) => s,
                    _ = input.stop.changed() => break,
                };
                match connecting {
                    Ok(s) => {
                        failures = 0;
                        input.progress.reconnects.fetch_add(1, Ordering::Relaxed);
                        s
                    }
                    Err(_) => {
                        failures += 1;
                        if failures >= MAX_FAILED_CONNECTS {
                            break;
                        }
                        let wait = Duration::from_millis(20 << failures.min(6));
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => continue,
                            _ = input.stop.changed() => break,
                        }
                    }
                }
            }
        };
        match read(&mut input, &mut current, &mut last_seq, &mut report).await {
            Ended::Stopped => break,
            Ended::Closed(Some(1013)) => report.closed_slow += 1,
            Ended::Closed(_) | Ended::Failed => report.closed_other += 1,
        }
    }
    report
}

async fn read(
    input: &mut WatchInput,
    socket: &mut Socket,
    last_seq: &mut i64,
    report: &mut WatchReport,
) -> Ended {
    loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(IDLE, socket.next()) => m,
            _ = input.stop.changed() => return Ended::Stopped,
        };
        let text = match msg {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Ended::Closed(frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) | Err(_) => return Ended::Failed,
        };
        let now = Instant::now();
        report.frames += 1;
        report.bytes += text.len() as u64;
        input.progress.frames.fetch_add(1, Ordering::Relaxed);
        let Ok(frame) = serde_json::from_str::<ServerFrame>(text.as_str()) else {
            continue;
        };
        if let Some(seq) = frame.seq() {
            if seq <= *last_seq {
                report.resent += 1;
                continue;
            }
            *last_seq = seq;
        }
        let ServerFrame::ReceiptUpdated {
            message_id,
            summary,
            member_id,
            state,
            ..
        } = frame
        else {
            continue;
        };
        if input.message_id.get() != Some(&message_id) {
            continue;
        }
        report.last_summary = Some(summary);
        let (Some(member), Some(state)) = (member_id, state) else {
            report.anonymous += 1;
            continue;
        };
        let slot = member
            .parse::<u64>()
            .ok()
            .and_then(|id| input.index.get(&id))
            .zip(STATES.iter().position(|s| *s == state))
            .map(|(&m, k)| m as usize * 3 + k);
        let Some((slot, sent)) = slot.and_then(|s| Some((s, input.sent.get(s)?))) else {
            report.unexpected += 1;
            continue;
        };
        let count = &mut report.counts[slot];
        *count = count.saturating_add(1);
        if *count == 1 {
            input.progress.seen.fetch_add(1, Ordering::Relaxed);
            let micros = now.saturating_duration_since(sent).as_micros() as u64;
            report.latency.saturating_record(micros.max(1));
        }
    }
}
