//! The background sync: flushes the outbox whenever something is recorded or the
//! connection comes back, and retries with backoff while the server is unreachable.
//! Callers never wait for it: [`crate::Outbox::record`] only writes locally.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::outbox::{Outbox, SyncReport};

/// What the background sync is up to, for a status line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Receipts waiting for the server.
    pub pending: u64,
    /// Receipts the server refused.
    pub dead_letters: u64,
    /// Totals since the engine started.
    pub totals: SyncReport,
    /// Why the last sync failed, if it did.
    pub last_error: Option<String>,
    /// When failing: the wait before the next try (a wake-up cuts it short).
    pub retry_in: Option<Duration>,
}

/// Starts background syncs.
#[derive(Debug)]
pub struct SyncEngine;

/// Wakes a background sync: "connectivity is back, try now". Cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncWaker(Arc<Notify>);

impl SyncWaker {
    /// Asks for a sync now, cutting any backoff wait short.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A running background sync.
#[derive(Debug)]
pub struct SyncHandle {
    waker: SyncWaker,
    status: watch::Receiver<SyncStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// How often an idle engine looks at the outbox anyway, in case another process
/// recorded receipts into the same store.
const IDLE_RECHECK: Duration = Duration::from_secs(60);

impl SyncEngine {
    /// Spawns the background sync of `outbox` on the current tokio runtime, with the
    /// default backoff (0.5 s doubling to 60 s, with jitter). It syncs once at once.
    pub fn spawn(outbox: Outbox) -> SyncHandle {
        Self::spawn_with(outbox, Backoff::default())
    }

    /// Spawns the background sync with a given backoff.
    pub fn spawn_with(outbox: Outbox, mut backoff: Backoff) -> SyncHandle {
        let wake = outbox.wake_signal();
        let (status_tx, status_rx) = watch::channel(SyncStatus::default());
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let signal = wake.clone();
        let task = tokio::spawn(async move {
            let mut totals = SyncReport::default();
            loop {
                let result = outbox.sync().await;
                let (report, error) = match result {
                    Ok(report) => (report, None),
                    Err(failure) => (failure.report, Some(failure.error)),
                };
                totals.applied += report.applied;
                totals.duplicate += report.duplicate;
                totals.rejected += report.rejected;
                totals.requests += report.requests;
                totals.remaining = report.remaining;
                let dead_letters = outbox.store().dead_letter_count().await.unwrap_or(0);
                let wait = match &error {
                    None => {
                        backoff.reset();
                        None
                    }
                    Some(e) if e.is_retryable() => Some(backoff.next_delay(e.retry_after())),
                    // Signed out, forbidden: retrying cannot help until something changes
                    // (a wake-up says it did).
                    Some(_) => None,
                };
                if let Some(e) = &error {
                    tracing::debug!(error = %e, retry_in_ms = wait.map(|w| w.as_millis() as u64), "background sync failed");
                }
                status_tx.send_replace(SyncStatus {
                    pending: report.remaining,
                    dead_letters,
                    totals,
                    last_error: error.as_ref().map(ToString::to_string),
                    retry_in: wait,
                });
                let pause = wait.unwrap_or(IDLE_RECHECK);
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop_rx.changed() => return,
                }
            }
        });
        SyncHandle {
            waker: SyncWaker(wake),
            status: status_rx,
            stop: stop_tx,
            task,
        }
    }
}

impl SyncHandle {
    /// Asks for a sync now ("connectivity is back"), cutting any backoff wait short.
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// A cloneable waker, e.g. for [`crate::StreamOptions::on_connect`].
    pub fn waker(&self) -> SyncWaker {
        self.waker.clone()
    }

    /// Follows the engine's status.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Stops the engine: at once when idle, else after the request in flight or
    /// `grace`, whichever comes first. Stopping mid-request loses nothing: unanswered
    /// receipts stay in the outbox and are sent again later.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}
