//! Following the realtime stream (`GET /api/v1/stream`, WebSocket) with automatic
//! reconnection.
//!
//! The task resumes after the last sequence number it saw (kept in the [`Store`], so
//! a restarted app resumes too), and each time a connection is up and caught up (the
//! server's `hello`) it wakes the background sync: connectivity is back, so pending
//! receipts go at once instead of waiting out a backoff.

use std::time::Duration;

use futures_util::StreamExt;
use readtrack_protocol::frames::ServerFrame;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::api::ApiClient;
use crate::backoff::Backoff;
use crate::error::ClientError;
use crate::store::Store;
use crate::sync::SyncWaker;

/// How a [`Stream`] behaves.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Resume after the sequence number saved in the store (else: live frames only).
    pub resume: bool,
    /// Delays between reconnection attempts.
    pub backoff: Backoff,
    /// Woken whenever the stream (re)connects: typically the background sync's.
    pub on_connect: Option<SyncWaker>,
    /// A connection silent for this long is presumed dead and replaced (the server
    /// pings every 25 s).
    pub idle_timeout: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            resume: true,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            on_connect: None,
            idle_timeout: Duration::from_secs(70),
        }
    }
}

/// What the stream task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Connected and caught up: the backlog (if resuming) came first, live frames follow.
    Connected {
        /// The organisation's latest sequence number.
        last_seq: i64,
    },
    /// A frame from the server (the backlog's, then live ones).
    Frame(ServerFrame),
    /// The connection is gone; the task reconnects after `retry_in`.
    Disconnected {
        /// Why.
        error: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
}

/// A followed stream: read its events with [`Stream::next`].
#[derive(Debug)]
pub struct Stream {
    events: mpsc::Receiver<StreamEvent>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Events buffered before the task waits for the reader.
const EVENT_BUFFER: usize = 256;
/// How often the position is saved while frames flow (saving each frame would cost a
/// disk sync apiece).
const SAVE_EVERY: Duration = Duration::from_secs(1);

impl Stream {
    /// Starts following the stream of `api`'s member (which must be signed in). With a
    /// `store`, the position is loaded from and saved to it.
    pub fn spawn(api: ApiClient, store: Option<Store>, options: StreamOptions) -> Stream {
        crate::tls::install_crypto_provider();
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(api, store, options, tx, stop_rx));
        Stream {
            events: rx,
            stop: stop_tx,
            task,
        }
    }

    /// The next event; `None` once the stream was stopped.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.events.recv().await
    }

    /// Stops following (saving the position first).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.events.close();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

async fn run(
    api: ApiClient,
    store: Option<Store>,
    mut options: StreamOptions,
    tx: mpsc::Sender<StreamEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut position: Option<i64> = None;
    if options.resume
        && let Some(store) = &store
    {
        position = store.last_seq().await.ok().flatten();
    }
    loop {
        let outcome = tokio::select! {
            o = connection(&api, store.as_ref(), &mut options, &tx, &mut position) => o,
            _ = stop.changed() => Ended::Stopped,
        };
        if let (Some(store), Some(seq)) = (&store, position) {
            let _ = store.set_last_seq(seq).await;
        }
        let error = match outcome {
            Ended::Stopped | Ended::ReaderGone => return,
            Ended::Failed(error) => error,
        };
        let wait = options.backoff.next_delay(None);
        tracing::debug!(%error, retry_in_ms = wait.as_millis() as u64, "stream disconnected");
        if tx
            .send(StreamEvent::Disconnected {
                error,
                retry_in: wait,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

enum Ended {
    Stopped,
    ReaderGone,
    Failed(String),
}

async fn connection(
    api: &ApiClient,
    store: Option<&Store>,
    options: &mut StreamOptions,
    tx: &mpsc::Sender<StreamEvent>,
    position: &mut Option<i64>,
) -> Ended {
    let Some(token) = api.token() else {
        return Ended::Failed(ClientError::NotSignedIn.to_string());
    };
    let url = match api.stream_url(if options.resume { *position } else { None }) {
        Ok(u) => u,
        Err(e) => return Ended::Failed(e.to_string()),
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return Ended::Failed(format!("bad stream URL: {e}")),
    };
    // The token goes in a header rather than the URL, so it stays out of access logs.
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(v) => {
            request.headers_mut().insert("authorization", v);
        }
        Err(_) => return Ended::Failed("the token is not a valid header value".into()),
    }
    let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
        Ok(s) => s,
        Err(e) => return Ended::Failed(format!("cannot connect the stream: {e}")),
    };
    let mut dirty = false;
    let mut save = tokio::time::interval(SAVE_EVERY);
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = tokio::select! {
            m = tokio::time::timeout(options.idle_timeout, socket.next()) => m,
            _ = save.tick() => {
                if dirty {
                    if let (Some(store), Some(seq)) = (store, *position) {
                        let _ = store.set_last_seq(seq).await;
                    }
                    dirty = false;
                }
                continue;
            }
        };
        let message = match next {
            Err(_) => return Ended::Failed("the stream went silent".into()),
            Ok(None) => return Ended::Failed("the server closed the stream".into()),
            Ok(Some(Err(e))) => return Ended::Failed(format!("stream error: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Ended::Failed(format!("the server closed the stream: {reason}"));
            }
            // Pings are answered by tungstenite itself on the next read.
            _ => continue,
        };
        let frame: ServerFrame = match serde_json::from_str(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                // A newer server may send frame types this version does not know.
                tracing::debug!(error = %e, "skipping an unknown stream frame");
                continue;
            }
        };
        let event = match &frame {
            ServerFrame::Hello { last_seq, .. } => {
                *position = Some(position.map_or(*last_seq, |p| p.max(*last_seq)));
                if let (Some(store), Some(seq)) = (store, *position) {
                    let _ = store.set_last_seq(seq).await;
                }
                dirty = false;
                options.backoff.reset();
                if let Some(waker) = &options.on_connect {
                    waker.wake();
                }
                StreamEvent::Connected {
                    last_seq: *last_seq,
                }
            }
            ServerFrame::Reset { last_seq, .. } => {
                // The saved position belongs to another sequence: start again from the
                // server's, and let the reader reload what it shows.
                *position = Some(*last_seq);
                if let Some(store) = store {
                    let _ = store.set_last_seq(*last_seq).await;
                }
                dirty = false;
                StreamEvent::Frame(frame)
            }
            other => {
                if let Some(seq) = other.seq() {
                    *position = Some(position.map_or(seq, |p| p.max(seq)));
                    dirty = true;
                }
                StreamEvent::Frame(frame)
            }
        };
        if tx.send(event).await.is_err() {
            return Ended::ReaderGone;
        }
    }
}
