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
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long, env = "READTRACK_LOG_FORMAT")]
    log_format: Option<String>,
    /// Largest JSON request body in bytes [default: 1048576].
    #[arg(long, env = "READTRACK_JSON_BODY_LIMIT")]
    json_body_limit: Option<usize>,
    /// Largest CSV import body in bytes [default: 33554432].
    #[arg(long, env = "READTRACK_IMPORT_BODY_LIMIT")]
    import_body_limit: Option<usize>,
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
    log_format: Option<String>,
    json_body_limit: Option<usize>,
    import_body_limit: Option<usize>,
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
    log_format: String,
    json_body_limit: usize,
    import_body_limit: usize,
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
        dev_clock: args.dev_clock || file.dev_clock.unwrap_or(false),
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests and writes");
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let s = settings(&args)?;
    init_tracing(&s.log_format);
    let storage = open_storage(&s).await?;
    let bus = open_bus(&s).await?;
    let (clock, dev_clock): (Arc<dyn Clock>, Option<Arc<AdjustableClock>>) = if s.dev_clock {
        let c = Arc::new(AdjustableClock::new());
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock::new()), None)
    };
    let config = AppConfig {
        webhook_renderer: Some(readtrack_server::webhook_renderer()),
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
    if args.print_addr {
        println!("listening on {addr}");
    }
    let database = match &s.database {
        Some(url) => redacted(url),
        None => s.data.display().to_string(),
    };
    tracing::info!(%addr, %database, bus = bus_name, "readtrack is listening");

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
            ..ServerConfig::default()
        }),
        metrics: readtrack_server::metrics_handle(),
    };
    readtrack_server::run(listener, state, shutdown_signal())
        .await
        .context("server failed")?;
    background.stop().await;
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
