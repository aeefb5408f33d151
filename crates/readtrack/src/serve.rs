//! `readtrack serve`: configuration (flags > environment > file > defaults), logging,
//! storage, the bus, the demo, and graceful shutdown.
//!
//! One node by default: an embedded SQLite file and an in-process bus. With
//! `--database postgres://…` and `--nats nats://…` any number of identical, stateless
//! nodes share one PostgreSQL database and one NATS server behind a load balancer.

use std::net::SocketAddr;
use std::path::PathBuf;
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
use serde::{Deserialize, Serialize};

/// Flags of `readtrack serve`. Each setting is also read from `READTRACK_<NAME>` in the
/// environment and `<name>` in the `--config` file ([`Config`]).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory of the embedded database [default: ./readtrack-data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL database instead of the embedded one (`postgres://user:pass@host/db`);
    /// every node of a deployment names the same one.
    #[arg(long)]
    database: Option<String>,
    /// Connections this node keeps to PostgreSQL at most [default: 16].
    #[arg(long)]
    database_max_connections: Option<u32>,
    /// A NATS server for realtime events across nodes (`nats://host:4222`); without it
    /// events stay inside this process.
    #[arg(long)]
    nats: Option<String>,
    /// Subject prefix on NATS, so deployments can share a server [default: readtrack].
    #[arg(long)]
    nats_prefix: Option<String>,
    /// A TOML configuration file (see readtrack.example.toml).
    #[arg(long, env = "READTRACK_CONFIG")]
    config: Option<PathBuf>,
    /// Seed a demo organisation on an empty data directory and simulate its readers.
    #[arg(long)]
    demo: bool,
    /// Allow moving the server's clock with POST /api/v1/dev/clock (loopback only).
    #[arg(long)]
    dev_clock: bool,
    /// Start the movable clock at this instant (RFC 3339, such as 2026-12-01T02:00:00Z)
    /// instead of the system time, before anything runs; implies --dev-clock.
    #[arg(long, value_name = "TIME")]
    dev_clock_at: Option<String>,
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long)]
    log_format: Option<String>,
    /// Largest JSON request body in bytes [default: 1048576].
    #[arg(long)]
    json_body_limit: Option<usize>,
    /// Largest CSV import body in bytes [default: 33554432].
    #[arg(long)]
    import_body_limit: Option<usize>,
    /// Sign-in attempts per account, as `N/SECONDS` [default: 10/300].
    #[arg(long, value_name = "N/SECONDS")]
    login_limit: Option<String>,
    /// Sign-in attempts per client address, as `N/SECONDS` [default: 50/300].
    #[arg(long, value_name = "N/SECONDS")]
    login_address_limit: Option<String>,
    /// Notices sent per token, as `N/SECONDS` [default: 300/60].
    #[arg(long, value_name = "N/SECONDS")]
    send_limit: Option<String>,
    /// Receipt requests (HTTP or WebSocket batches) per token, as `N/SECONDS`
    /// [default: 600/60]; relay tokens are exempt.
    #[arg(long, value_name = "N/SECONDS")]
    receipt_limit: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
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
    /// Export traces over OTLP/HTTP to this collector, as `http://collector:4318`
    /// (`/v1/traces` is added unless the URL names a path) [default: off].
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// The code first-run setup asks for, for automated installs; without it the server
    /// makes a new one at each start until it is set up and prints it on its console.
    #[arg(long, value_name = "CODE")]
    setup_code: Option<String>,
    /// Send email through this SMTP server: `smtp://host:25` (STARTTLS when offered;
    /// `?tls=required` insists) or `smtps://user:pass@host:465` [default: no email].
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,
    /// The sender of emails, as `readtrack <noreply@example.com>`.
    #[arg(long, value_name = "ADDRESS")]
    mail_from: Option<String>,
    /// The address people open readtrack at, for the links in emails
    /// (`https://readtrack.example.com`).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Offer sign-in through this OpenID Connect provider (its issuer URL, e.g.
    /// `https://login.example.com/realms/staff`); the redirect URI to register there is
    /// `{public_url}/auth/oidc/callback` [default: off].
    #[arg(long, value_name = "URL")]
    oidc_issuer: Option<String>,
    /// This server's client id at the identity provider.
    #[arg(long, value_name = "ID")]
    oidc_client_id: Option<String>,
    /// This server's client secret at the identity provider (better given in the
    /// environment or the config file than on the command line).
    #[arg(long, value_name = "SECRET")]
    oidc_client_secret: Option<String>,
    /// Print the address actually bound (useful with port 0) as `listening on ADDR`.
    #[arg(long, hide = true)]
    print_addr: bool,
}

