//! The many-node bus: NATS core pub/sub, one subject per organisation.
//!
//! Every node publishes the events it committed to `<prefix>.events.<org id>` and
//! subscribes to `<prefix>.events.*`, its own events included, so a read posted to node
//! B reaches a sender connected to node A. Core NATS is enough: nothing here needs to be
//! durable, because storage is the record and clients resume from it.
//!
//! What NATS does not give is one order across publishers: node A's seq 5 can arrive
//! after node B's seq 6. The realtime stream never sends a frame older than one it
//! already sent, so the subscriber puts each organisation's events back in sequence
//! order (sequences are gapless per organisation, see storage). A gap that does not fill
//! within [`NatsConfig::gap_timeout`] (a node died between commit and publish, or the
//! connection dropped messages) becomes [`BusMessage::Lagged`], sent before any event
//! after the gap, so every client resumes from storage and misses nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use readtrack_domain::event::Event;
use readtrack_domain::ids::OrgId;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::{BusError, BusMessage, EventBus};

/// How a node connects to NATS.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server, `nats://host:4222`.
    pub url: String,
    /// Subjects are `<prefix>.events.<org>`; deployments (or test runs) sharing one NATS
    /// server keep apart by prefix. Dot-separated tokens of letters, digits, `_` and `-`.
    pub prefix: String,
    /// How long a subscriber waits for a missing sequence number before telling its
    /// clients to resume from storage.
    pub gap_timeout: Duration,
    /// How long a subscriber holds the first events of an organisation it has not seen
    /// yet, so events published a moment earlier by another node can overtake them.
    pub settle: Duration,
}

impl NatsConfig {
    /// The defaults for a server URL: prefix `readtrack`, a 3 s gap timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "readtrack".into(),
            gap_timeout: Duration::from_secs(3),
            settle: Duration::from_millis(100),
        }
    }
}

/// Changes of the connection that subscribers must hear about.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// Messages may have been lost (disconnect, reconnect, a slow subscription).
    Lost,
}

/// The NATS bus.
pub struct NatsBus {
    client: async_nats::Client,
    prefix: String,
    config: NatsConfig,
    links: broadcast::Sender<Link>,
}

fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

impl NatsBus {
    /// Connects (failing fast when the server cannot be reached now); later connection
    /// losses are retried forever, and each one reaches subscribers as `Lagged`.
    pub async fn connect(config: NatsConfig) -> Result<Self, BusError> {
        if !valid_prefix(&config.prefix) {
            return Err(BusError::Unavailable(format!(
                "NATS subject prefix {:?} must be dot-separated tokens of letters, digits, `_` and `-`",
                config.prefix
            )));
        }
        let (links, _) = broadcast::channel(16);
        let notify = links.clone();
        let client = async_nats::ConnectOptions::new()
            .name("readtrack")
            .max_reconnects(None)
            // A dead server is noticed within two pings rather than two minutes.
            .ping_interval(Duration::from_secs(10))
            .event_callback(move |event| {
                let notify = notify.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected
                        | async_nats::Event::Connected
                        | async_nats::Event::SlowConsumer(_) => {
                            tracing::warn!(%event, "NATS connection changed; realtime clients will resume from storage");
                            let _ = notify.send(Link::Lost);
                        }
                        other => tracing::info!(event = %other, "NATS"),
                    }
                }
            })
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS at {}: {e}", config.url)))?;
        Ok(Self {
            client,
            prefix: config.prefix.clone(),
            config,
            links,
        })
    }

    /// The subject of an organisation's events.
    fn subject(&self, org: OrgId) -> String {
        format!("{}.events.{}", self.prefix, org.0)
    }
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, events: Arc<[Event]>) -> Result<(), BusError> {
        // One subject per organisation, events in commit order; a batch too large for one
        // message is split, and NATS keeps one publisher's messages on a subject in order.
        let mut by_org: BTreeMap<OrgId, Vec<&Event>> = BTreeMap::new();
        for e in events.iter() {
            by_org.entry(e.org_id).or_default().push(e);
        }
        let limit = (self.client.server_info().max_payload / 2).max(4096);
        for (org, list) in by_org {
            let subject = self.subject(org);
            let mut chunk: Vec<u8> = Vec::with_capacity(1024);
            for e in list {
                let one = readtrack_events::event_to_json(e);
                if chunk.len() > 1 && chunk.len() + one.len() + 2 > limit {
                    chunk.push(b']');
                    self.send(&subject, std::mem::take(&mut chunk)).await?;
                }
                chunk.push(if chunk.is_empty() { b'[' } else { b',' });
                chunk.extend_from_slice(&one);
            }
            if !chunk.is_empty() {
                chunk.push(b']');
                self.send(&subject, chunk).await?;
            }
        }
        Ok(())
    }

    async fn subscribe(&self) -> Result<mpsc::Receiver<BusMessage>, BusError> {
        let subject = format!("{}.events.*", self.prefix);
        let sub = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot subscribe on NATS: {e}")))?;
        self.await_registration().await?;
        let links = self.links.subscribe();
        let (out, rx) = mpsc::channel(64);
        let reorder = Reorder::new(self.config.gap_timeout, self.config.settle);
        tokio::spawn(follow(sub, links, out, reorder));
        Ok(rx)
    }

    fn name(&self) -> &'static str {
        "nats"
    }

    async fn ready(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Unavailable(format!(
                "NATS at {} is {state}",
                self.config.url
            ))),
        }
    }
}

