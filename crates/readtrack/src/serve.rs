//! `readtrack serve`: configuration (flags > environment > file > defaults), logging,
//! storage, the bus, the demo, and graceful shutdown.
//!
//! One node by default: an embedded SQLite file and an in-process bus. With
//! `--database postgres://…` and `--nats nats://…` any number of identical, stateless
//! nodes share one PostgreSQL database and one NATS server behind a load balancer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use readtrack_bus::{EventBus, InProcessBus, NatsBus, NatsConfig};
use readtrack_server::{ServerConfig, ServerState};
use readtrack_service::clock::{AdjustableClock, Clock, SystemClock};
use readtrack_service::ratelimit::{Limit, Limits};
use readtrack_service::{App, AppConfig};
use readtrack_storage::Storage;
use readtrack_storage::postgres::{PgConfig, PostgresStorage};
use readtrack_storage::sqlite::SqliteStorage;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// Flags of `readtrack serve`; each also reads `READTRACK_*` from the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "READTRACK_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory of the embedded database [default: ./readtrack-data].
    #[arg(long, env = "READTRACK_DATA")]
    data: Option<PathBuf>,
    /// A PostgreSQL database instead of the embedded one (`postgres://user:pass@host/db`);
    /// every node of a deployment names the same one.
    #[arg(long, env = "READTRACK_DATABASE")]
    database: Option<String>,
    /// Connections this node keeps to PostgreSQL at most [default: 16].
    #[arg(long, env = "READTRACK_DATABASE_MAX_CONNECTIONS")]
    database_max_connections: Option<u32>,
    /// A NATS server for realtime events across nodes (`nats://host:4222`); without it
    /// events stay inside this process.
    #[arg(long, env = "READTRACK_NATS")]
    nats: Option<String>,
    /// Subject prefix on NATS, so deployments can share a server [default: readtrack].
    #[arg(long, env = "READTRACK_NATS_PREFIX")]
    nats_prefix: Option<String>,
    /// A TOML configuration file (see readtrack.example.toml).
    #[arg(long, env = "READTRACK_CONFIG")]
    config: Option<PathBuf>,
    /// Seed a demo organisation on an empty data directory and simulate its readers.
    #[arg(long, env = "READTRACK_DEMO")]
    demo: bool,
    /// Allow moving the server's clock with POST /api/v1/dev/clock (loopback only).
    #[arg(long, env = "READTRACK_DEV_CLOCK")]
    dev_clock: bool,
    /// Start the movable clock at this instant (RFC 3339, such as 2026-12-01T02:00:00Z)
    /// instead of the system time, before anything runs; implies --dev-clock.
    #[arg(long, env = "READTRACK_DEV_CLOCK_AT", value_name = "TIME")]
    dev_clock_at: Option<String>,
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long, env = "READTRACK_LOG_FORMAT")]
    log_format: Option<String>,
    /// Largest JSON request body in bytes [default: 1048576].
    #[arg(long, env = "READTRACK_JSON_BODY_LIMIT")]
    json_body_limit: Option<usize>,
    /// Largest CSV import body in bytes [default: 33554432].
    #[arg(long, env = "READTRACK_IMPORT_BODY_LIMIT")]
    import_body_limit: Option<usize>,
    /// Sign-in attempts per account, as `N/SECONDS` [default: 10/300].
    #[arg(long, env = "READTRACK_LOGIN_LIMIT", value_name = "N/SECONDS")]
    login_limit: Option<String>,
    /// Sign-in attempts per client address, as `N/SECONDS` [default: 50/300].
    #[arg(long, env = "READTRACK_LOGIN_ADDRESS_LIMIT", value_name = "N/SECONDS")]
    login_address_limit: Option<String>,
    /// Notices sent per token, as `N/SECONDS` [default: 300/60].
    #[arg(long, env = "READTRACK_SEND_LIMIT", value_name = "N/SECONDS")]
    send_limit: Option<String>,
    /// Receipt requests (HTTP or WebSocket batches) per token, as `N/SECONDS`
    /// [default: 600/60]; relay tokens are exempt.
    #[arg(long, env = "READTRACK_RECEIPT_LIMIT", value_name = "N/SECONDS")]
    receipt_limit: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "READTRACK_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "READTRACK_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed, as
    /// CIDR blocks or addresses (comma-separated or repeated); rate limits then count
    /// the real client. From anyone else those headers are ignored [default: none].
    #[arg(
        long,
        env = "READTRACK_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Print the address actually bound (useful with port 0) as `listening on ADDR`.
    #[arg(long, hide = true)]
    print_addr: bool,
}

