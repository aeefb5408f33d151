//! The embedded backend: bundled SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer connection serialises every write (SQLite allows one writer at a time;
//! queueing in the pool is cheaper than retrying `SQLITE_BUSY`), while a small pool of
//! readers serves boards, inboxes and streams concurrently from the WAL.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::db::Pools;
use crate::{Result, StorageError, Store};

/// Page cache of the one writing connection, in KiB. It fills as the database grows
/// until it holds this much, then stays there: memory that grows with the data up to
/// this bound is this cache.
pub const WRITER_CACHE_KIB: u64 = 64 * 1024;
/// Page cache of each of the four reading connections, in KiB. Every connection has its
/// own cache, and a 30-minute soak showed five caches of 64 MiB each filling as the
/// database grew (the server's memory rose by 440 MiB); the operating system's page
/// cache holds the file for all of them, so readers keep little of their own.
pub const READER_CACHE_KIB: u64 = 8 * 1024;

/// Opens the embedded database.
pub struct SqliteStorage;

impl SqliteStorage {
    /// Opens (creating if needed) `readtrack.db` in `dir` and migrates it.
    pub async fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Corrupt(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        Self::open_file(&dir.join("readtrack.db")).await
    }

    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A receipt is confirmed only once committed, so commits must survive power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // The writer keeps 64 MiB of pages: the hot path reads back what it wrote.
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("temp_store", "memory")
            .statement_cache_capacity(256);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                options
                    .read_only(true)
                    .pragma("cache_size", format!("-{READER_CACHE_KIB}")),
            )
            .await?;
        Ok(Store::new(Pools::Sqlite { writer, reader }))
    }
}
