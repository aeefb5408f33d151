//! The outbox: receipts are written to the local store first and sent later, in
//! batches, until the server has answered for each one.
//!
//! The two rules that make a read never lost and never counted twice:
//! - a receipt leaves the outbox only after the server answered `applied` or
//!   `duplicate` for its event id (or `rejected`, into the dead letters);
//! - its event id is made once, when recorded, so every resend is the same event and
//!   the server answers `duplicate` for a repeat.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use readtrack_protocol::receipts::{ReceiptItem, ReceiptResult, ReceiptStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

use crate::api::ApiClient;
use crate::backoff::Backoff;
use crate::clock::{Clock, to_millis};
use crate::error::{ClientError, Result};
use crate::store::{PendingReceipt, Settlement, Store};

/// Most receipts the server takes in one request.
pub const MAX_BATCH: usize = 1000;

/// What a receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// The notice reached the device.
    Delivered,
    /// The notice was shown to the person.
    Read,
    /// The person confirmed it (implies read).
    Ack,
}

impl ReceiptKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Delivered => "delivered",
            ReceiptKind::Read => "read",
            ReceiptKind::Ack => "ack",
        }
    }
}

impl fmt::Display for ReceiptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and alignment flags work in tables.
        f.pad(self.as_str())
    }
}

impl FromStr for ReceiptKind {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "delivered" => Ok(ReceiptKind::Delivered),
            "read" => Ok(ReceiptKind::Read),
            "ack" => Ok(ReceiptKind::Ack),
            other => Err(ClientError::Invalid(format!(
                "a receipt kind is \"delivered\", \"read\" or \"ack\", not {other:?}"
            ))),
        }
    }
}

/// A receipt to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// What happened.
    pub kind: ReceiptKind,
    /// The notice.
    pub message_id: String,
    /// The chosen response, for an acknowledgement of a notice with choices.
    pub response: Option<String>,
}

/// What one sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Receipts the server applied now.
    pub applied: u64,
    /// Receipts the server already had (sent before, the answer lost).
    pub duplicate: u64,
    /// Receipts the server refused, now in the dead letters.
    pub rejected: u64,
    /// Requests made.
    pub requests: u64,
    /// Receipts still waiting afterwards.
    pub remaining: u64,
}

impl SyncReport {
    fn add(&mut self, other: &SyncReport) {
        self.applied += other.applied;
        self.duplicate += other.duplicate;
        self.rejected += other.rejected;
        self.requests += other.requests;
        self.remaining = other.remaining;
    }
}

/// A sync that stopped early: what it got done, and why it stopped. Receipts not
/// answered for stay in the outbox.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({} receipt(s) still pending)", report.remaining)]
pub struct SyncFailure {
    /// Progress before the failure.
    pub report: SyncReport,
    /// Why it stopped.
    #[source]
    pub error: ClientError,
}