/// The optional configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    database: Option<String>,
    database_max_connections: Option<u32>,
    nats: Option<String>,
    nats_prefix: Option<String>,
    demo: Option<bool>,
    dev_clock: Option<bool>,
    dev_clock_at: Option<String>,
    log_format: Option<String>,
    json_body_limit: Option<usize>,
    import_body_limit: Option<usize>,
    login_limit: Option<String>,
    login_address_limit: Option<String>,
    send_limit: Option<String>,
    receipt_limit: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    trusted_proxies: Option<Vec<String>>,
}

/// The merged configuration.
#[derive(Debug)]
struct Settings {
    listen: SocketAddr,
    data: PathBuf,
    /// A PostgreSQL URL; may hold a password, so it is shown only through [`redacted`].
    database: Option<String>,
    database_max_connections: u32,
    nats: Option<String>,
    nats_prefix: String,
    demo: bool,
    dev_clock: bool,
    /// Where the movable clock starts; the system time when `None`.
    dev_clock_at: Option<jiff::Timestamp>,
    log_format: String,
    json_body_limit: usize,
    import_body_limit: usize,
    limits: Limits,
    /// Certificate chain and key files; HTTPS when set.
    tls: Option<(PathBuf, PathBuf)>,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// Parses a rate limit written `N/SECONDS` (`10/300`: ten back to back, refilled over
/// five minutes); a trailing `s` is allowed.
fn parse_limit(name: &str, raw: &str) -> anyhow::Result<Limit> {
    let wrong = || {
        anyhow::anyhow!(
            "{name} must be N/SECONDS, such as 10/300 (ten per five minutes), not {raw:?}"
        )
    };
    let (n, secs) = raw.trim().split_once('/').ok_or_else(wrong)?;
    let n: u32 = n.trim().parse().map_err(|_| wrong())?;
    let secs: u64 = secs
        .trim()
        .trim_end_matches('s')
        .parse()
        .map_err(|_| wrong())?;
    if n == 0 || secs == 0 {
        bail!("{name} must allow at least 1 per at least 1 second, not {raw:?}");
    }
    Ok(Limit::per_secs(n, secs))
}

/// The limit from the flag (or environment), else the file, else the default.
fn limit(
    name: &str,
    flag: &Option<String>,
    file: Option<String>,
    default: Limit,
) -> anyhow::Result<Limit> {
    match flag.clone().or(file) {
        Some(raw) => parse_limit(name, &raw),
        None => Ok(default),
    }
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is invalid", path.display()))
}

fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(p) => load_file(p)?,
        None => FileConfig::default(),
    };
    let defaults = ServerConfig::default();
    let default_limits = Limits::default();
    let limits = Limits {
        login_per_account: limit(
            "--login-limit",
            &args.login_limit,
            file.login_limit,
            default_limits.login_per_account,
        )?,
        login_per_address: limit(
            "--login-address-limit",
            &args.login_address_limit,
            file.login_address_limit,
            default_limits.login_per_address,
        )?,
        sends_per_token: limit(
            "--send-limit",
            &args.send_limit,
            file.send_limit,
            default_limits.sends_per_token,
        )?,
        receipts_per_token: limit(
            "--receipt-limit",
            &args.receipt_limit,
            file.receipt_limit,
            default_limits.receipts_per_token,
        )?,
    };
    let tls = match (
        args.tls_cert.clone().or(file.tls_cert),
        args.tls_key.clone().or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
    };
    let dev_clock_at = match args.dev_clock_at.clone().or(file.dev_clock_at) {
        Some(raw) => Some(raw.parse::<jiff::Timestamp>().map_err(|e| {
            anyhow::anyhow!(
                "--dev-clock-at must be an RFC 3339 instant such as 2026-12-01T02:00:00Z, not {raw:?}: {e}"
            )
        })?),
        None => None,
    };
    let s = Settings {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        data: args
            .data
            .clone()
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from("readtrack-data")),
        database: args.database.clone().or(file.database),
        database_max_connections: args
            .database_max_connections
            .or(file.database_max_connections)
            .unwrap_or(PgConfig::default().max_connections),
        nats: args.nats.clone().or(file.nats),
        nats_prefix: args
            .nats_prefix
            .clone()
            .or(file.nats_prefix)
            .unwrap_or_else(|| "readtrack".into()),
        demo: args.demo || file.demo.unwrap_or(false),
        dev_clock: args.dev_clock || file.dev_clock.unwrap_or(false) || dev_clock_at.is_some(),
        dev_clock_at,
        log_format: args
            .log_format
            .clone()
            .or(file.log_format)
            .unwrap_or_else(|| "pretty".into()),
        json_body_limit: args
            .json_body_limit
            .or(file.json_body_limit)
            .unwrap_or(defaults.json_body_limit),
        import_body_limit: args
            .import_body_limit
            .or(file.import_body_limit)
            .unwrap_or(defaults.import_body_limit),
        limits,
        tls,
        trusted_proxies: readtrack_server::client_addr::parse_trusted_proxies(&if args
            .trusted_proxies
            .is_empty()
        {
            file.trusted_proxies.unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        })
        .map_err(anyhow::Error::msg)?,
    };
    if s.dev_clock && !s.listen.ip().is_loopback() {
        bail!(
            "--dev-clock lets anyone move the server's clock; it is refused unless listening on loopback (127.0.0.1 or ::1), not {}",
            s.listen
        );
    }
    if let Some(url) = &s.database
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!(
            "--database takes a PostgreSQL URL (postgres://user:pass@host:5432/db), not {}; the embedded database is chosen with --data",
            redacted(url)
        );
    }
    if s.database_max_connections == 0 {
        bail!("--database-max-connections must be at least 1");
    }
    if let Some(url) = &s.nats
        && !(url.starts_with("nats://") || url.starts_with("tls://"))
    {
        bail!(
            "--nats takes a NATS URL (nats://host:4222), not {}",
            redacted(url)
        );
    }
    if !matches!(s.log_format.as_str(), "pretty" | "json") {
        bail!(
            "log format must be `pretty` or `json`, not {:?}",
            s.log_format
        );
    }
    Ok(s)
}

