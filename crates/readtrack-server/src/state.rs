//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use readtrack_service::App;

/// Limits and switches of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest JSON body, in bytes (413 above).
    pub json_body_limit: usize,
    /// Largest CSV import body, in bytes.
    pub import_body_limit: usize,
    /// Whether `POST /api/v1/dev/clock` exists (loopback only).
    pub dev_clock: bool,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout_secs: u64,
    /// Most requests handled at once; beyond it the server answers 503 at once.
    pub max_concurrent_requests: usize,
    /// Most requests one client address may have in flight; beyond it 429 at once, so
    /// one address cannot take every slot (0: no cap). Behind a reverse proxy every
    /// request comes from the proxy's address: raise it or set 0.
    pub max_requests_per_address: usize,
    /// Seconds a request body may take to arrive in full; a slower body fails with 408.
    /// A body is received before its request takes one of the server's slots.
    pub body_deadline_secs: u64,
    /// Most connections one client address may hold open; further ones are closed as
    /// they arrive (0: no cap). Behind a reverse proxy raise it or set 0.
    pub max_connections_per_address: usize,
    /// Seconds a connection may go without a byte read or written before it is closed
    /// (WebSockets stay busy with their pings).
    pub idle_connection_secs: u64,
    /// Send `Strict-Transport-Security` (the server is reached over HTTPS only).
    pub hsts: bool,
    /// Seconds a WebSocket write may stay blocked (the client reads nothing) before the
    /// connection is dropped.
    pub stream_write_timeout_secs: u64,
    /// Proxies whose `X-Forwarded-For` / `-Proto` are believed (see
    /// [`crate::client_addr`]); from anyone else those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            json_body_limit: 1024 * 1024,
            import_body_limit: 32 * 1024 * 1024,
            dev_clock: false,
            request_timeout_secs: 30,
            max_concurrent_requests: 2048,
            max_requests_per_address: 256,
            body_deadline_secs: 20,
            max_connections_per_address: 512,
            idle_connection_secs: 75,
            hsts: false,
            stream_write_timeout_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The axum state: the services plus the HTTP layer's own bits.
#[derive(Clone)]
pub struct ServerState {
    /// The services.
    pub app: App,
    /// HTTP settings.
    pub config: Arc<ServerConfig>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}
