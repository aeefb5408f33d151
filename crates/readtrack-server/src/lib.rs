//! readtrack's HTTP server: the JSON API, the realtime WebSocket and operations
//! endpoints, on axum.
//!
//! Architecture invariant: handlers are thin. They parse wire types, call a service
//! operation on [`readtrack_service::App`], and convert the answer back; every rule lives
//! in the domain or service crates. Errors become HTTP answers in one place
//! ([`error::ApiError`]).

pub mod api;
pub mod client_addr;
pub mod connections;
pub mod convert;
pub mod csv_out;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod limits;
pub mod metrics_catalog;
pub mod openapi;
pub mod scim;
pub mod state;
pub mod web;

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use state::{ServerConfig, ServerState};

use crate::error::ApiError;

/// Name of the web session cookie (an HttpOnly copy of a session token).
pub const SESSION_COOKIE: &str = "rt_session";

/// The process-wide Prometheus recorder (metrics are global in the `metrics` crate, so
/// every server in a process, tests included, shares one).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                // Not durations of work: receipts per commit, and device clocks that are
                // minutes off.
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("readtrack_receipt_commit_batch_size".into()),
                        &[
                            1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("readtrack_device_clock_correction_seconds".into()),
                        &[0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 600.0, 3600.0],
                    )
                })
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            metrics_catalog::describe();
            // A recorder installed this way keeps every histogram sample until /metrics is
            // scraped; nobody scraping meant memory growing with every request. Upkeep
            // folds the samples into their buckets. A plain thread: this runs once per
            // process, outside any particular runtime.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// Renders an event as its webhook body: the same JSON as its stream frame, so one
/// parser serves both.
pub fn webhook_renderer() -> readtrack_service::webhooks::EventRenderer {
    readtrack_service::webhooks::EventRenderer(std::sync::Arc::new(|event| {
        serde_json::to_string(&convert::frame(event)).unwrap_or_default()
    }))
}

/// Writes emails out (the email loop's renderer), in the languages the pages speak.
pub fn mail_renderer() -> readtrack_service::mail::MailRenderer {
    web::mail::renderer()
}

/// The whole application as a router (tests call it directly with `oneshot`).
pub fn app(state: ServerState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let max_concurrent = state.config.max_concurrent_requests;
    let json_limit = state.config.json_body_limit;
    let hsts = state.config.hsts;
    let body_limits = limits::BodyLimits {
        deadline: Duration::from_secs(state.config.body_deadline_secs.max(1)),
        json: json_limit,
        import: state.config.import_body_limit,
    };
    let per_address_cap = state.config.max_requests_per_address;
    let in_flight = limits::PerAddress::default();
    let clock = state.app.clock().clone();
    let trusted_proxies = std::sync::Arc::new(state.config.trusted_proxies.clone());
    let router = Router::new()
        .nest("/api/v1", api::routes(&state))
        .nest("/scim/v2", scim::routes())
        .route("/healthz", get(api::ops::healthz))
        .route("/readyz", get(api::ops::readyz))
        .route("/metrics", get(api::ops::metrics))
        .merge(web::routes(&state))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::ApiDoc::openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(max_concurrent)
                .timeout(timeout),
        )
        // A body arrives in full before the request takes a server-wide slot, so slow
        // bodies hold none (408 past the deadline, 413 over the cap).
        .layer(middleware::from_fn(move |req, next| {
            limits::receive_body(body_limits, req, next)
        }))
        // Outside the server-wide limit: a request refused for its address never takes
        // one of the server's slots.
        .layer(middleware::from_fn(move |req, next| {
            limits::per_address(in_flight.clone(), per_address_cap, req, next)
        }))
        // Before every limit: who the client is, believing forwarded headers only from
        // a trusted proxy.
        .layer(middleware::from_fn(move |req, next| {
            let trusted = trusted_proxies.clone();
            async move { client_addr::settle(&trusted, hsts, req, next).await }
        }))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn(move |req, next| {
            server_time(clock.clone(), req, next)
        }))
        .layer(middleware::from_fn(error::log_server_errors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Server errors are logged once, with their cause, by `error::log_server_errors`.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_response)
                .on_failure(()),
        )
        // Outermost: every request gets an id (or keeps the one a proxy gave it), every
        // log line of it carries the id, and the answer says it, so a user's report and
        // the server's log meet.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    // Only over HTTPS: a browser told this over plain HTTP would ignore it anyway, and a
    // server behind a TLS-terminating proxy leaves the header to the proxy.
    let router = if hsts {
        router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    };
    router.with_state(state)
}