impl NatsBus {
    /// Returns once the server has registered this connection's subscriptions, so that
    /// everything any node publishes afterwards reaches them: the server handles one
    /// connection's commands in order, so a probe this connection publishes to itself
    /// comes back only after every earlier SUB took effect.
    async fn await_registration(&self) -> Result<(), BusError> {
        let unavailable =
            |e: String| BusError::Unavailable(format!("cannot subscribe on NATS: {e}"));
        let inbox = self.client.new_inbox();
        let mut probe = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        self.client
            .publish(inbox, Vec::new().into())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match tokio::time::timeout(Duration::from_secs(10), probe.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(unavailable("the connection closed".into())),
            Err(_) => Err(unavailable("the server did not answer within 10 s".into())),
        }
    }

    async fn send(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.client
            .publish(subject.to_string(), payload.into())
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot publish to NATS: {e}")))
    }
}

/// One subscription's loop: NATS messages in, ordered batches and lag signals out.
async fn follow(
    mut sub: async_nats::Subscriber,
    mut links: broadcast::Receiver<Link>,
    out: mpsc::Sender<BusMessage>,
    mut reorder: Reorder,
) {
    loop {
        let deadline = reorder.deadline();
        let produced = tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else { return };
                match readtrack_events::events_from_json(&msg.payload) {
                    Ok(events) => reorder.push(events, Instant::now()),
                    Err(e) => {
                        tracing::warn!(error = %e, subject = %msg.subject, "undecodable event message on NATS");
                        reorder.reset();
                        vec![BusMessage::Lagged]
                    }
                }
            }
            link = links.recv() => match link {
                Ok(Link::Lost) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    reorder.reset();
                    vec![BusMessage::Lagged]
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = sleep_until(deadline) => reorder.tick(Instant::now()),
        };
        for m in produced {
            if out.send(m).await.is_err() {
                // The receiver is gone; dropping `sub` unsubscribes.
                return;
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// One organisation's place in its sequence, per subscriber.
#[derive(Debug, Default)]
struct OrgQueue {
    /// The next sequence number to emit; `None` until the first events settled.
    next: Option<i64>,
    /// Events that arrived ahead of `next`.
    pending: BTreeMap<i64, Event>,
    /// Since when the queue has waited: for its first events to settle, or for a gap.
    waiting_since: Option<Instant>,
    /// The lowest sequence number emitted since the queue started: an event below it
    /// was never passed on, so its late arrival means clients missed it.
    floor: Option<i64>,
}

/// Puts each organisation's events back in sequence order.
#[derive(Debug)]
struct Reorder {
    orgs: HashMap<OrgId, OrgQueue>,
    gap_timeout: Duration,
    settle: Duration,
}

impl Reorder {
    fn new(gap_timeout: Duration, settle: Duration) -> Self {
        Self {
            orgs: HashMap::new(),
            gap_timeout,
            settle,
        }
    }

    /// Forgets every position: after a connection loss, whatever arrives next starts over.
    fn reset(&mut self) {
        self.orgs.clear();
    }

    /// When [`Reorder::tick`] must run next.
    fn deadline(&self) -> Option<Instant> {
        self.orgs
            .values()
            .filter_map(|q| {
                let wait = if q.next.is_none() {
                    self.settle
                } else {
                    self.gap_timeout
                };
                q.waiting_since.map(|t| t + wait)
            })
            .min()
    }

    fn push(&mut self, events: Vec<Event>, now: Instant) -> Vec<BusMessage> {
        let mut missed = false;
        for e in events {
            let q = self.orgs.entry(e.org_id).or_default();
            if q.next.is_some_and(|n| e.seq.0 < n) {
                if q.floor.is_some_and(|f| e.seq.0 < f) {
                    // Older than anything passed on: it arrived after its successors had
                    // settled, so clients must fetch it from storage.
                    missed = true;
                    q.floor = Some(e.seq.0);
                }
                // Otherwise already emitted, or given up on and covered by a Lagged.
                continue;
            }
            if q.next.is_none() && q.waiting_since.is_none() {
                q.waiting_since = Some(now);
            }
            q.pending.insert(e.seq.0, e);
        }
        let mut out = Vec::new();
        if missed {
            tracing::warn!("an event arrived after later ones had been passed on; clients resume");
            out.push(BusMessage::Lagged);
        }
        out.extend(self.tick(now));
        out
    }

    fn tick(&mut self, now: Instant) -> Vec<BusMessage> {
        let mut out: Vec<BusMessage> = Vec::new();
        let mut ready: Vec<Event> = Vec::new();
        let mut orgs: Vec<OrgId> = self.orgs.keys().copied().collect();
        orgs.sort();
        for org in orgs {
            let Some(q) = self.orgs.get_mut(&org) else {
                continue;
            };
            if q.next.is_none() {
                match q.waiting_since {
                    Some(t) if now >= t + self.settle => {
                        q.next = q.pending.keys().next().copied();
                        q.floor = q.next;
                        q.waiting_since = None;
                    }
                    _ => continue,
                }
            }
            while let Some(mut n) = q.next {
                while let Some(e) = q.pending.remove(&n) {
                    ready.push(e);
                    n += 1;
                }
                q.next = Some(n);
                let Some(&first) = q.pending.keys().next() else {
                    q.waiting_since = None;
                    break;
                };
                let since = *q.waiting_since.get_or_insert(now);
                if now < since + self.gap_timeout {
                    break;
                }
                // The missing events are not coming: clients must fetch them from storage
                // before they see anything after the gap.
                tracing::warn!(
                    org = org.0,
                    missing_from = n,
                    resumes_at = first,
                    "event sequence gap on the bus"
                );
                if !ready.is_empty() {
                    out.push(BusMessage::Events(std::mem::take(&mut ready).into()));
                }
                out.push(BusMessage::Lagged);
                q.next = Some(first);
                q.waiting_since = None;
            }
        }
        if !ready.is_empty() {
            out.push(BusMessage::Events(ready.into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use readtrack_domain::event::EventBody;
    use readtrack_domain::ids::{MemberId, MessageId, Seq};

    fn event(org: i64, seq: i64) -> Event {
        Event {
            seq: Seq(seq),
            org_id: OrgId(org),
            at: Timestamp::from_millisecond(1_800_000_000_000).unwrap(),
            body: EventBody::Reminder {
                message_id: MessageId(1),
                member_id: MemberId(2),
                count: seq,
            },
        }
    }

    /// The sequence numbers of events and `-1` for each `Lagged`, in output order.
    fn flat(out: Vec<BusMessage>) -> Vec<i64> {
        let mut v = Vec::new();
        for m in out {
            match m {
                BusMessage::Events(batch) => v.extend(batch.iter().map(|e| e.seq.0)),
                BusMessage::Lagged => v.push(-1),
            }
        }
        v
    }

    const GAP: Duration = Duration::from_secs(2);
    const SETTLE: Duration = Duration::from_millis(100);

    #[test]
    fn events_that_overtook_each_other_come_out_in_sequence_order() {
        let mut r = Reorder::new(GAP, SETTLE);
        let t = Instant::now();
        assert!(
            flat(r.push(vec![event(1, 5)], t)).is_empty(),
            "the first events settle"
        );
        assert_eq!(flat(r.tick(t + SETTLE)), vec![5]);
        assert!(flat(r.push(vec![event(1, 7), event(1, 8)], t + SETTLE)).is_empty());
        assert_eq!(flat(r.push(vec![event(1, 6)], t + SETTLE)), vec![6, 7, 8]);
        assert!(
            flat(r.push(vec![event(1, 6)], t + SETTLE)).is_empty(),
            "a repeat is dropped"
        );
        assert_eq!(r.deadline(), None, "nothing is waiting");
    }

    #[test]
    fn early_events_of_a_new_organisation_are_held_until_they_settle() {
        let mut r = Reorder::new(GAP, SETTLE);
        let t = Instant::now();
        assert!(flat(r.push(vec![event(1, 11)], t)).is_empty());
        assert!(flat(r.push(vec![event(1, 10)], t + SETTLE / 2)).is_empty());
        assert_eq!(r.deadline(), Some(t + SETTLE));
        assert_eq!(flat(r.tick(t + SETTLE)), vec![10, 11]);
    }

    #[test]
    fn an_event_older_than_the_first_one_passed_on_is_reported_as_lagged() {
        let mut r = Reorder::new(GAP, SETTLE);
        let t = Instant::now();
        r.push(vec![event(1, 8)], t);
        assert_eq!(flat(r.tick(t + SETTLE)), vec![8]);
        assert_eq!(flat(r.push(vec![event(1, 7)], t + SETTLE * 3)), vec![-1]);
        assert!(
            flat(r.push(vec![event(1, 8)], t + SETTLE * 3)).is_empty(),
            "a repeat is not"
        );
        assert_eq!(flat(r.push(vec![event(1, 9)], t + SETTLE * 3)), vec![9]);
    }

    #[test]
    fn a_gap_that_never_fills_is_reported_as_lagged_before_anything_after_it() {
        let mut r = Reorder::new(GAP, SETTLE);
        let t = Instant::now();
        r.push(vec![event(1, 1)], t);
        assert_eq!(flat(r.tick(t + SETTLE)), vec![1]);
        let t = t + SETTLE;
        assert!(flat(r.push(vec![event(1, 3), event(1, 4)], t)).is_empty());
        assert_eq!(r.deadline(), Some(t + GAP));
        assert!(flat(r.tick(t + GAP / 2)).is_empty(), "still waiting for 2");
        assert_eq!(flat(r.tick(t + GAP)), vec![-1, 3, 4]);
        assert!(
            flat(r.push(vec![event(1, 2)], t + GAP)).is_empty(),
            "too late: resumed from storage"
        );
    }

    #[test]
    fn organisations_are_ordered_independently() {
        let mut r = Reorder::new(GAP, SETTLE);
        let t = Instant::now();
        r.push(vec![event(1, 1), event(2, 1)], t);
        assert_eq!(flat(r.tick(t + SETTLE)), vec![1, 1]);
        let t = t + SETTLE;
        assert!(flat(r.push(vec![event(1, 3)], t)).is_empty());
        assert_eq!(
            flat(r.push(vec![event(2, 2)], t)),
            vec![2],
            "org 2 is not held up by org 1"
        );
        assert_eq!(flat(r.push(vec![event(1, 2)], t)), vec![2, 3]);
    }

    #[test]
    fn only_well_formed_prefixes_are_accepted() {
        for ok in ["readtrack", "rt.test-1", "a_b.c"] {
            assert!(valid_prefix(ok), "{ok}");
        }
        for bad in ["", ".", "a..b", "a.*", "a b", "a.>"] {
            assert!(!valid_prefix(bad), "{bad}");
        }
    }
}
