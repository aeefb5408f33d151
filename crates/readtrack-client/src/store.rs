//! The durable local store: one SQLite file per signed-in device holding the outbox,
//! the dead letters, the inbox and message cache, and the last stream sequence number.
//!
//! Durability: WAL with `synchronous=FULL`, so a commit that returned survives a killed
//! process and a power cut. Several processes may share the file (the command line
//! runs one per command); SQLite serialises their writes and `busy_timeout` makes them
//! wait their turn instead of failing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use readtrack_protocol::messages::{MessageDetail, MessageSummary};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use crate::outbox::ReceiptKind;

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, file locked for longer than the busy timeout, ...).
    #[error("local store: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The store's directory or file could not be prepared.
    #[error("local store {path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A row does not hold what this version expects (written by a newer version?).
    #[error("local store holds an unreadable row: {0}")]
    Corrupt(String),
}

type StoreResult<T> = std::result::Result<T, StoreError>;

/// The versioned schema, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_offline_store.sql")];

/// A receipt waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReceipt {
    /// Order of recording.
    pub seq: i64,
    /// Its idempotency key (a UUID v4).
    pub event_id: String,
    /// The notice.
    pub message_id: String,
    /// What happened.
    pub kind: ReceiptKind,
    /// When it happened, on the server's time line as the device knew it (RFC 3339).
    pub at: String,
    /// The chosen response of an acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// When it was stored, by the device's own clock (sent as `device_at`).
    pub created_at: String,
    /// Times it was sent without a usable answer coming back.
    pub attempts: i64,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A receipt the server refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Its idempotency key.
    pub event_id: String,
    /// The notice.
    pub message_id: String,
    /// What happened.
    pub kind: ReceiptKind,
    /// When it happened, by the device's clock (RFC 3339).
    pub at: String,
    /// The chosen response of an acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// When it was stored.
    pub created_at: String,
    /// Times it was sent.
    pub attempts: i64,
    /// When the server refused it.
    pub failed_at: String,
    /// The server's code (`time_in_future`, `not_recipient`, ...).
    pub code: String,
    /// The server's explanation.
    pub message: String,
}

/// What became of one sent receipt, as [`Store::settle`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Applied or duplicate: the server has it; forget it.
    Done,
    /// Refused for good: keep it with the reason.
    Rejected {
        /// The server's code.
        code: String,
        /// The server's explanation.
        message: String,
    },
}

/// The offline store. Cheap to clone (a shared connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

fn now_text() -> String {
    crate::clock::to_millis(Timestamp::now()).to_string()
}

