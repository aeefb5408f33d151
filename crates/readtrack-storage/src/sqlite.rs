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

/// What a backup or a restore holds: every table's rows, and the file's size.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// (table, rows), by name.
    pub tables: Vec<(String, i64)>,
    /// The schema version (the newest migration applied).
    pub schema_version: i64,
    /// Bytes of the database file.
    pub bytes: u64,
}

/// The database file of a data directory.
pub fn database_file(dir: &Path) -> std::path::PathBuf {
    dir.join("readtrack.db")
}

/// Copies the embedded database of `dir` to `to` as it is at one instant, while a server
/// may keep writing (`VACUUM INTO` reads one snapshot of the WAL database; committed
/// receipts are in it, later ones are not, nothing is half-written), then checks the
/// copy. Refuses to overwrite an existing file.
pub async fn backup(dir: &Path, to: &Path) -> Result<FileReport> {
    let source = database_file(dir);
    if !source.is_file() {
        return Err(StorageError::NotFound("readtrack.db in the data directory"));
    }
    if to.exists() {
        return Err(StorageError::Conflict(format!(
            "{} exists; a backup never overwrites a file",
            to.display()
        )));
    }
    let pool = read_only(&source).await?;
    let target = to
        .to_str()
        .ok_or_else(|| StorageError::Conflict(format!("{} is not a UTF-8 path", to.display())))?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&pool)
        .await;
    pool.close().await;
    copied?;
    check_file(to).await
}

/// Puts a backup made by [`backup`] in place as the embedded database of `dir`, after
/// checking it: its integrity, and that its schema is one this build can run (the same
/// or older: the server moves it forward at start). Refuses a directory that already
/// holds a database.
pub async fn restore(from: &Path, dir: &Path) -> Result<FileReport> {
    let target = database_file(dir);
    if target.exists() {
        return Err(StorageError::Conflict(format!(
            "{} exists; move it away first (restore never overwrites a database)",
            target.display()
        )));
    }
    let report = check_file(from).await?;
    let newest = sqlx::migrate!("./migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    if report.schema_version > newest {
        return Err(StorageError::Conflict(format!(
            "the backup's schema is version {}, newer than this build's {newest}: restore it with the readtrack that made it",
            report.schema_version
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| StorageError::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
    // Copied beside the target and renamed: a crash mid-copy leaves no half database
    // where the server would open it.
    let partial = dir.join("readtrack.db.restoring");
    std::fs::copy(from, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|_| std::fs::rename(&partial, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            StorageError::Corrupt(format!("cannot write {}: {e}", target.display()))
        })?;
    Ok(report)
}

/// One read-only connection to a database file (a server may be writing it).
async fn read_only(path: &Path) -> Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Opens a database file read-only and checks it: `PRAGMA integrity_check`, the schema
/// version, and every table's rows.
pub async fn check_file(path: &Path) -> Result<FileReport> {
    let pool = read_only(path).await?;
    let report = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await?;
        if integrity != "ok" {
            return Err(StorageError::Corrupt(format!(
                "{} fails its integrity check: {integrity}",
                path.display()
            )));
        }
        let schema_version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_err(|_| {
                    StorageError::Corrupt(format!("{} is not a readtrack database", path.display()))
                })?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&pool)
        .await?;
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let quoted = name.replace('"', "\"\"");
            let sql = format!("SELECT COUNT(*) FROM \"{quoted}\"");
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await?;
            tables.push((name, rows));
        }
        Ok(FileReport {
            tables,
            schema_version: schema_version.unwrap_or(0),
            bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        })
    }
    .await;
    pool.close().await;
    report
}
