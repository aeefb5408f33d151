//! The scale-out backend: PostgreSQL, shared by any number of stateless nodes.
//!
//! The store's statements are the same as on SQLite; what differs is concurrency, which
//! [`crate::store`] describes. This module opens the pool and keeps the tools that only
//! make sense here: copying an embedded database over, and scratch databases for tests.

mod copy;
mod scratch;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use copy::{CopyReport, TableCount, copy_from_sqlite};
pub use scratch::{ScratchDatabase, with_database};

use crate::db::Pools;
use crate::{Result, Store};

/// How a node connects to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Connections this node keeps at most. Every node has its own pool, so the sum over
    /// nodes must stay below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Connects to a PostgreSQL database.
pub struct PostgresStorage;

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and migrates it.
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, PgConfig::default()).await
    }

    /// [`PostgresStorage::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, config: PgConfig) -> Result<Store> {
        let options: PgConnectOptions = url.parse()?;
        // A node cut off in the middle of a transaction holds its row locks (claimed
        // due steps among them) until the server gives up on it; bound that wait.
        let options = options.options([("idle_in_transaction_session_timeout", "60s")]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options.application_name("readtrack"))
            .await?;
        // sqlx takes an advisory lock while migrating, so nodes starting together
        // migrate once and the others wait.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store::new(Pools::Postgres(pool)))
    }
}
