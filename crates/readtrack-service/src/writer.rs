//! The receipt writer: group commit for the receipt hot path.
//!
//! Every request (HTTP or WebSocket) hands its parsed receipts to one writer task over a
//! bounded queue and waits. The writer takes whatever has queued up while the previous
//! commit was running, applies it all in one storage transaction, and only then answers
//! each waiting request. A burst of thousands of receipts per second therefore costs one
//! commit per batch, and `applied` always means committed.

use std::sync::Arc;
use std::time::Instant;

use readtrack_bus::EventBus;
use readtrack_storage::{ReceiptWrite, Storage, WriteOutcome};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::error::{Result, ServiceError};

/// One request's receipts and where to send their outcomes.
struct Job {
    items: Vec<ReceiptWrite>,
    reply: oneshot::Sender<Result<Vec<WriteOutcome>>>,
}

/// The handle requests use to reach the writer.
#[derive(Clone)]
pub struct ReceiptWriter {
    tx: mpsc::Sender<Job>,
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most receipts in one transaction.
    pub max_batch: usize,
    /// Requests that may wait in the queue before new ones are refused (503).
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch: 8192,
            queue: 4096,
        }
    }
}

impl ReceiptWriter {
    /// Starts the writer task; it runs until `shutdown` flips and the queue is drained.
    pub fn start(
        storage: Arc<dyn Storage>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
        shutdown: crate::ShutdownSignal,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue);
        let task = tokio::spawn(run(rx, storage, bus, clock, config, shutdown));
        (Self { tx }, task)
    }

    /// Applies receipts and returns one outcome per item once they are committed.
    pub async fn write(&self, items: Vec<ReceiptWrite>) -> Result<Vec<WriteOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job { items, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!("readtrack_receipt_queue_full_total").increment(1);
                    ServiceError::Unavailable(
                        "the server is saving receipts as fast as it can; retry shortly".into(),
                    )
                }
                mpsc::error::TrySendError::Closed(_) => {
                    ServiceError::Unavailable("the server is shutting down".into())
                }
            })?;
        answer
            .await
            .map_err(|_| ServiceError::Unavailable("the receipt writer stopped".into()))?
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    storage: Arc<dyn Storage>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    mut shutdown: crate::ShutdownSignal,
) {
    loop {
        let first = tokio::select! {
            biased;
            job = rx.recv() => job,
            _ = shutdown.signalled() => {
                // Finish what is queued, then stop: in-flight writes are never dropped.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut jobs = vec![first];
        let mut total = jobs[0].items.len();
        while total < config.max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.items.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // Jobs still waiting behind this batch: a queue that grows says the disk is the
        // limit.
        metrics::gauge!("readtrack_receipt_queue_depth").set(rx.len() as f64);
        commit(&mut jobs, &*storage, &*bus, &*clock).await;
    }
    tracing::info!("receipt writer stopped");
}

async fn commit(jobs: &mut Vec<Job>, storage: &dyn Storage, bus: &dyn EventBus, clock: &dyn Clock) {
    let mut items = Vec::with_capacity(jobs.iter().map(|j| j.items.len()).sum());
    let mut sizes = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        sizes.push(job.items.len());
        items.append(&mut job.items);
    }
    let started = Instant::now();
    let result = storage.apply_receipts(&items, clock.now()).await;
    metrics::histogram!("readtrack_receipt_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("readtrack_receipt_commit_batch_size").record(items.len() as f64);
    match result {
        Ok(batch) => {
            let applied = batch
                .outcomes
                .iter()
                .filter(|o| matches!(o, WriteOutcome::Applied))
                .count();
            metrics::counter!("readtrack_receipts_applied_total").increment(applied as u64);
            if !batch.events.is_empty() {
                // Committed already: a bus failure only delays live frames, and clients
                // catch up from storage when they resume.
                if let Err(e) = bus.publish(batch.events.into()).await {
                    tracing::warn!(error = %e, "could not publish receipt events");
                }
            }
            let mut outcomes = batch.outcomes.into_iter();
            for (job, size) in jobs.drain(..).zip(sizes) {
                let mine: Vec<WriteOutcome> = outcomes.by_ref().take(size).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            tracing::error!(error = ?e, receipts = items.len(), "receipt batch failed; nothing of it was committed");
            for job in jobs.drain(..) {
                let _ = job.reply.send(Err(ServiceError::Unavailable(
                    "receipts could not be saved; nothing was recorded, retry".into(),
                )));
            }
        }
    }
}