/// Records receipts durably and sends them. Cheap to clone; clones share the store,
/// the wake-up signal and the lock that keeps one sync at a time in this process.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    api: ApiClient,
    /// Stamps receipts as is when set; otherwise the API client's [`ServerClock`] does.
    clock: Option<Arc<dyn Clock>>,
    wake: Arc<Notify>,
    /// One sync at a time per process: two would send the same batch twice (harmless,
    /// answered `duplicate`, but wasted).
    syncing: Arc<Mutex<()>>,
    /// The clock offset last written to the store, so an unchanged one is not written
    /// again on every record and sync.
    kept_offset: Arc<std::sync::Mutex<Option<SignedDuration>>>,
    batch_size: usize,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("store", &self.store.path())
            .field("api", &self.api)
            .field("clock", &self.clock)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Outbox {
    /// An outbox over `store`, sending through `api` (which must be signed in to sync),
    /// stamping receipts with the server's clock as `api` learned it (the device's clock
    /// corrected by the offset learned from the server's answers, or kept in the store
    /// from an earlier run), and the raw device time beside it.
    pub fn new(store: Store, api: ApiClient) -> Self {
        Self {
            store,
            api,
            clock: None,
            wake: Arc::new(Notify::new()),
            syncing: Arc::new(Mutex::new(())),
            kept_offset: Arc::default(),
            batch_size: MAX_BATCH,
        }
    }

    /// The same outbox stamping receipts with `clock` as it reads, uncorrected.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The same outbox sending at most `n` receipts per request (1 to 1000).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.clamp(1, MAX_BATCH);
        self
    }

    /// The local store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The API client it sends with.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The signal a background [`crate::SyncEngine`] waits on; notified whenever a
    /// receipt is recorded.
    pub(crate) fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Keeps the server clock's offset as measured in this run (if it was) in the store,
    /// for receipts recorded on a later run that starts offline.
    pub async fn remember_clock(&self) -> Result<()> {
        let clock = self.api.server_clock();
        let Some(sample) = clock
            .sample()
            .filter(|s| s.round_trip < SignedDuration::MAX)
        else {
            return Ok(());
        };
        let unchanged = {
            let kept = self.kept_offset.lock().unwrap_or_else(|p| p.into_inner());
            *kept == Some(sample.offset)
        };
        if !unchanged {
            self.store.set_clock_offset(sample.offset).await?;
            *self.kept_offset.lock().unwrap_or_else(|p| p.into_inner()) = Some(sample.offset);
        }
        Ok(())
    }

    /// Records one receipt, stamped with the clock's time now. Returns once it is
    /// durably stored (nothing here touches the network), then nudges the background
    /// sync, if one runs.
    pub async fn record(
        &self,
        kind: ReceiptKind,
        message_id: &str,
        response: Option<&str>,
    ) -> Result<PendingReceipt> {
        let mut stored = self
            .record_batch(&[NewReceipt {
                kind,
                message_id: message_id.to_string(),
                response: response.map(str::to_string),
            }])
            .await?;
        stored
            .pop()
            .ok_or_else(|| ClientError::Invalid("recording produced no receipt".into()))
    }

    /// Records several receipts in one durable commit, all stamped with the same time.
    pub async fn record_batch(&self, items: &[NewReceipt]) -> Result<Vec<PendingReceipt>> {
        let server_clock = self.api.server_clock();
        if self.clock.is_none() {
            if server_clock.offset().is_none() {
                // Offline since start: the offset learned on an earlier run is the best
                // guess.
                if let Some(offset) = self.store.clock_offset().await? {
                    server_clock.restore(offset);
                }
            } else {
                self.remember_clock().await?;
            }
        }
        let device = server_clock.device_now();
        let at = match &self.clock {
            Some(clock) => clock.now(),
            None => server_clock.correct(device),
        };
        let at = to_millis(at).to_string();
        // The device's own time, sent as `device_at`.
        let created_at = to_millis(device).to_string();
        let mut receipts = Vec::with_capacity(items.len());
        for item in items {
            let message_id = item.message_id.trim();
            if message_id.is_empty() {
                return Err(ClientError::Invalid("a receipt needs a message id".into()));
            }
            receipts.push(PendingReceipt {
                seq: 0,
                event_id: uuid::Uuid::new_v4().to_string(),
                message_id: message_id.to_string(),
                kind: item.kind,
                at: at.clone(),
                response: item.response.clone(),
                created_at: created_at.clone(),
                attempts: 0,
                last_error: None,
            });
        }
        self.store.insert_receipts(&receipts).await?;
        self.wake.notify_one();
        Ok(receipts)
    }

    /// Sends every pending receipt, in batches, until the outbox is empty or a request
    /// fails. Answers are recorded batch by batch, so a failure (or a killed process)
    /// loses at most the answers of the request in flight, and those receipts are
    /// simply sent again.
    pub async fn sync(&self) -> std::result::Result<SyncReport, SyncFailure> {
        let _one_at_a_time = self.syncing.lock().await;
        let mut report = SyncReport::default();
        match self.sync_locked(&mut report).await {
            Ok(()) => {
                report.remaining = self
                    .store
                    .pending_count()
                    .await
                    .map_err(|e| fail(&report, e.into()))?;
                Ok(report)
            }
            Err(error) => {
                report.remaining = self.store.pending_count().await.unwrap_or(report.remaining);
                Err(SyncFailure { report, error })
            }
        }
    }

    async fn sync_locked(&self, report: &mut SyncReport) -> Result<()> {
        let mut size = self.batch_size;
        loop {
            let batch = self.store.pending(size as u32).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let ids: Vec<String> = batch.iter().map(|r| r.event_id.clone()).collect();
            self.store.mark_attempt(&ids).await?;
            let items: Vec<ReceiptItem> = batch.iter().map(wire_item).collect();
            report.requests += 1;
            let answer = self.api.post_receipts(&items).await;
            self.remember_clock().await?;
            let results = match answer {
                Ok(results) => results.results,
                // A whole-request 400 or 413 is about some item in it (or its size):
                // halve until the culprit stands alone, then dead-letter it.
                Err(ClientError::Api {
                    status,
                    code,
                    message,
                    ..
                }) if status == 400 || status == 413 => {
                    if batch.len() > 1 {
                        size = (batch.len() / 2).max(1);
                        continue;
                    }
                    self.store
                        .settle(&[(ids[0].clone(), Settlement::Rejected { code, message })])
                        .await?;
                    report.rejected += 1;
                    size = self.batch_size;
                    continue;
                }
                Err(e) => {
                    self.store.note_failure(&ids, &e.to_string()).await?;
                    return Err(e);
                }
            };
            // Matched by event id, not position: an answer that misses an item leaves
            // that item pending rather than settling the wrong one.
            let by_id: HashMap<&str, &ReceiptResult> = results
                .iter()
                .filter_map(|r| r.event_id.as_deref().map(|id| (id, r)))
                .collect();
            let mut settled = Vec::with_capacity(batch.len());
            for id in &ids {
                let Some(result) = by_id.get(id.as_str()) else {
                    continue;
                };
                match result.status {
                    ReceiptStatus::Applied => report.applied += 1,
                    ReceiptStatus::Duplicate => report.duplicate += 1,
                    ReceiptStatus::Rejected => report.rejected += 1,
                }
                let outcome = match (result.status, &result.error) {
                    (ReceiptStatus::Rejected, Some(reason)) => Settlement::Rejected {
                        code: reason.code.clone(),
                        message: reason.message.clone(),
                    },
                    (ReceiptStatus::Rejected, None) => Settlement::Rejected {
                        code: "rejected".into(),
                        message: "the server refused this receipt without a reason".into(),
                    },
                    _ => Settlement::Done,
                };
                settled.push((id.clone(), outcome));
            }
            self.store.settle(&settled).await?;
            if settled.is_empty() {
                // Nothing answered for: sending again would loop forever.
                let e = ClientError::Protocol {
                    status: 200,
                    detail: "the server answered for none of the receipts sent".into(),
                };
                self.store.note_failure(&ids, &e.to_string()).await?;
                return Err(e);
            }
        }
    }

    /// Syncs, retrying failures that may pass (offline, 5xx, 429) with `backoff`
    /// until the outbox is empty or `deadline` would pass before the next try.
    pub async fn sync_with_retry(
        &self,
        backoff: &mut Backoff,
        deadline: Instant,
    ) -> std::result::Result<SyncReport, SyncFailure> {
        let mut total = SyncReport::default();
        loop {
            match self.sync().await {
                Ok(report) => {
                    total.add(&report);
                    backoff.reset();
                    return Ok(total);
                }
                Err(failure) => {
                    total.add(&failure.report);
                    let delay = backoff.next_delay(failure.error.retry_after());
                    if !failure.error.is_retryable() || Instant::now() + delay > deadline {
                        return Err(SyncFailure {
                            report: total,
                            error: failure.error,
                        });
                    }
                    tracing::debug!(error = %failure.error, delay_ms = delay.as_millis() as u64, "sync failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Syncs for at most `budget`, giving up (receipts stay pending) when the server
    /// does not answer in time. For a quick flush after recording.
    pub async fn sync_within(
        &self,
        budget: Duration,
    ) -> std::result::Result<SyncReport, SyncFailure> {
        match tokio::time::timeout(budget, self.sync()).await {
            Ok(result) => result,
            Err(_) => {
                let remaining = self.store.pending_count().await.unwrap_or(0);
                Err(SyncFailure {
                    report: SyncReport {
                        remaining,
                        ..SyncReport::default()
                    },
                    error: ClientError::Network(format!(
                        "no answer within {} ms",
                        budget.as_millis()
                    )),
                })
            }
        }
    }
}

fn fail(report: &SyncReport, error: ClientError) -> SyncFailure {
    SyncFailure {
        report: *report,
        error,
    }
}

fn wire_item(r: &PendingReceipt) -> ReceiptItem {
    ReceiptItem {
        event_id: r.event_id.clone(),
        message_id: r.message_id.clone(),
        kind: r.kind.as_str().to_string(),
        at: r.at.clone(),
        device_at: Some(r.created_at.clone()),
        response: r.response.clone(),
        member_id: None,
    }
}
