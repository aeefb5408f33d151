//! readtrack's HTTP server: the JSON API, the realtime WebSocket and operations
//! endpoints, on axum.
//!
//! Architecture invariant: handlers are thin. They parse wire types, call a service
//! operation on [`readtrack_service::App`], and convert the answer back; every rule lives
//! in the domain or service crates. Errors become HTTP answers in one place
//! ([`error::ApiError`]).

pub mod api;
pub mod convert;
pub mod error;
pub mod extract;
pub mod openapi;
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
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
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
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
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

/// The whole application as a router (tests call it directly with `oneshot`).
pub fn app(state: ServerState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let max_concurrent = state.config.max_concurrent_requests;
    let json_limit = state.config.json_body_limit;
    Router::new()
        .nest("/api/v1", api::routes(&state))
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
        .layer(middleware::from_fn(record_metrics))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// Serves the application on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish. The caller binds (tests bind port 0) and decides when to stop.
pub async fn run(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
