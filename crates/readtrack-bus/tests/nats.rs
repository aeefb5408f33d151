//! The NATS bus against a real server (`READTRACK_TEST_NATS`), each test under a subject
//! prefix of its own: events cross between nodes in order, big batches are split, and a
//! lost connection reaches subscribers as `Lagged`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use readtrack_bus::{BusMessage, EventBus, NatsBus, NatsConfig};
use readtrack_domain::event::{Event, EventBody};
use readtrack_domain::ids::{MemberId, MessageId, OrgId, Seq};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(10);

/// The server's URL, or `None` (with a line saying so) when it is not configured.
fn nats_url(test: &str) -> Option<String> {
    match std::env::var("READTRACK_TEST_NATS") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but READTRACK_TEST_NATS is not set: the NATS suite must run in CI"
            );
            println!("skipped: NATS not configured (set READTRACK_TEST_NATS) for {test}");
            None
        }
    }
}

fn config(url: &str) -> NatsConfig {
    NatsConfig {
        prefix: format!("rt-test-{}", uuid::Uuid::new_v4().simple()),
        ..NatsConfig::new(url)
    }
}

fn event(org: i64, seq: i64) -> Event {
    Event {
        seq: Seq(seq),
        org_id: OrgId(org),
        at: Timestamp::from_millisecond(1_800_000_000_000).unwrap(),
        body: EventBody::Reminder {
            message_id: MessageId(1),
            member_id: MemberId(seq),
            count: 1,
        },
    }
}

/// Sequence numbers received until `want` of them arrived (Lagged is noted as -1).
async fn collect(rx: &mut mpsc::Receiver<BusMessage>, want: usize) -> Vec<i64> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.iter().filter(|s| **s >= 0).count() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(BusMessage::Events(batch))) => got.extend(batch.iter().map(|e| e.seq.0)),
            Ok(Some(BusMessage::Lagged)) => got.push(-1),
            Ok(None) => panic!("subscription closed"),
            Err(_) => panic!("timed out with {got:?}"),
        }
    }
    got
}

#[tokio::test]
async fn events_published_on_one_node_reach_every_node_in_sequence_order() {
    let Some(url) = nats_url("events_published_on_one_node_reach_every_node_in_sequence_order")
    else {
        return;
    };
    let cfg = config(&url);
    let a = NatsBus::connect(cfg.clone()).await.unwrap();
    let b = NatsBus::connect(cfg.clone()).await.unwrap();
    let other = NatsBus::connect(config(&url)).await.unwrap();
    let mut on_a = a.subscribe().await.unwrap();
    let mut on_b = b.subscribe().await.unwrap();
    let mut elsewhere = other.subscribe().await.unwrap();
    // Node B's commit of seq 2 is published before node A's seq 1.
    b.publish(vec![event(7, 2), event(7, 3)].into())
        .await
        .unwrap();
    a.publish(vec![event(7, 1)].into()).await.unwrap();
    a.publish(vec![event(7, 4)].into()).await.unwrap();
    for rx in [&mut on_a, &mut on_b] {
        let got: Vec<i64> = collect(rx, 4)
            .await
            .into_iter()
            .filter(|s| *s >= 0)
            .collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
    }
    let stray = tokio::time::timeout(Duration::from_millis(300), elsewhere.recv()).await;
    assert!(
        !matches!(stray, Ok(Some(BusMessage::Events(_)))),
        "another prefix hears nothing"
    );
}

#[tokio::test]
async fn a_batch_larger_than_one_nats_message_arrives_whole_and_in_order() {
    let Some(url) = nats_url("a_batch_larger_than_one_nats_message_arrives_whole_and_in_order")
    else {
        return;
    };
    let cfg = config(&url);
    let bus = NatsBus::connect(cfg).await.unwrap();
    let mut rx = bus.subscribe().await.unwrap();
    // About 1.5 MB of events: more than NATS's default 1 MB payload limit.
    let batch: Vec<Event> = (1..=12_000).map(|s| event(3, s)).collect();
    bus.publish(batch.into()).await.unwrap();
    let got: Vec<i64> = collect(&mut rx, 12_000)
        .await
        .into_iter()
        .filter(|s| *s >= 0)
        .collect();
    assert_eq!(got, (1..=12_000).collect::<Vec<_>>());
}

/// A TCP proxy in front of the NATS server whose connections the test can cut.
struct Proxy {
    addr: std::net::SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let kept = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                kept.lock().unwrap().push(link);
            }
        });
        Self {
            addr,
            links,
            accept,
        }
    }

    /// Drops every open connection, as a network failure would.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_lost_connection_tells_subscribers_to_resume_and_then_recovers() {
    let Some(url) = nats_url("a_lost_connection_tells_subscribers_to_resume_and_then_recovers")
    else {
        return;
    };
    let upstream = url
        .trim_start_matches("nats://")
        .trim_end_matches('/')
        .to_string();
    let proxy = Proxy::start(upstream).await;
    let mut cfg = config(&format!("nats://{}", proxy.addr));
    cfg.gap_timeout = Duration::from_millis(500);
    let bus = NatsBus::connect(cfg).await.unwrap();
    let mut rx = bus.subscribe().await.unwrap();
    bus.publish(vec![event(1, 1)].into()).await.unwrap();
    assert!(collect(&mut rx, 1).await.contains(&1));

    proxy.cut();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(BusMessage::Lagged)) => break,
            Ok(Some(BusMessage::Events(_))) => continue,
            other => panic!("expected Lagged after the cut, got {other:?}"),
        }
    }
    // Once reconnected, events flow again (publishing until one gets through, since
    // messages sent while the client was still reconnecting may be lost).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seq = 10;
    loop {
        seq += 1;
        bus.publish(vec![event(1, seq)].into()).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            Ok(Some(BusMessage::Events(batch))) if batch.iter().any(|e| e.seq.0 >= 11) => break,
            Ok(Some(_)) | Err(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no events after reconnecting"
                );
            }
            Ok(None) => panic!("subscription closed"),
        }
    }
}
