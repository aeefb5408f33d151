//! `GET /api/v1/stream`: the realtime WebSocket.
//!
//! The connection registers with the hub *before* replaying the backlog after `since`
//! from storage, then skips live frames it already replayed: nothing committed after
//! the client's `since` can fall between the two.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use readtrack_domain::ids::Seq;
use readtrack_protocol::ErrorBody;
use readtrack_protocol::frames::ServerFrame;
use readtrack_service::{App, Caller};
use serde::Deserialize;
use serde_json::Value;

use crate::api::receipts::{batch_inputs, results};
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{
    ApiQuery, TokenSource, csrf_matches, require_token_scope, same_origin, token_with_source,
};
use crate::state::ServerState;

/// Largest frame a client may send.
pub const MAX_CLIENT_FRAME: usize = 1024 * 1024;
/// Events replayed per storage query while catching up.
const BACKLOG_PAGE: u32 = 1000;

/// Stream parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume: every frame with a sequence number above this, then live ones.
    pub since: Option<i64>,
    /// The bearer token, for clients that cannot set headers (browsers).
    pub token: Option<String>,
    /// The page's CSRF token: required when the session cookie authenticates the stream.
    pub csrf: Option<String>,
}

/// Opens the realtime stream (WebSocket). Frames are JSON text: `message.created`,
/// `receipt.updated`, `reminder`, `escalation`, `task.created` (each with `seq`), then
/// `hello` once the backlog after `since` is replayed. Clients may send
/// `{"type": "receipts", "receipts": [...]}` and get `receipts.result`.
#[utoipa::path(get, path = "/api/v1/stream", tag = "realtime", security(("bearer" = [])), params(StreamQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn stream(
    State(s): State<ServerState>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    mut parts: Parts,
) -> ApiResult<Response> {
    // A token the client names (the header, else `?token=`) comes before the cookie.
    let (token, source) = match token_with_source(&parts) {
        Some((t, TokenSource::Bearer)) => Some((t, TokenSource::Bearer)),
        cookie => q.token.clone().map(|t| (t, TokenSource::Bearer)).or(cookie),
    }
    .ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer <token>` or `?token=`",
        )
    })?;
    // A browser attaches the session cookie to a WebSocket handshake that any site starts:
    // the stream takes the cookie only from this server's own pages, which know the CSRF
    // token, so another site cannot read frames or write receipts as the victim.
    if source == TokenSource::Cookie
        && !(same_origin(&parts) && q.csrf.as_deref().is_some_and(|c| csrf_matches(&token, c)))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "csrf_failed",
            "a stream authenticated by the session cookie must come from this server's pages, with the page's CSRF token in `?csrf=`",
        ));
    }
    let caller = s.app.authenticate(&token).await?;
    require_token_scope(&caller, "/api/v1/stream")?;
    if q.since.is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "`since` must be 0 or a sequence number the server sent",
        ));
    }
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &s)
        .await
        .map_err(|e| {
            ApiError::bad_request(
                "websocket_required",
                format!("this endpoint speaks WebSocket only: {e}"),
            )
        })?;
    let app = s.app.clone();
    let write_timeout = Duration::from_secs(s.config.stream_write_timeout_secs.max(1));
    Ok(ws
        // Small buffers keep an idle connection cheap; frames are small.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| run(socket, app, caller, q.since, write_timeout)))
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(frame).unwrap_or_default(),
    ))
}

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// Gives up on a write the client has not let through within `limit`: a client that
/// stops reading would otherwise hold this task, its queue and its socket buffers for
/// as long as it keeps the TCP connection open.
async fn within<T, E>(limit: Duration, write: impl Future<Output = Result<T, E>>) -> bool {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(_)) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            metrics::counter!("readtrack_websocket_stalled_total").increment(1);
            tracing::debug!("dropping a WebSocket whose client stopped reading");
            false
        }
    }
}

/// Closes a stream whose storage read failed (1011): the client reconnects and resumes.
async fn unavailable(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    what: &str,
    error: readtrack_service::ServiceError,
) {
    tracing::warn!(error = ?error, "stream {what} could not be read");
    let _ = sink
        .send(close(1011, format!("could not read the {what}; reconnect")))
        .await;
}

async fn run(
    socket: WebSocket,
    app: App,
    caller: Caller,
    since: Option<i64>,
    write_timeout: Duration,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut sub = app.hub().subscribe(caller.id(), caller.org_id());
    let mut shutdown = app.shutdown_signal();
    let lease = app.open_stream(&caller);
    let org = caller.org_id();
    // A `since` the server cannot honour gets a reset, never a silent stream: beyond the
    // organisation's sequence every live frame would look already sent, and below what
    // retention kept the backlog would skip events without saying so.
    let mut since = since;
    if let Some(asked) = since {
        let head = match app.stream_head(org).await {
            Ok(s) => s.0,
            Err(e) => return unavailable(&mut sink, "sequence", e).await,
        };
        let kept_from = match app.stream_resumable_from(org).await {
            Ok(s) => s.0,
            Err(e) => return unavailable(&mut sink, "sequence", e).await,
        };
        let why = if asked > head {
            Some(format!(
                "since={asked} is beyond this server's last sequence number {head}: reload, then resume from {head}"
            ))
        } else if asked < kept_from {
            Some(format!(
                "events after since={asked} up to {kept_from} were removed by the retention policy: reload, then resume from {head}"
            ))
        } else {
            None
        };
        if let Some(reason) = why {
            let reset = ServerFrame::Reset {
                last_seq: head,
                reason,
            };
            if !within(write_timeout, sink.send(text(&reset))).await {
                return;
            }
            since = None;
        }
    }
    let mut last_sent = since.unwrap_or(0);

    // 1. The backlog after `since`, from storage.
    if let Some(since) = since {
        let mut cursor = Seq(since);
        loop {
            let page = match app.stream_backlog(&caller, cursor, BACKLOG_PAGE).await {
                Ok(p) => p,
                Err(e) => return unavailable(&mut sink, "backlog", e).await,
            };
            let n = page.len();
            for e in &page {
                if !within(write_timeout, sink.feed(text(&convert::frame(e)))).await {
                    return;
                }
                last_sent = e.seq.0;
                cursor = e.seq;
            }
            if !within(write_timeout, sink.flush()).await {
                return;
            }
            if n < BACKLOG_PAGE as usize {
                break;
            }
        }
    }
    let last_seq = app.stream_head(org).await.map(|s| s.0).unwrap_or(last_sent);
    if since.is_none() {
        // Live only: anything committed before now is the client's to fetch if it cares.
        last_sent = last_seq;
    }
    let hello = ServerFrame::Hello {
        member_id: caller.id().to_string(),
        last_seq,
    };
    if !within(write_timeout, sink.send(text(&hello))).await {
        return;
    }

    // 2. Live frames and client requests.
    let mut keepalive = tokio::time::interval(Duration::from_secs(25));
    keepalive.tick().await;
    loop {
        tokio::select! {
            event = sub.rx.recv() => {
                let Some(event) = event else {
                    let reason = format!("falling behind or server restarting; reconnect with since={last_sent}");
                    let _ = within(write_timeout, sink.send(close(1013, reason))).await;
                    return;
                };
                let mut batch = vec![event];
                while batch.len() < 512 {
                    match sub.rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                for e in batch {
                    if e.seq.0 <= last_sent {
                        continue;
                    }
                    if !within(write_timeout, sink.feed(text(&convert::frame(&e)))).await {
                        return;
                    }
                    last_sent = e.seq.0;
                }
                if !within(write_timeout, sink.flush()).await {
                    return;
                }
            }
            msg = incoming.next() => {
                let Some(Ok(msg)) = msg else { return };
                let reply = match msg {
                    Message::Text(t) => handle_client_frame(&app, &caller, t.as_str()).await,
                    Message::Binary(_) => Some(ServerFrame::Error {
                        code: "binary_not_supported".into(),
                        message: "send JSON text frames".into(),
                    }),
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply
                    && !within(write_timeout, sink.send(text(&reply))).await {
                        return;
                    }
            }
            _ = keepalive.tick() => {
                if !within(write_timeout, sink.send(Message::Ping(Default::default()))).await {
                    return;
                }
            }
            _ = lease.revoked() => {
                let _ = within(write_timeout, sink.send(close(1008, "the credentials of this stream were revoked; sign in again".into()))).await;
                return;
            }
            _ = shutdown.signalled() => {
                let _ = sink.send(close(1001, format!("server shutting down; reconnect with since={last_sent}"))).await;
                return;
            }
        }
    }
}

async fn handle_client_frame(app: &App, caller: &Caller, text: &str) -> Option<ServerFrame> {
    let error = |code: &str, message: String| {
        Some(ServerFrame::Error {
            code: code.into(),
            message,
        })
    };
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return error("invalid_json", "the frame is not valid JSON".into());
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => Some(ServerFrame::Pong),
        Some("receipts") => {
            let inputs = match batch_inputs(&value) {
                Ok(i) => i,
                Err(e) => return error(&e.code, e.message),
            };
            match app.submit_receipts_for(caller, inputs).await {
                Ok(items) => Some(ServerFrame::ReceiptsResult {
                    results: results(items),
                }),
                Err(e) => {
                    let e = ApiError::from(e);
                    error(&e.code, e.message)
                }
            }
        }
        Some(other) => error(
            "unknown_frame",
            format!("unknown frame type {other:?}; send \"receipts\" or \"ping\""),
        ),
        None => error("unknown_frame", "a frame needs a \"type\"".into()),
    }
}