/// A URL fit for logs and error messages: any password replaced by `***`.
pub(crate) fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}{hidden}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Opens the configured storage: PostgreSQL when a database URL is set, else the
/// embedded SQLite file.
async fn open_storage(s: &Settings) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match &s.database {
        Some(url) => {
            let config = PgConfig {
                max_connections: s.database_max_connections,
                ..PgConfig::default()
            };
            let storage = PostgresStorage::connect_with(url, config)
                .await
                .with_context(|| format!("cannot open the database {}", redacted(url)))?;
            Arc::new(storage)
        }
        None => {
            let storage = SqliteStorage::open(&s.data)
                .await
                .with_context(|| format!("cannot open the database in {}", s.data.display()))?;
            Arc::new(storage)
        }
    })
}

/// Connects the configured bus: NATS when a URL is set, else in-process.
async fn open_bus(s: &Settings) -> anyhow::Result<Arc<dyn EventBus>> {
    Ok(match &s.nats {
        Some(url) => {
            let config = NatsConfig {
                prefix: s.nats_prefix.clone(),
                ..NatsConfig::new(url.as_str())
            };
            Arc::new(
                NatsBus::connect(config)
                    .await
                    .context("cannot start the event bus")?,
            )
        }
        None => Arc::new(InProcessBus::new()),
    })
}

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_env("READTRACK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Starts listening for SIGINT and SIGTERM at once, so a signal that arrives any time
/// after the address is announced stops the server cleanly (a handler installed only when
/// the server first polls it would leave the process to die of the signal instead).
/// The returned future resolves at the first of them.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests and writes");
    })
}