/// The header that names a request in the logs and in its answer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The header that tells clients the server's clock ([`server_time`]).
pub const SERVER_TIME_HEADER: &str = "x-server-time";

/// Stamps every answer with the server's clock as it answered (RFC 3339, milliseconds),
/// so that clients learn how far their device's clock is off and report reads on the
/// server's time line (the SDK, the CLI and the web app's outbox do).
async fn server_time(
    clock: std::sync::Arc<dyn readtrack_service::clock::Clock>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = next.run(req).await;
    let now = clock.now();
    let now = jiff::Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
    if let Ok(value) = HeaderValue::from_str(&now.to_string()) {
        response.headers_mut().insert(SERVER_TIME_HEADER, value);
    }
    response
}

/// The span of a request in the logs and, when traces are exported, in the trace: named
/// by its route (`GET /api/v1/messages/{id}`), a server span, and the child of the
/// caller's span when the request carries a W3C `traceparent`. Unlike tower-http's
/// default it never records the query string's secrets: the WebSocket takes its bearer
/// token as `?token=`, and a log line must not hand a session to whoever reads the logs.
fn request_span(req: &Request) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let name = match &route {
        Some(route) => format!("{} {route}", req.method()),
        None => req.method().to_string(),
    };
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        uri = %redacted_uri(req.uri()),
        version = ?req.version(),
        http.route = route.as_deref(),
        otel.name = name.as_str(),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(req.headers()))
    });
    // Without an exporter there is no OpenTelemetry layer and nothing to attach to.
    let _ = span.set_parent(parent);
    span
}

/// Writes the answer's status on the request's span (a server error marks it failed).
fn record_response(response: &Response, latency: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    tracing::debug!(
        status = status.as_u16(),
        latency_ms = latency.as_millis() as u64,
        "answered"
    );
}

/// Reads a W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A request target fit for logs: the value of every query parameter that may carry a
/// credential is replaced by `***`, and so is an invitation's or an email's link secret.
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let path = if uri.path().starts_with("/invite/") {
        "/invite/***"
    } else if uri.path().starts_with("/l/") {
        "/l/***"
    } else {
        uri.path()
    };
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_param(key) => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "access_token", "password", "secret", "csrf"]
        .iter()
        .any(|s| key.contains(s))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /docs",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /docs",
    )
}

async fn overloaded(err: tower::BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; retry",
            )
        }
        .into_response()
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("readtrack_http_shed_total").increment(1);
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is at capacity; retry in a moment",
            )
        }
        .into_response()
    } else {
        tracing::error!(error = %err, "unhandled middleware error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on the server",
        )
        .into_response()
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("readtrack_http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status).increment(1);
    metrics::histogram!("readtrack_http_request_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    res
}

/// The connection rule of `config` (per-address cap, idle time), for any listener.
pub fn connection_guard(config: &ServerConfig) -> connections::ConnectionGuard {
    connections::ConnectionGuard::new(
        config.max_connections_per_address,
        Duration::from_secs(config.idle_connection_secs.max(1)),
        config.trusted_proxies.clone(),
    )
}

/// Serves the application on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish. The caller binds (tests bind port 0) and decides when to stop.
pub async fn run(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = connections::GuardedListener::new(listener, connection_guard(&state.config));
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<connections::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_query_strings_never_reach_the_request_log() {
        let uri: axum::http::Uri = "/api/v1/stream?since=4&token=rt_secret&Access_Token=x"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/api/v1/stream?since=4&token=***&Access_Token=***"
        );
        let plain: axum::http::Uri = "/api/v1/messages?box=sent".parse().unwrap();
        assert_eq!(redacted_uri(&plain), "/api/v1/messages?box=sent");
        assert_eq!(redacted_uri(&"/healthz".parse().unwrap()), "/healthz");
        assert_eq!(
            redacted_uri(&"/invite/rt_s3cretInvitation?lang=en".parse().unwrap()),
            "/invite/***?lang=en"
        );
        assert_eq!(redacted_uri(&"/l/rt_s3cretLink".parse().unwrap()), "/l/***");
    }
}
