//! The scheduler: fires due reminder steps from the durable due-queue.
//!
//! It sleeps until the earliest due step, a new notice, or a move of the clock, then
//! asks storage to fire everything due. After a move of the clock, in either direction,
//! every step waiting for its recipient's working time is put back at its planned time
//! first, so no wait worked out from an earlier "now" survives the move. Storage claims, records and replaces each step
//! in one transaction, so a step fires once however many passes or nodes race for it,
//! and a server that was down fires overdue steps when it comes back.

use std::time::Duration;

use jiff::Timestamp;

use crate::App;

/// Steps fired per storage transaction.
const PASS: u32 = 500;
/// Longest sleep between passes: steps queued by other nodes are found within this.
const MAX_NAP: Duration = Duration::from_secs(30);
/// Shortest sleep between passes. A step still due right after a pass is being fired by
/// another node (its row is locked and was skipped); looking again shortly, rather than
/// at once, keeps this node from spinning until that node commits.
const MIN_NAP: Duration = Duration::from_millis(200);
/// A step back of the clock larger than this between two passes counts as a move.
const BACKWARD_STEP: jiff::SignedDuration = jiff::SignedDuration::from_secs(1);

impl App {
    /// Fires every step due now; returns how many fired.
    pub async fn fire_due_steps(&self) -> crate::Result<u64> {
        let mut fired = 0;
        loop {
            let now = self.clock().now();
            let pass = self.storage().fire_due_steps(now, PASS).await?;
            fired += pass.fired;
            let busy = pass.fired + pass.rescheduled + pass.dropped >= u64::from(PASS);
            if !pass.events.is_empty() {
                metrics::counter!("readtrack_reminder_steps_fired_total").increment(pass.fired);
                if let Err(e) = self.bus().publish(pass.events.into()).await {
                    tracing::warn!(error = %e, "could not publish reminder events; clients catch up on resume");
                }
            }
            if !busy {
                return Ok(fired);
            }
        }
    }

    /// Runs the scheduler until shutdown.
    pub async fn run_scheduler(self) {
        let mut shutdown = self.shutdown_signal();
        let mut clock_moves = self.clock().changes();
        let mut clock_moved = false;
        let mut last_seen = self.clock().now();
        loop {
            let now = self.clock().now();
            // A wait for working time is worked out from "now". When the clock is moved
            // by hand, or the system clock steps back, a wait worked out at a later now
            // may outlast the recipient's next working time: work every wait out again.
            if clock_moved || now < last_seen - BACKWARD_STEP {
                match self.storage().undo_deferrals().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        steps = n,
                        "the clock moved; waits for working time are worked out again"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "could not undo waits after a clock move")
                    }
                }
                clock_moved = false;
            }
            last_seen = now;
            if let Err(e) = self.fire_due_steps().await {
                tracing::error!(error = %e, "scheduler pass failed; retrying shortly");
            }
            let next_due = self.storage().next_due_at().await;
            // How late the most overdue step is after a pass (0 when none is overdue):
            // steps that stay overdue mean the scheduler cannot keep up.
            if let Ok(next) = &next_due {
                let lag = next.map_or(0.0, |t| {
                    (self.clock().now().as_millisecond() - t.as_millisecond()).max(0) as f64
                        / 1000.0
                });
                metrics::gauge!("readtrack_due_queue_lag_seconds").set(lag);
            }
            let nap = match next_due {
                Ok(Some(t)) => until(t, self.clock().now()),
                Ok(None) => MAX_NAP,
                Err(_) => Duration::from_secs(1),
            };
            tokio::select! {
                _ = tokio::time::sleep(nap.clamp(MIN_NAP, MAX_NAP)) => {}
                _ = self.inner.wake_scheduler.notified() => {}
                _ = clock_moves.changed() => clock_moved = true,
                _ = shutdown.signalled() => return,
            }
        }
    }

    /// Wakes the scheduler (new steps were queued).
    pub(crate) fn wake_scheduler(&self) {
        self.inner.wake_scheduler.notify_one();
    }
}

fn until(t: Timestamp, now: Timestamp) -> Duration {
    let ms = t.as_millisecond() - now.as_millisecond();
    Duration::from_millis(ms.clamp(0, MAX_NAP.as_millis() as i64) as u64)
}