impl Store {
    /// Opens (creating if needed, with its directory) the store file at `path` and
    /// brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.to_path_buf(),
                message: format!("cannot create the directory: {e}"),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A receipt counts as safe once recorded; that needs commits that survive a
            // power cut, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            // Other processes (another command) may hold the write lock for a moment.
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true);
        // One connection: writes are serialised by SQLite anyway, and one connection
        // cannot deadlock against itself inside this process.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        restrict_permissions(path);
        let store = Self {
            pool,
            path: path.to_path_buf(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connection, waiting for statements in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> StoreResult<()> {
        // IMMEDIATE takes the write lock up front, so two processes opening a new store
        // at once cannot both apply the same migration.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Corrupt(format!(
                "{} was written by a newer readtrack (schema {version}, this one knows {known}); upgrade readtrack",
                self.path.display()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            // PRAGMA takes no bound parameters; the value is our own index.
            sqlx::query(AssertSqlSafe(format!("PRAGMA user_version = {}", i + 1)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ----- outbox -----

    /// Stores receipts in one durable commit.
    pub async fn insert_receipts(&self, receipts: &[PendingReceipt]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for r in receipts {
            sqlx::query(
                "INSERT INTO outbox (event_id, message_id, kind, at, response, created_at, attempts) \
                 VALUES (?, ?, ?, ?, ?, ?, 0)",
            )
            .bind(&r.event_id)
            .bind(&r.message_id)
            .bind(r.kind.as_str())
            .bind(&r.at)
            .bind(&r.response)
            .bind(&r.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The oldest `limit` pending receipts, in recording order.
    pub async fn pending(&self, limit: u32) -> StoreResult<Vec<PendingReceipt>> {
        let rows = sqlx::query(
            "SELECT seq, event_id, message_id, kind, at, response, created_at, attempts, last_error \
             FROM outbox ORDER BY seq LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pending_from_row).collect()
    }

    /// How many receipts wait for the server.
    pub async fn pending_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// The furthest kind pending per notice (read beats delivered, ack beats read).
    pub async fn pending_kinds(&self) -> StoreResult<HashMap<String, ReceiptKind>> {
        let rows = sqlx::query("SELECT message_id, kind FROM outbox")
            .fetch_all(&self.pool)
            .await?;
        let mut out: HashMap<String, ReceiptKind> = HashMap::new();
        for row in rows {
            let id: String = row.try_get("message_id")?;
            let kind = parse_kind(&row.try_get::<String, _>("kind")?)?;
            let slot = out.entry(id).or_insert(kind);
            if kind > *slot {
                *slot = kind;
            }
        }
        Ok(out)
    }

    /// Counts an attempt on these receipts before they are sent, so a process killed
    /// mid-request still leaves a trace.
    pub async fn mark_attempt(&self, event_ids: &[String]) -> StoreResult<()> {
        let now = now_text();
        let mut tx = self.pool.begin().await?;
        for id in event_ids {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ? WHERE event_id = ?",
            )
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Notes why the last attempt on these receipts failed; they stay pending.
    pub async fn note_failure(&self, event_ids: &[String], error: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for id in event_ids {
            sqlx::query("UPDATE outbox SET last_error = ? WHERE event_id = ?")
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the server's answers in one commit: `Done` receipts leave the outbox,
    /// `Rejected` ones move to the dead letters with the reason.
    pub async fn settle(&self, outcomes: &[(String, Settlement)]) -> StoreResult<()> {
        let now = now_text();
        let mut tx = self.pool.begin().await?;
        for (event_id, outcome) in outcomes {
            if let Settlement::Rejected { code, message } = outcome {
                sqlx::query(
                    "INSERT OR REPLACE INTO dead_letters \
                     (event_id, message_id, kind, at, response, created_at, attempts, failed_at, code, message) \
                     SELECT event_id, message_id, kind, at, response, created_at, attempts, ?, ?, ? \
                     FROM outbox WHERE event_id = ?",
                )
                .bind(&now)
                .bind(code)
                .bind(message)
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM outbox WHERE event_id = ?")
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Dead letters, oldest first, at most `limit`.
    pub async fn dead_letters(&self, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT event_id, message_id, kind, at, response, created_at, attempts, failed_at, code, message \
             FROM dead_letters ORDER BY failed_at, event_id LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    event_id: row.try_get("event_id")?,
                    message_id: row.try_get("message_id")?,
                    kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
                    at: row.try_get("at")?,
                    response: row.try_get("response")?,
                    created_at: row.try_get("created_at")?,
                    attempts: row.try_get("attempts")?,
                    failed_at: row.try_get("failed_at")?,
                    code: row.try_get("code")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }

    /// How many dead letters there are.
    pub async fn dead_letter_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Forgets the dead letters (after a person has read them); returns how many.
    pub async fn clear_dead_letters(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM dead_letters")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ----- inbox and message cache -----

    /// Replaces the cached inbox listing with the server's latest.
    pub async fn replace_inbox(&self, items: &[MessageSummary]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM inbox_cache")
            .execute(&mut *tx)
            .await?;
        for (i, item) in items.iter().enumerate() {
            let json =
                serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("INSERT OR REPLACE INTO inbox_cache (message_id, position, summary) VALUES (?, ?, ?)")
                .bind(&item.id)
                .bind(i as i64)
                .bind(json)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('inbox_refreshed_at', ?)")
            .bind(now_text())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The cached inbox listing, in the server's order.
    pub async fn inbox(&self) -> StoreResult<Vec<MessageSummary>> {
        let rows = sqlx::query("SELECT summary FROM inbox_cache ORDER BY position")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let json: String = row.try_get("summary")?;
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("cached inbox item: {e}")))
            })
            .collect()
    }

    /// When the cached inbox was last refreshed from the server.
    pub async fn inbox_refreshed_at(&self) -> StoreResult<Option<String>> {
        self.meta("inbox_refreshed_at").await
    }

    /// Caches a notice in full.
    pub async fn put_message(&self, message: &MessageDetail) -> StoreResult<()> {
        let json =
            serde_json::to_string(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT OR REPLACE INTO message_cache (message_id, detail, fetched_at) VALUES (?, ?, ?)")
            .bind(&message.id)
            .bind(json)
            .bind(now_text())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A cached notice.
    pub async fn message(&self, id: &str) -> StoreResult<Option<MessageDetail>> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT detail FROM message_cache WHERE message_id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| StoreError::Corrupt(format!("cached notice {id}: {e}")))
        })
        .transpose()
    }

    /// Whether a notice is cached in full.
    pub async fn has_message(&self, id: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_cache WHERE message_id = ?")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    // ----- stream position and ownership -----

    /// The last realtime sequence number seen, to resume the stream after.
    pub async fn last_seq(&self) -> StoreResult<Option<i64>> {
        Ok(self.meta("last_seq").await?.and_then(|v| v.parse().ok()))
    }

    /// Remembers the last sequence number seen; never moves backwards.
    pub async fn set_last_seq(&self, seq: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('last_seq', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = ?1 WHERE CAST(meta.value AS INTEGER) < ?1",
        )
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The server clock's offset from this device's, as last learned (see
    /// [`crate::ServerClock`]).
    pub async fn clock_offset(&self) -> StoreResult<Option<jiff::SignedDuration>> {
        Ok(self
            .meta("clock_offset_ms")
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .map(jiff::SignedDuration::from_millis))
    }

    /// Remembers the server clock's offset, for receipts recorded offline on a later run.
    pub async fn set_clock_offset(&self, offset: jiff::SignedDuration) -> StoreResult<()> {
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_offset_ms', ?)")
            .bind(offset.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whose data this is (server and member), as set at sign-in.
    pub async fn owner(&self) -> StoreResult<Option<String>> {
        self.meta("owner").await
    }

    /// Makes the store `owner`'s: when it was someone else's, their cached notices and
    /// stream position go. Refuses while receipts of the previous owner still wait,
    /// since sending them as someone else would be wrong and dropping them would lose
    /// reads.
    pub async fn claim(&self, owner: &str) -> StoreResult<ClaimOutcome> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'owner'")
                .fetch_optional(&mut *tx)
                .await?;
        if current.as_deref() == Some(owner) {
            return Ok(ClaimOutcome::Same);
        }
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&mut *tx)
            .await?;
        if pending > 0 && current.is_some() {
            return Ok(ClaimOutcome::Refused {
                previous: current.unwrap_or_default(),
                pending: pending as u64,
            });
        }
        for sql in [
            "DELETE FROM inbox_cache",
            "DELETE FROM message_cache",
            "DELETE FROM meta WHERE key IN ('last_seq', 'inbox_refreshed_at', 'clock_offset_ms')",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('owner', ?)")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Claimed)
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// Answer of [`Store::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// It was already this owner's.
    Same,
    /// It is now this owner's (and the previous owner's caches are gone).
    Claimed,
    /// Receipts of the previous owner still wait to be sent.
    Refused {
        /// The previous owner.
        previous: String,
        /// Their pending receipts.
        pending: u64,
    },
}

fn parse_kind(raw: &str) -> StoreResult<ReceiptKind> {
    ReceiptKind::from_str(raw)
        .map_err(|_| StoreError::Corrupt(format!("unknown receipt kind {raw:?}")))
}

fn pending_from_row(row: &SqliteRow) -> StoreResult<PendingReceipt> {
    Ok(PendingReceipt {
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        message_id: row.try_get("message_id")?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        at: row.try_get("at")?,
        response: row.try_get("response")?,
        created_at: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

/// The store holds notice bodies: readable by its owner only.
#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot make the offline store private");
    }
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}
