//! readtrack's application services: the operations behind every endpoint.
//!
//! Architecture invariant: services know the domain, the storage trait, the bus trait and
//! the clock; they know nothing of HTTP or JSON. State is an [`App`] value passed in,
//! never a global, so tests build as many as they like.

pub mod audience;
pub mod auth;
pub mod board;
pub mod clock;
pub mod demo;
pub mod directory;
pub mod error;
pub mod idempotency;
pub mod invitations;
pub mod mail;
pub mod messages;
pub mod oidc;
pub mod org;
pub mod privacy;
pub mod ratelimit;
pub mod realtime;
pub mod receipts;
pub mod rights;
pub mod scheduler;
pub mod scim;
pub mod second_factor;
pub mod streams;
pub mod tasks;
pub mod timeline;
pub mod webhooks;
pub mod writer;

use std::sync::Arc;

use jiff::SignedDuration;
use readtrack_bus::EventBus;
use readtrack_storage::Storage;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::Caller;
pub use error::{Result, ServiceError};

/// Opening a store: the binary composes the server from one, and the HTTP layer's test
/// servers do the same through here, never depending on storage themselves.
pub mod backends {
    pub use readtrack_storage::Storage;
    pub use readtrack_storage::postgres::{
        PgConfig, PostgresStorage, ScratchDatabase, with_database,
    };
    pub use readtrack_storage::sqlite::SqliteStorage;
}

/// The records the service hands to its callers (pages, filters, notices, receipts …):
/// the HTTP layer reads them from here and never depends on storage itself.
pub mod records {
    pub use readtrack_storage::{
        AuditRecord, BoardCursor, BoardRow, IdempotencyClaim, InboxFilter, InboxItem, MemberFilter,
        MessageRecord, OrgRecord, Page, ReceiptRecord, StateFilter, SurveyRecord, TaskRecord,
        TokenKind, WebhookRecord, WriteOutcome,
    };
}

use crate::clock::{AdjustableClock, Clock};
use crate::realtime::Hub;
use crate::writer::{ReceiptWriter, WriterConfig};

/// Service-level settings.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// How long a login lasts.
    pub session_ttl: SignedDuration,
    /// Receipt writer tuning.
    pub writer: WriterConfig,
    /// Renders webhook bodies; without it no webhooks are delivered.
    pub webhook_renderer: Option<webhooks::EventRenderer>,
    /// Run the reminder scheduler on this node.
    pub scheduler: bool,
    /// Rate limits.
    pub limits: ratelimit::Limits,
    /// The one-time code first-run setup asks for (`serve --setup-code`); `None` makes a
    /// random one at start, which the server prints on its console ([`App::setup_code`]).
    pub setup_code: Option<String>,
    /// Email over SMTP (`serve --smtp-url`) and the renderer that writes emails out;
    /// without both no email is sent.
    pub mail: Option<(mail::MailConfig, mail::MailRenderer)>,
    /// Sign-in through an OpenID Connect provider (`serve --oidc-issuer`); off without.
    pub oidc: Option<oidc::OidcConfig>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            session_ttl: SignedDuration::from_hours(24 * 30),
            writer: WriterConfig::default(),
            webhook_renderer: None,
            scheduler: true,
            limits: ratelimit::Limits::default(),
            setup_code: None,
            mail: None,
            oidc: None,
        }
    }
}

/// Everything the operations need, cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    storage: Arc<dyn Storage>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    dev_clock: Option<Arc<AdjustableClock>>,
    config: AppConfig,
    writer: ReceiptWriter,
    hub: Arc<Hub>,
    tokens: auth::TokenCache,
    orgs: org::OrgCache,
    shutdown: watch::Sender<bool>,
    wake_scheduler: tokio::sync::Notify,
    limiters: ratelimit::RateLimiters,
    /// This node's open streams, ended when their credentials are revoked.
    streams: Arc<streams::OpenStreams>,
    /// The identity provider's client, when sign-in through one is configured.
    oidc: Option<oidc::OidcClient>,
}

