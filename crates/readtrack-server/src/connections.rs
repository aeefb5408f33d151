//! Connection-level guards of the listener (plain or TLS): at most so many open
//! connections per client address (the rest are closed as they arrive; a trusted proxy
//! is not capped), and a connection on which nothing was read or written for a while is
//! closed. Together with the body deadline of
//! [`crate::limits`], a client that opens connections and sends nothing, or sends a
//! byte now and then, holds a bounded share of the server for a bounded time.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::limits::{PerAddress, Slot};

/// The rule for admitting connections: at most `per_address` open from one address
/// (0: no cap), each closed after `idle` without a byte read or written. Shared by the
/// plain listener and the TLS server's acceptor.
#[derive(Debug, Clone)]
pub struct ConnectionGuard {
    open: PerAddress,
    per_address: usize,
    idle: Duration,
    /// Trusted reverse proxies carry many clients' connections: never capped.
    trusted_proxies: Arc<Vec<IpNet>>,
}

impl ConnectionGuard {
    /// A guard with no connection open yet.
    pub fn new(per_address: usize, idle: Duration, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            open: PerAddress::default(),
            per_address,
            idle,
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// The connection, guarded, or `None` when its address already has its share open
    /// (the caller drops it, closing it).
    pub fn admit(&self, stream: TcpStream, peer: IpAddr) -> Option<GuardedStream> {
        let uncapped =
            self.per_address == 0 || self.trusted_proxies.iter().any(|n| n.contains(&peer));
        let slot = if uncapped {
            None
        } else {
            let Some(slot) = self.open.take(peer, self.per_address) else {
                metrics::counter!("readtrack_http_connections_refused_total").increment(1);
                return None;
            };
            Some(slot)
        };
        let _ = stream.set_nodelay(true);
        Some(GuardedStream::new(stream, slot, self.idle))
    }
}

/// A TCP listener whose connections pass a [`ConnectionGuard`].
pub struct GuardedListener {
    inner: TcpListener,
    guard: ConnectionGuard,
}

impl GuardedListener {
    /// Guards `inner` with `guard`.
    pub fn new(inner: TcpListener, guard: ConnectionGuard) -> Self {
        Self { inner, guard }
    }
}

/// The peer's address, as the guarded listener accepted it (the request's
/// `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    wait_after_accept_error(e).await;
                    continue;
                }
            };
            if let Some(guarded) = self.guard.admit(stream, addr.ip()) {
                return (guarded, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accept error for one connection is skipped; any other (out of file descriptors)
/// is logged and waited out for a second, as axum's own listener does.
async fn wait_after_accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept a connection: {e}; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// An accepted connection: holds its address's slot while open and fails its pending
/// read or write once nothing has moved on it for the idle time.
pub struct GuardedStream {
    io: TcpStream,
    idle: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
    _slot: Option<Slot>,
}

impl GuardedStream {
    fn new(io: TcpStream, slot: Option<Slot>, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            idle,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            _slot: slot,
        }
    }

    /// Whether the connection has been idle too long, arming the timer to wake this task
    /// when it would be. The timer is moved on lazily, only when it fires early.
    fn idle_out(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_activity + self.idle;
            if Instant::now() >= due {
                metrics::counter!("readtrack_http_idle_connections_closed_total").increment(1);
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }

    /// What a read or write polled to: bytes moved count as activity (a flush does not:
    /// hyper flushes each time its task wakes, which would keep a silent connection
    /// alive); pending past the idle time is an error that closes the connection.
    fn outcome<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        moved: bool,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                if moved {
                    self.last_activity = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.idle_out(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let moved = buf.filled().len() > before;
        this.outcome(cx, polled, moved)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        let moved = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        this.outcome(cx, polled, moved)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        let moved = matches!(polled, Poll::Ready(Ok(n)) if n > 0);
        this.outcome(cx, polled, moved)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.outcome(cx, polled, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