/// Every setting of `readtrack serve`, one field each, layered by figment: the defaults,
/// then the `--config` TOML file, then `READTRACK_*` environment variables, then flags.
/// A value of the wrong kind fails at start with one line naming the key and where it
/// came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    listen: SocketAddr,
    data: PathBuf,
    database: Option<String>,
    database_max_connections: u32,
    nats: Option<String>,
    nats_prefix: String,
    demo: bool,
    dev_clock: bool,
    dev_clock_at: Option<String>,
    log_format: String,
    json_body_limit: usize,
    import_body_limit: usize,
    login_limit: String,
    login_address_limit: String,
    send_limit: String,
    receipt_limit: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(deserialize_with = "list_or_commas")]
    trusted_proxies: Vec<String>,
    otlp_endpoint: Option<String>,
    setup_code: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        let server = ServerConfig::default();
        let limits = Limits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("readtrack-data"),
            database: None,
            database_max_connections: PgConfig::default().max_connections,
            nats: None,
            nats_prefix: "readtrack".into(),
            demo: false,
            dev_clock: false,
            dev_clock_at: None,
            log_format: "pretty".into(),
            json_body_limit: server.json_body_limit,
            import_body_limit: server.import_body_limit,
            login_limit: limits.login_per_account.to_string(),
            login_address_limit: limits.login_per_address.to_string(),
            send_limit: limits.sends_per_token.to_string(),
            receipt_limit: limits.receipts_per_token.to_string(),
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            otlp_endpoint: None,
            setup_code: None,
            smtp_url: None,
            mail_from: None,
            public_url: None,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
        }
    }
}

/// The keys of [`Config`]: the only `READTRACK_*` variables read as settings (others,
/// such as `READTRACK_LOG`, mean something else).
const KEYS: &[&str] = &[
    "listen",
    "data",
    "database",
    "database_max_connections",
    "nats",
    "nats_prefix",
    "demo",
    "dev_clock",
    "dev_clock_at",
    "log_format",
    "json_body_limit",
    "import_body_limit",
    "login_limit",
    "login_address_limit",
    "send_limit",
    "receipt_limit",
    "tls_cert",
    "tls_key",
    "trusted_proxies",
    "otlp_endpoint",
    "setup_code",
    "smtp_url",
    "mail_from",
    "public_url",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
];

/// A list written as a list (TOML) or as one comma-separated string (environment).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(list) => list,
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// The flags given on the command line, as a figment provider named for them.
struct Flags(figment::value::Dict);