/// The background tasks an [`App`] runs; await [`Background::stop`] on shutdown.
pub struct Background {
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    /// Signals every task to finish its in-flight work and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for (name, task) in self.tasks {
            match task.await {
                Ok(()) => tracing::debug!(task = name, "background task finished"),
                Err(e) => tracing::error!(task = name, error = %e, "background task failed"),
            }
        }
    }
}

impl App {
    /// Builds the services and starts their background tasks (receipt writer, realtime
    /// hub). `dev_clock` is the same clock as `clock` when time may be moved by hand.
    pub async fn start(
        storage: Arc<dyn Storage>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        dev_clock: Option<Arc<AdjustableClock>>,
        mut config: AppConfig,
    ) -> Result<(Self, Background)> {
        if config.setup_code.is_none() {
            config.setup_code = Some(org::new_setup_code());
        }
        let limiters = ratelimit::RateLimiters::new(config.limits);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shutdown_rx = ShutdownSignal(shutdown_rx);
        let (writer, writer_task) = ReceiptWriter::start(
            storage.clone(),
            bus.clone(),
            clock.clone(),
            config.writer,
            shutdown_rx.clone(),
        );
        let hub = Hub::new(storage.clone());
        let bus_rx = bus
            .subscribe()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let hub_task = tokio::spawn(hub.clone().run(bus_rx, shutdown_rx));
        let app = Self {
            inner: Arc::new(AppInner {
                storage,
                bus,
                clock,
                dev_clock,
                writer,
                hub,
                tokens: auth::TokenCache::new(),
                orgs: org::OrgCache::new(),
                shutdown: shutdown.clone(),
                wake_scheduler: tokio::sync::Notify::new(),
                limiters,
                streams: Arc::default(),
                oidc: config.oidc.clone().map(oidc::OidcClient::new),
                config,
            }),
        };
        let mut tasks = vec![("receipt writer", writer_task), ("realtime hub", hub_task)];
        if app.inner.config.scheduler {
            tasks.push(("scheduler", tokio::spawn(app.clone().run_scheduler())));
        }
        tasks.push(("retention", tokio::spawn(app.clone().run_retention_loop())));
        tasks.push((
            "stream credentials",
            tokio::spawn(app.clone().run_stream_credential_checks()),
        ));
        if let Some(render) = app.inner.config.webhook_renderer.clone() {
            tasks.push(("webhooks", tokio::spawn(app.clone().run_webhooks(render))));
        }
        if let Some((config, render)) = app.inner.config.mail.clone() {
            tasks.push(("email", tokio::spawn(app.clone().run_mail(config, render))));
        }
        Ok((app, Background { shutdown, tasks }))
    }

    /// Whether the database answers (for readiness checks).
    pub async fn database_ready(&self) -> Result<()> {
        self.inner.storage.ping().await?;
        Ok(())
    }

    /// Whether the event bus reaches the other nodes (always, in one process).
    pub async fn bus_ready(&self) -> std::result::Result<(), readtrack_bus::BusError> {
        self.inner.bus.ready().await
    }

    /// Storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The movable clock, when the server runs with `--dev-clock`.
    pub fn dev_clock(&self) -> Option<&Arc<AdjustableClock>> {
        self.inner.dev_clock.as_ref()
    }

    /// The realtime hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// The receipt writer.
    pub fn writer(&self) -> &ReceiptWriter {
        &self.inner.writer
    }

    /// The rate limiters.
    pub fn limiters(&self) -> &ratelimit::RateLimiters {
        &self.inner.limiters
    }

    /// The app's shutdown, for a loop or a connection to stop on.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal(self.inner.shutdown.subscribe())
    }
}

/// The app's shutdown as one background loop or connection sees it.
///
/// A loop that first runs after shutdown began (a slow start on a busy machine) must
/// still see it: a plain `watch` receiver made after the signal waits for a change that
/// never comes, and kept `readtrack serve` from ever exiting on SIGTERM.
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Resolves once the app is shutting down; at once if it already is.
    pub async fn signalled(&mut self) {
        // An error means the app is gone, which is a shutdown too.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}
