//! The realtime hub: routes committed events from the bus to this node's connections.
//!
//! Connections register per member. Each gets a bounded queue; a connection that cannot
//! keep up is dropped (its queue closes) and its client resumes from storage with
//! `since`, so a slow consumer never grows the server's memory and never misses a frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use readtrack_bus::BusMessage;
use readtrack_domain::event::{Event, EventAudience};
use readtrack_domain::ids::{MemberId, OrgId};
use readtrack_storage::Storage;
use tokio::sync::mpsc;

/// Events queued per connection before it counts as too slow.
pub const CONNECTION_QUEUE: usize = 4096;

struct Conn {
    id: u64,
    org: OrgId,
    tx: mpsc::Sender<Arc<Event>>,
}

/// This node's registry of realtime connections.
pub struct Hub {
    storage: Arc<dyn Storage>,
    /// A std lock: held for map operations only, never across an await.
    conns: RwLock<HashMap<MemberId, Vec<Conn>>>,
    next_id: AtomicU64,
}

/// A registered connection; dropping it unregisters.
pub struct Subscription {
    /// Events for this member, in sequence order per organisation.
    pub rx: mpsc::Receiver<Arc<Event>>,
    id: u64,
    member: MemberId,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.member, self.id);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new(storage: Arc<dyn Storage>) -> Arc<Self> {
        Arc::new(Self {
            storage,
            conns: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// Registers a connection of `member`.
    pub fn subscribe(self: &Arc<Self>, member: MemberId, org: OrgId) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(CONNECTION_QUEUE);
        if let Ok(mut map) = self.conns.write() {
            map.entry(member).or_default().push(Conn { id, org, tx });
        }
        metrics::gauge!("readtrack_websocket_connections").increment(1.0);
        Subscription {
            rx,
            id,
            member,
            hub: self.clone(),
        }
    }

    fn remove(&self, member: MemberId, id: u64) {
        if let Ok(mut map) = self.conns.write()
            && let Some(list) = map.get_mut(&member)
        {
            let before = list.len();
            list.retain(|c| c.id != id);
            if list.len() < before {
                metrics::gauge!("readtrack_websocket_connections").decrement(1.0);
            }
            if list.is_empty() {
                map.remove(&member);
            }
        }
    }

    /// Connections currently registered on this node.
    pub fn connection_count(&self) -> usize {
        self.conns
            .read()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// Follows the bus until `shutdown` flips.
    pub async fn run(
        self: Arc<Self>,
        mut bus: mpsc::Receiver<BusMessage>,
        mut shutdown: crate::ShutdownSignal,
    ) {
        loop {
            let msg = tokio::select! {
                m = bus.recv() => m,
                _ = shutdown.signalled() => None,
            };
            match msg {
                Some(BusMessage::Events(batch)) => self.route(&batch).await,
                Some(BusMessage::Lagged) => {
                    tracing::warn!(
                        "realtime hub fell behind the bus; asking every client to resume"
                    );
                    self.drop_all();
                }
                None => break,
            }
        }
        self.drop_all();
    }

    fn drop_all(&self) {
        if let Ok(mut map) = self.conns.write() {
            let n: usize = map.values().map(Vec::len).sum();
            map.clear();
            metrics::gauge!("readtrack_websocket_connections").decrement(n as f64);
        }
    }

    /// Delivers each event to the connections of its audience on this node.
    pub async fn route(&self, batch: &[Event]) {
        for event in batch {
            let event = Arc::new(event.clone());
            match event.body.audience() {
                EventAudience::Member(member) => self.deliver(member, &event),
                EventAudience::RecipientsOf(message) => {
                    let connected: Vec<MemberId> = self
                        .conns
                        .read()
                        .map(|m| {
                            m.iter()
                                .filter(|(_, conns)| conns.iter().any(|c| c.org == event.org_id))
                                .map(|(id, _)| *id)
                                .collect()
                        })
                        .unwrap_or_default();
                    if connected.is_empty() {
                        continue;
                    }
                    match self.storage.recipients_among(message, &connected).await {
                        Ok(recipients) => {
                            for member in recipients {
                                self.deliver(member, &event);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = ?e, "could not look up recipients; their clients will resume");
                            for member in connected {
                                self.drop_member(member);
                            }
                        }
                    }
                }
            }
        }
    }

    fn deliver(&self, member: MemberId, event: &Arc<Event>) {
        let mut slow = Vec::new();
        if let Ok(map) = self.conns.read()
            && let Some(conns) = map.get(&member)
        {
            for c in conns.iter().filter(|c| c.org == event.org_id) {
                if c.tx.try_send(event.clone()).is_err() {
                    slow.push(c.id);
                }
            }
        }
        for id in slow {
            metrics::counter!("readtrack_websocket_slow_disconnects_total").increment(1);
            self.remove(member, id);
        }
    }

    fn drop_member(&self, member: MemberId) {
        if let Ok(mut map) = self.conns.write()
            && let Some(list) = map.remove(&member)
        {
            metrics::gauge!("readtrack_websocket_connections").decrement(list.len() as f64);
        }
    }
}