impl Flags {
    fn of(args: &ServeArgs) -> anyhow::Result<Self> {
        use figment::value::Value;
        let mut d = figment::value::Dict::new();
        let mut put = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                d.insert(key.to_string(), v);
            }
        };
        let text = |v: &Option<String>| v.clone().map(Value::from);
        let path = |v: &Option<PathBuf>| v.as_ref().map(|p| Value::from(p.display().to_string()));
        put("listen", args.listen.map(|a| Value::from(a.to_string())));
        put("data", path(&args.data));
        put("database", text(&args.database));
        put(
            "database_max_connections",
            args.database_max_connections.map(Value::from),
        );
        put("nats", text(&args.nats));
        put("nats_prefix", text(&args.nats_prefix));
        put("demo", args.demo.then_some(Value::from(true)));
        put("dev_clock", args.dev_clock.then_some(Value::from(true)));
        put("dev_clock_at", text(&args.dev_clock_at));
        put("log_format", text(&args.log_format));
        put(
            "json_body_limit",
            args.json_body_limit.map(|n| Value::from(n as u64)),
        );
        put(
            "import_body_limit",
            args.import_body_limit.map(|n| Value::from(n as u64)),
        );
        put("login_limit", text(&args.login_limit));
        put("login_address_limit", text(&args.login_address_limit));
        put("send_limit", text(&args.send_limit));
        put("receipt_limit", text(&args.receipt_limit));
        put("tls_cert", path(&args.tls_cert));
        put("tls_key", path(&args.tls_key));
        if !args.trusted_proxies.is_empty() {
            put(
                "trusted_proxies",
                Some(Value::from(
                    args.trusted_proxies
                        .iter()
                        .map(|s| Value::from(s.clone()))
                        .collect::<Vec<_>>(),
                )),
            );
        }
        put("otlp_endpoint", text(&args.otlp_endpoint));
        put("setup_code", text(&args.setup_code));
        put("smtp_url", text(&args.smtp_url));
        put("mail_from", text(&args.mail_from));
        put("public_url", text(&args.public_url));
        put("oidc_issuer", text(&args.oidc_issuer));
        put("oidc_client_id", text(&args.oidc_client_id));
        put("oidc_client_secret", text(&args.oidc_client_secret));
        Ok(Self(d))
    }
}