/// Serves HTTPS (rustls with the ring provider installed by `main`) until SIGINT or
/// SIGTERM, then lets in-flight requests finish, as the plain server does.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: ServerState,
    tls: axum_server::tls_rustls::RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    let router = readtrack_server::app(state);
    axum_server::from_tcp_rustls(listener.into_std()?, tls)
        .context("cannot serve TLS on the listener")?
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("server failed")
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let s = settings(&args)?;
    init_tracing(&s.log_format);
    let storage = open_storage(&s).await?;
    let bus = open_bus(&s).await?;
    let (clock, dev_clock): (Arc<dyn Clock>, Option<Arc<AdjustableClock>>) = if s.dev_clock {
        let c = Arc::new(AdjustableClock::new());
        if let Some(at) = s.dev_clock_at {
            c.set(at);
        }
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock::new()), None)
    };
    let config = AppConfig {
        webhook_renderer: Some(readtrack_server::webhook_renderer()),
        limits: s.limits,
        ..AppConfig::default()
    };
    let bus_name = bus.name();
    let (app, background) = App::start(storage.clone(), bus, clock, dev_clock, config)
        .await
        .context("cannot start the services")?;

    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("cannot listen on {}", s.listen))?;
    let addr = listener.local_addr()?;
    // Read the certificate before announcing the address: a bad file stops the start.
    let tls = match &s.tls {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "cannot load the TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        None => None,
    };
    let shutdown = shutdown_signal()?;
    if args.print_addr {
        println!("listening on {addr}");
    }
    let database = match &s.database {
        Some(url) => redacted(url),
        None => s.data.display().to_string(),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, %database, bus = bus_name, scheme, "readtrack is listening");

    if s.demo {
        // The crowd subscribes before anything is sent, so it sees the opening notices.
        let crowd = app.clone().start_demo_crowd().await;
        match app.seed_demo().await {
            Ok(Some(demo)) => {
                println!(
                    "\nreadtrack demo: Harbour Line, {} people in a Hong Kong retail and logistics company.",
                    demo.members + 1
                );
                println!(
                    "Sign in at http://{addr}/ with password `{}`:",
                    readtrack_service::demo::DEMO_PASSWORD
                );
                for (role, email) in &demo.logins {
                    println!("  {role:<7} {email}");
                }
                println!();
                if let Err(e) = app.send_demo_notices().await {
                    tracing::warn!(error = %e, "demo notices were not sent");
                }
            }
            Ok(None) => {
                tracing::info!("demo: the data directory already has an organisation; not seeding")
            }
            Err(e) => bail!("cannot seed the demo: {e}"),
        }
        if let Err(e) = crowd {
            tracing::warn!(error = %e, "the demo crowd could not start");
        }
    }

    let state = ServerState {
        app: app.clone(),
        config: Arc::new(ServerConfig {
            json_body_limit: s.json_body_limit,
            import_body_limit: s.import_body_limit,
            dev_clock: s.dev_clock,
            hsts: tls.is_some(),
            trusted_proxies: s.trusted_proxies.clone(),
            ..ServerConfig::default()
        }),
        metrics: readtrack_server::metrics_handle(),
    };
    crate::memory::report_allocator_gauges();
    match tls {
        None => readtrack_server::run(listener, state, shutdown)
            .await
            .context("server failed")?,
        Some(tls) => serve_tls(listener, state, tls, shutdown).await?,
    }
    background.stop().await;
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn settings_of(args: &[&str]) -> anyhow::Result<Settings> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?;
        settings(&cli.serve)
    }

    #[test]
    fn rate_limits_come_from_flags_then_the_file_then_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("readtrack.toml");
        std::fs::write(&file, "login_limit = \"3/60\"\nreceipt_limit = \"5/10s\"\n").unwrap();
        let s =
            settings_of(&["--config", file.to_str().unwrap(), "--receipt-limit", "7/1"]).unwrap();
        assert_eq!(
            s.limits.login_per_account,
            Limit::per_secs(3, 60),
            "from the file"
        );
        assert_eq!(
            s.limits.receipts_per_token,
            Limit::per_secs(7, 1),
            "the flag wins"
        );
        assert_eq!(
            s.limits.sends_per_token,
            Limits::default().sends_per_token,
            "the default"
        );
        for bad in ["10", "0/60", "10/0", "ten/60", "10/-1"] {
            let e = settings_of(&["--send-limit", bad]).expect_err(bad);
            assert!(e.to_string().contains("--send-limit"), "{e}");
        }
    }

    #[test]
    fn tls_needs_a_certificate_and_its_key() {
        assert!(settings_of(&["--tls-cert", "cert.pem"]).is_err());
        let s = settings_of(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"]).unwrap();
        assert!(s.tls.is_some());
        assert!(settings_of(&[]).unwrap().tls.is_none());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redacted("postgres://rt:s3cret@db.internal:5432/readtrack"),
            "postgres://rt:***@db.internal:5432/readtrack"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/rt"),
            "postgres://postgres@127.0.0.1/rt"
        );
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            redacted("nats://user:p%40ss@nats:4222"),
            "nats://user:***@nats:4222"
        );
    }
}
