//! readtrack's event bus: how committed events reach every node's realtime connections.
//!
//! Architecture invariant: the bus carries only events that are already committed to
//! storage. Storage is the source of truth; the bus is a fast path. A subscriber that
//! falls behind is told so ([`BusMessage::Lagged`]) and must send its clients back to
//! storage (stream resume with `since`) rather than guess what it missed.

mod in_process;
mod nats;

use std::sync::Arc;

use async_trait::async_trait;
use readtrack_domain::event::Event;
use tokio::sync::mpsc;

pub use in_process::InProcessBus;
pub use nats::{NatsBus, NatsConfig};

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// Events, in commit order for each organisation.
    Events(Arc<[Event]>),
    /// Some events were dropped before this subscriber saw them.
    Lagged,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or refused the message.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Publishes committed events to every node and lets each node subscribe.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends a batch of committed events to all subscribers (this node's included).
    async fn publish(&self, events: Arc<[Event]>) -> Result<(), BusError>;
    /// A new subscription; dropped receivers unsubscribe.
    async fn subscribe(&self) -> Result<mpsc::Receiver<BusMessage>, BusError>;
    /// A short name for logs and metrics (`in-process`, `nats`).
    fn name(&self) -> &'static str;
    /// Whether events published now reach the other nodes (for `/readyz`).
    async fn ready(&self) -> Result<(), BusError> {
        Ok(())
    }
}