impl figment::Provider for Flags {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("command-line flags")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

/// The layers, lowest first: defaults, the file, the environment, the flags.
fn layers(args: &ServeArgs) -> anyhow::Result<figment::Figment> {
    use figment::providers::{Env, Format, Serialized, Toml};
    let mut f = figment::Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &args.config {
        if !path.is_file() {
            bail!("cannot read config file {}", path.display());
        }
        f = f.merge(Toml::file(path));
    }
    Ok(f.merge(Env::prefixed("READTRACK_").only(KEYS))
        .merge(Flags::of(args)?))
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
    /// Where traces go (the full OTLP/HTTP traces URL); none when off.
    otlp_traces: Option<String>,
    /// The preset setup code, if any (else the server makes one).
    setup_code: Option<String>,
    /// Email, when an SMTP server is given.
    mail: Option<readtrack_service::mail::MailConfig>,
    /// Sign-in through an identity provider, when an issuer is given.
    oidc: Option<readtrack_service::oidc::OidcConfig>,
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

/// Where a setting's value came from, for error messages: "command-line flags", "TOML
/// file …", "`READTRACK_` environment variable(s)" or the defaults.
fn source_of(layers: &figment::Figment, key: &str) -> String {
    layers
        .find_metadata(key)
        .map(|m| match &m.source {
            Some(source) => format!("{} {source}", m.name),
            None => m.name.to_string(),
        })
        .unwrap_or_else(|| "the defaults".into())
}

fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let layers = layers(args)?;
    // One line naming the key and where its value came from.
    let c: Config = layers.extract().map_err(|e| {
        let first = e.into_iter().next();
        anyhow::anyhow!(
            "configuration: {}",
            // Figment names keys within its profile ("default.json_body_limit").
            first.map_or_else(
                || "unreadable".to_string(),
                |e| e.to_string().replace("key \"default.", "key \"")
            )
        )
    })?;
    let named = |key: &str, flag: &str, e: String| {
        anyhow::anyhow!("{key} ({flag}, from {}): {e}", source_of(&layers, key))
    };
    let limit = |key: &str, flag: &str, raw: &str| {
        parse_limit(flag, raw).map_err(|e| named(key, flag, e.to_string()))
    };
    let limits = Limits {
        login_per_account: limit("login_limit", "--login-limit", &c.login_limit)?,
        login_per_address: limit(
            "login_address_limit",
            "--login-address-limit",
            &c.login_address_limit,
        )?,
        sends_per_token: limit("send_limit", "--send-limit", &c.send_limit)?,
        receipts_per_token: limit("receipt_limit", "--receipt-limit", &c.receipt_limit)?,
    };
    let tls = match (c.tls_cert.clone(), c.tls_key.clone()) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
    };
    let dev_clock_at = match &c.dev_clock_at {
        Some(raw) => Some(raw.parse::<jiff::Timestamp>().map_err(|e| {
            named(
                "dev_clock_at",
                "--dev-clock-at",
                format!(
                    "must be an RFC 3339 instant such as 2026-12-01T02:00:00Z, not {raw:?}: {e}"
                ),
            )
        })?),
        None => None,
    };
    let trusted_proxies = readtrack_server::client_addr::parse_trusted_proxies(&c.trusted_proxies)
        .map_err(|e| named("trusted_proxies", "--trusted-proxies", e))?;
    let otlp_traces = match &c.otlp_endpoint {
        Some(raw) => Some(
            crate::telemetry::traces_url(raw)
                .map_err(|e| named("otlp_endpoint", "--otlp-endpoint", e.to_string()))?,
        ),
        None => None,
    };
    let mail = match (&c.smtp_url, &c.mail_from, &c.public_url) {
        (None, _, _) => None,
        (Some(smtp_url), Some(from), Some(public_url)) => {
            let mail = readtrack_service::mail::MailConfig {
                smtp_url: smtp_url.clone(),
                from: from.clone(),
                public_url: public_url.clone(),
            };
            mail.check()
                .map_err(|e| named("smtp_url", "--smtp-url", e))?;
            Some(mail)
        }
        (Some(_), _, _) => {
            return Err(named(
                "smtp_url",
                "--smtp-url",
                "needs --mail-from (the sender) and --public-url (for the links in emails)".into(),
            ));
        }
    };
    let oidc = match (
        &c.oidc_issuer,
        &c.oidc_client_id,
        &c.oidc_client_secret,
        &c.public_url,
    ) {
        (None, _, _, _) => None,
        (Some(issuer), Some(client_id), Some(client_secret), Some(public_url)) => {
            for (key, flag, url) in [
                ("oidc_issuer", "--oidc-issuer", issuer),
                ("public_url", "--public-url", public_url),
            ] {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(named(
                        key,
                        flag,
                        format!("must be an http(s) URL, not {url:?}"),
                    ));
                }
            }
            Some(readtrack_service::oidc::OidcConfig {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                redirect_uri: format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
            })
        }
        (Some(_), None, _, _) => {
            return Err(named(
                "oidc_client_id",
                "--oidc-client-id",
                "is needed with --oidc-issuer".into(),
            ));
        }
        (Some(_), _, None, _) => {
            return Err(named(
                "oidc_client_secret",
                "--oidc-client-secret",
                "is needed with --oidc-issuer".into(),
            ));
        }
        (Some(_), _, _, None) => {
            return Err(named(
                "public_url",
                "--public-url",
                "is needed with --oidc-issuer (the redirect URI is {public_url}/auth/oidc/callback)".into(),
            ));
        }
    };
    let s = Settings {
        listen: c.listen,
        data: c.data,
        database: c.database,
        database_max_connections: c.database_max_connections,
        nats: c.nats,
        nats_prefix: c.nats_prefix,
        demo: c.demo,
        dev_clock: c.dev_clock || dev_clock_at.is_some(),
        dev_clock_at,
        log_format: c.log_format,
        json_body_limit: c.json_body_limit,
        import_body_limit: c.import_body_limit,
        limits,
        tls,
        trusted_proxies,
        otlp_traces,
        setup_code: c.setup_code,
        mail,
        oidc,
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
    if let Some(code) = &s.setup_code
        && code
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .count()
            < 8
    {
        return Err(named(
            "setup_code",
            "--setup-code",
            "must have at least 8 letters or digits, so that it cannot be guessed".into(),
        ));
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

/// Tells the operator, on the console only, how to claim a server that has no
/// organisation yet: whoever holds the code may create it and become its admin.
fn announce_setup_code(app: &App, scheme: &str, addr: SocketAddr, preset: bool) {
    let url = format!("{scheme}://{addr}/setup");
    if preset {
        println!(
            "\nreadtrack has no organisation yet: open {url} and enter the setup code given with --setup-code.\n"
        );
    } else {
        println!(
            "\nreadtrack has no organisation yet: open {url} and enter this one-time setup code:\n\n    {}\n\n(A new code is made at each start until the server is set up.)\n",
            app.setup_code()
        );
    }
    tracing::info!(%url, "waiting for first-run setup; the setup code is on the console");
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

/// The TLS server's first step with a connection: the same per-address cap and idle
/// time as the plain listener, before the TLS handshake.
#[derive(Clone)]
struct GuardedAcceptor(readtrack_server::connections::ConnectionGuard);

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for GuardedAcceptor {
    type Stream = readtrack_server::connections::GuardedStream;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.0.admit(stream, peer.ip()));
        std::future::ready(match admitted {
            Some(guarded) => Ok((guarded, service)),
            None => Err(std::io::Error::other(
                "too many connections from this address",
            )),
        })
    }
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
    let guard = GuardedAcceptor(readtrack_server::connection_guard(&state.config));
    let router = readtrack_server::app(state);
    axum_server::from_tcp(listener.into_std()?)
        .context("cannot serve TLS on the listener")?
        .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(guard))
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("server failed")
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let s = settings(&args)?;
    let telemetry = crate::telemetry::init(&s.log_format, s.otlp_traces.as_deref())?;
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
        setup_code: s.setup_code.clone(),
        mail: s
            .mail
            .clone()
            .map(|m| (m, readtrack_server::mail_renderer())),
        oidc: s.oidc.clone(),
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

    if !s.demo && !app.is_set_up().await.context("cannot read the database")? {
        announce_setup_code(&app, scheme, addr, s.setup_code.is_some());
    }
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
    telemetry.shutdown().await;
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

    /// One test, so that the environment it sets (process-wide) is read by nobody else.
    #[test]
    // The closure's type is figment's Jail API, `Result<(), figment::Error>`.
    #[allow(clippy::result_large_err)]
    fn settings_layer_defaults_file_environment_and_flags_and_name_a_bad_value_and_its_source() {
        figment::Jail::expect_with(|jail| {
            let file = jail.directory().join("readtrack.toml");
            let file_name = file.display().to_string();
            std::fs::write(
                &file,
                "login_limit = \"3/60\"\nreceipt_limit = \"5/10s\"\nnats_prefix = \"from-file\"\n",
            )
            .unwrap();
            let s = settings_of(&["--config", &file_name, "--receipt-limit", "7/1"]).unwrap();
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
            assert_eq!(s.nats_prefix, "from-file");
            // The environment sits between the file and the flags.
            jail.set_env("READTRACK_NATS_PREFIX", "from-env");
            jail.set_env("READTRACK_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
            let s = settings_of(&["--config", &file_name]).unwrap();
            assert_eq!(s.nats_prefix, "from-env");
            assert_eq!(s.trusted_proxies.len(), 2);
            let s = settings_of(&["--config", &file_name, "--nats-prefix", "from-flag"]).unwrap();
            assert_eq!(s.nats_prefix, "from-flag");
            // Other READTRACK_ variables (the log filter) are not settings.
            jail.set_env("READTRACK_LOG", "debug");
            assert!(settings_of(&[]).is_ok());

            for bad in ["10", "0/60", "10/0", "ten/60", "10/-1"] {
                let e = settings_of(&["--send-limit", bad])
                    .expect_err(bad)
                    .to_string();
                assert!(
                    e.contains("--send-limit") && e.contains("command-line flags"),
                    "{e}"
                );
            }
            // A bad value names its key and where it came from, in one line.
            std::fs::write(&file, "json_body_limit = \"lots\"\n").unwrap();
            let e = settings_of(&["--config", &file_name])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("key \"json_body_limit\"") && e.contains("readtrack.toml TOML file"),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
            std::fs::write(&file, "send_limit = \"ten\"\n").unwrap();
            let e = settings_of(&["--config", &file_name])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("send_limit") && e.contains("readtrack.toml"),
                "{e}"
            );
            std::fs::write(&file, "sned_limit = \"10/60\"\n").unwrap();
            let e = settings_of(&["--config", &file_name])
                .unwrap_err()
                .to_string();
            assert!(e.contains("sned_limit"), "a misspelt key is refused: {e}");
            std::fs::write(&file, "").unwrap();
            jail.set_env("READTRACK_DATABASE_MAX_CONNECTIONS", "many");
            let e = settings_of(&["--config", &file_name])
                .unwrap_err()
                .to_string();
            assert!(
                e.to_lowercase().contains("database_max_connections") && e.contains("environment"),
                "{e}"
            );
            jail.set_env("READTRACK_DATABASE_MAX_CONNECTIONS", "4");

            // Traces are off unless a collector is named; a bad one is refused at start.
            assert!(settings_of(&[]).unwrap().otlp_traces.is_none());
            jail.set_env("READTRACK_OTLP_ENDPOINT", "http://collector:4318");
            assert_eq!(
                settings_of(&[]).unwrap().otlp_traces.as_deref(),
                Some("http://collector:4318/v1/traces")
            );
            let e = settings_of(&["--otlp-endpoint", "collector:4318"])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("--otlp-endpoint") && e.contains("command-line flags"),
                "{e}"
            );

            // TLS needs a certificate and its key.
            assert!(settings_of(&["--tls-cert", "cert.pem"]).is_err());
            let s = settings_of(&["--tls-cert", "cert.pem", "--tls-key", "key.pem"]).unwrap();
            assert!(s.tls.is_some());
            assert!(settings_of(&[]).unwrap().tls.is_none());

            // Email needs its sender and the public address for links; off by default.
            assert!(settings_of(&[]).unwrap().mail.is_none());
            let e = settings_of(&["--smtp-url", "smtp://127.0.0.1:25"])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("--mail-from") && e.contains("--public-url"),
                "{e}"
            );
            jail.set_env("READTRACK_MAIL_FROM", "readtrack <noreply@example.com>");
            jail.set_env("READTRACK_PUBLIC_URL", "https://rt.example.com");
            let s = settings_of(&["--smtp-url", "smtp://127.0.0.1:25"]).unwrap();
            assert_eq!(s.mail.unwrap().public_url, "https://rt.example.com");
            let e = settings_of(&["--smtp-url", "gopher://x"])
                .unwrap_err()
                .to_string();
            assert!(e.contains("smtp_url"), "{e}");

            // Identity provider sign-in is off by default; an issuer alone is refused,
            // naming the missing key.
            assert!(settings_of(&[]).unwrap().oidc.is_none());
            let e = settings_of(&["--oidc-issuer", "https://id.example.com"])
                .unwrap_err()
                .to_string();
            assert!(e.contains("oidc_client_id"), "{e}");
            jail.set_env("READTRACK_OIDC_CLIENT_ID", "readtrack");
            let e = settings_of(&["--oidc-issuer", "https://id.example.com"])
                .unwrap_err()
                .to_string();
            assert!(e.contains("oidc_client_secret"), "{e}");
            jail.set_env("READTRACK_OIDC_CLIENT_SECRET", "s3cret");
            let s = settings_of(&["--oidc-issuer", "https://id.example.com"]).unwrap();
            let oidc = s.oidc.unwrap();
            assert_eq!(
                oidc.redirect_uri,
                "https://rt.example.com/auth/oidc/callback"
            );
            assert!(!format!("{oidc:?}").contains("s3cret"));
            Ok(())
        });
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
