//! The single-node bus: a tokio broadcast channel.

use std::sync::Arc;

use async_trait::async_trait;
use readtrack_domain::event::Event;
use tokio::sync::{broadcast, mpsc};

use crate::{BusError, BusMessage, EventBus};

/// Batches buffered per subscriber before it is declared lagging.
const CAPACITY: usize = 4096;

/// An in-process bus for a single node.
pub struct InProcessBus {
    tx: broadcast::Sender<Arc<[Event]>>,
}

impl InProcessBus {
    /// A new bus with no subscribers.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: Arc<[Event]>) -> Result<(), BusError> {
        // No subscriber is not an error: nobody is listening on this node.
        let _ = self.tx.send(events);
        Ok(())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<BusMessage>, BusError> {
        let mut rx = self.tx.subscribe();
        let (out, out_rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let msg = match rx.recv().await {
                    Ok(batch) => BusMessage::Events(batch),
                    Err(broadcast::error::RecvError::Lagged(_)) => BusMessage::Lagged,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if out.send(msg).await.is_err() {
                    return;
                }
            }
        });
        Ok(out_rx)
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use readtrack_domain::event::EventBody;
    use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq};

    fn event(seq: i64) -> Event {
        Event {
            seq: Seq(seq),
            org_id: OrgId(1),
            at: Timestamp::UNIX_EPOCH,
            body: EventBody::Reminder {
                message_id: MessageId(1),
                member_id: MemberId(1),
                count: 1,
            },
        }
    }

    #[tokio::test]
    async fn every_subscriber_sees_every_batch_in_order() {
        let bus = InProcessBus::new();
        let mut a = bus.subscribe().await.unwrap();
        let mut b = bus.subscribe().await.unwrap();
        bus.publish(vec![event(1)].into()).await.unwrap();
        bus.publish(vec![event(2), event(3)].into()).await.unwrap();
        for rx in [&mut a, &mut b] {
            let mut seqs = vec![];
            for _ in 0..2 {
                match rx.recv().await.unwrap() {
                    BusMessage::Events(batch) => seqs.extend(batch.iter().map(|e| e.seq.0)),
                    BusMessage::Lagged => panic!("not lagging"),
                }
            }
            assert_eq!(seqs, vec![1, 2, 3]);
        }
    }
}
