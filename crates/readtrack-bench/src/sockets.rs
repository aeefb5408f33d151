//! Members' WebSockets: the simulated clients' connections, which hear the notice
//! arrive (`message.created`) and only then start reporting receipts, and the idle
//! connections whose cost in server memory the benchmark weighs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use readtrack_client::ApiClient;
use readtrack_protocol::frames::ServerFrame;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connections being opened at once (each costs the server an authentication).
const OPEN_CONCURRENCY: usize = 32;
/// Longest wait for a connection to open and say `hello`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A simulated client heard the notice arrive.
#[derive(Debug, Clone, Copy)]
pub struct Push {
    /// Which client.
    pub client: usize,
    /// When its `message.created` frame arrived.
    pub at: Instant,
}

/// Open connections, each followed by its own task until [`Sockets::close`].
pub struct Sockets {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    closed_by_server: Arc<AtomicUsize>,
}

/// Small client buffers: a thousand connections in the generator should not weigh more
/// than the server's side of them.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
}

/// Opens the stream as the holder of `token` (`since` to resume) without waiting for
/// any frame.
pub async fn connect(api: &ApiClient, token: &str, since: Option<i64>) -> anyhow::Result<Socket> {
    let url = api.stream_url(since).context("bad stream URL")?;
    let mut request = url
        .as_str()
        .into_client_request()
        .context("bad stream URL")?;
    // The token goes in a header, as the SDK does, to stay out of access logs.
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a header")?,
    );
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true)
            .await
            .context("cannot open the stream")?;
    Ok(socket)
}

/// Opens the stream and waits for its `hello` (live frames follow it).
async fn open_one(api: &ApiClient, token: &str) -> anyhow::Result<Socket> {
    tokio::time::timeout(OPEN_TIMEOUT, async {
        let mut socket = connect(api, token, None).await?;
        while let Some(msg) = socket.next().await {
            if let Message::Text(t) = msg.context("the stream failed before hello")?
                && let Ok(ServerFrame::Hello { .. }) = serde_json::from_str(t.as_str())
            {
                return Ok(socket);
            }
        }
        bail!("the stream closed before hello")
    })
    .await
    .context("the stream did not say hello in time")?
}

impl Sockets {
    /// Opens one connection per token, each as its member. With `notice`, a connection
    /// reports a [`Push`] the first time a `message.created` with that title arrives.
    pub async fn open(
        api: &ApiClient,
        tokens: &[&str],
        notice: Option<(Arc<str>, mpsc::UnboundedSender<Push>)>,
        opened: impl Fn(usize),
    ) -> anyhow::Result<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let closed_by_server = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(tokens.len());
        let mut connecting = futures_util::stream::iter(
            tokens
                .iter()
                .enumerate()
                .map(|(i, token)| async move { (i, open_one(api, token).await) }),
        )
        .buffer_unordered(OPEN_CONCURRENCY);
        let mut count = 0;
        while let Some((client, socket)) = connecting.next().await {
            let socket = socket.with_context(|| format!("connection {client}"))?;
            count += 1;
            opened(count);
            tasks.push(tokio::spawn(follow(
                client,
                socket,
                notice.clone(),
                stop_rx.clone(),
                closed_by_server.clone(),
            )));
        }
        Ok(Self {
            tasks,
            stop,
            closed_by_server,
        })
    }

    /// How many connections the server closed so far.
    pub fn closed_by_server(&self) -> usize {
        self.closed_by_server.load(Ordering::Relaxed)
    }

    /// Closes every connection and waits for their tasks (each bounded in time).
    pub async fn close(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn follow(
    client: usize,
    mut socket: Socket,
    mut notice: Option<(Arc<str>, mpsc::UnboundedSender<Push>)>,
    mut stop: watch::Receiver<bool>,
    closed_by_server: Arc<AtomicUsize>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                return;
            }
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let Some((title, pushes)) = &notice else { continue };
                    // Cheap test first: most frames are not the notice.
                    if !t.as_str().contains("\"message.created\"") {
                        continue;
                    }
                    if let Ok(ServerFrame::MessageCreated { title: got, .. }) =
                        serde_json::from_str(t.as_str())
                        && got.as_str() == &**title
                    {
                        let _ = pushes.send(Push { client, at: Instant::now() });
                        notice = None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    closed_by_server.fetch_add(1, Ordering::Relaxed);
                    // Wait for the stop signal so `close` still finds this task.
                    let _ = stop.changed().await;
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Forwards each client's first push to the gateway as it comes, then, at `deadline`,
/// the clients that never heard the notice (so each client starts exactly once).
/// Returns when each push arrived (`None`: never).
pub async fn forward_pushes(
    mut pushes: mpsc::UnboundedReceiver<Push>,
    clients: usize,
    deadline: Instant,
    gateway: mpsc::UnboundedSender<usize>,
) -> Vec<Option<Instant>> {
    let mut heard: Vec<Option<Instant>> = vec![None; clients];
    let mut count = 0;
    while count < clients {
        match tokio::time::timeout_at(deadline.into(), pushes.recv()).await {
            Ok(Some(push)) => {
                if push.client < clients && heard[push.client].is_none() {
                    heard[push.client] = Some(push.at);
                    count += 1;
                    let _ = gateway.send(push.client);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    for (client, at) in heard.iter().enumerate() {
        if at.is_none() {
            let _ = gateway.send(client);
        }
    }
    heard
}
