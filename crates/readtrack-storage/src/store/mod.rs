//! The store: every query and every write, written once for both backends over the
//! primitives in [`crate::db`]. Where the dialects really differ (bulk parameters,
//! row locks, advisory locks) the statement asks [`Dialect`] for its variant.
//!
//! SQLite has one writer, so reading a row and writing it back is safe there. On
//! PostgreSQL several nodes write at once, so every read-modify-write locks what it reads
//! (`FOR UPDATE`), always in the same order (receipt rows by key, then counter rows by
//! notice, then the organisation row last) so concurrent transactions queue instead of
//! deadlocking; a transaction that still loses a race is run again ([`Pools::retrying`]).

mod directory;
mod events;
mod idempotency;
mod messages;
mod orgs;
mod outbound;
mod privacy;
mod provisioning;
mod receipts;
mod schedule;
mod tasks;
mod webhooks;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use readtrack_domain::ids::{DepartmentId, MemberId, MessageId, OrgId};
use readtrack_domain::member::{Member, Role};

use crate::db::{Dialect, Pools, Row, q};
use crate::{Result, StorageError};

/// The facts of a notice the receipt path needs, cached because notices never change.
pub(crate) use readtrack_domain::receipt_batch::NoticeFacts as Facts;

/// Everything readtrack keeps, in SQLite ([`crate::sqlite::SqliteStorage`]) or
/// PostgreSQL ([`crate::postgres::PostgresStorage`]).
pub struct Store {
    pub(crate) db: Pools,
    /// Message facts by id; bounded by clearing when it grows past `FACTS_CACHE_MAX`.
    /// A std mutex: it is never held across an await.
    facts: Mutex<HashMap<MessageId, Arc<Facts>>>,
}

const FACTS_CACHE_MAX: usize = 10_000;

impl Store {
    pub(crate) fn new(db: Pools) -> Self {
        Self {
            db,
            facts: Mutex::new(HashMap::new()),
        }
    }

    /// Closes the pools, waiting for in-flight statements.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// The SQLite writer pool, for tests and tools that inspect rows directly.
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.db {
            Pools::Sqlite { writer, .. } => Some(writer),
            Pools::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for tests and tools that inspect rows directly.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.db {
            Pools::Postgres(pool) => Some(pool),
            Pools::Sqlite { .. } => None,
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn cached_facts(&self, id: MessageId) -> Option<Arc<Facts>> {
        self.facts.lock().ok()?.get(&id).cloned()
    }

    fn cache_facts(&self, id: MessageId, facts: Arc<Facts>) {
        if let Ok(mut map) = self.facts.lock() {
            if map.len() >= FACTS_CACHE_MAX {
                map.clear();
            }
            map.insert(id, facts);
        }
    }
}

/// A row-lock clause on PostgreSQL (`FOR UPDATE …`); nothing on SQLite, whose one writer
/// already holds the database.
pub(crate) fn lock(d: Dialect, clause: &'static str) -> &'static str {
    match d {
        Dialect::Sqlite => "",
        Dialect::Postgres => clause,
    }
}

/// A parenthesised list of the integers in the JSON array bound at this placeholder,
/// for `x IN …`: one statement whatever the number of ids.
pub(crate) fn json_ints(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "(SELECT value FROM json_each(?))",
        Dialect::Postgres => "(SELECT value::bigint FROM json_array_elements_text(?::json))",
    }
}

/// A JSON array of ids, to bind where [`json_ints`] reads it.
pub(crate) fn json_id_list(ids: impl IntoIterator<Item = i64>) -> String {
    format!("[{}]", crate::sql::join_ids(ids))
}

/// Most bytes of bound values one PostgreSQL batch statement sends. sqlx 0.9 leaves
/// Nagle's algorithm on (upstream issue #4335): a message larger than the socket's initial
/// send buffer (16 KiB on Linux) leaves in two writes, and the second waits for the
/// server's delayed acknowledgement, 40 ms on loopback. SQLite runs in process: one chunk.
pub(crate) const BIND_BUDGET: usize = 12 * 1024;

/// Consecutive ranges of `0..n` whose rows, sized by `row_bytes`, stay within
/// [`BIND_BUDGET`] on PostgreSQL (a row larger than the budget gets a range of its own);
/// on SQLite at most `sqlite_rows` rows each.
pub(crate) fn chunks(
    d: Dialect,
    n: usize,
    sqlite_rows: usize,
    mut row_bytes: impl FnMut(usize) -> usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if d == Dialect::Sqlite {
        let mut start = 0;
        while start < n {
            out.push(start..(start + sqlite_rows).min(n));
            start += sqlite_rows;
        }
        return out;
    }
    let (mut start, mut bytes) = (0, 0);
    for i in 0..n {
        let b = row_bytes(i);
        if i > start && bytes + b > BIND_BUDGET {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// Plans the rest of a PostgreSQL transaction (`on`) as nested loops over the batch, or
/// (`off`) as the planner likes. Batch statements join a few hundred keys to a table of
/// millions of rows; the planner cannot see the batch's size and, with the table still
/// small enough, prefers hashing the whole table over a few hundred index lookups:
/// measured 55 ms against 7 ms for 1,000 keys on 100,000 receipts. SQLite: nothing.
pub(crate) async fn plan_for_keys(tx: &mut crate::db::Tx, on: bool) -> Result<()> {
    if tx.dialect() == Dialect::Postgres {
        let allow = if on { "off" } else { "on" };
        q("SELECT set_config('enable_hashjoin', ?1, true), set_config('enable_mergejoin', ?1, true)")
            .bind(allow)
            .execute(tx)
            .await?;
    }
    Ok(())
}

pub(crate) const MEMBER_COLUMNS: &str = "id, org_id, name, email, department_id, manager_id, backup_id, role, time_zone, policy_ack_version, active, phone, external_id";

pub(crate) fn member_from_row(row: &Row) -> Result<Member> {
    let role: String = row.get("role")?;
    Ok(Member {
        id: MemberId(row.get("id")?),
        org_id: OrgId(row.get("org_id")?),
        name: row.get("name")?,
        email: row.get("email")?,
        department_id: DepartmentId(row.get("department_id")?),
        manager_id: row.get::<Option<i64>>("manager_id")?.map(MemberId),
        backup_id: row.get::<Option<i64>>("backup_id")?.map(MemberId),
        role: Role::parse("role", &role)
            .map_err(|_| StorageError::Corrupt(format!("role {role:?}")))?,
        time_zone: row.get("time_zone")?,
        policy_ack_version: row.get("policy_ack_version")?,
        active: row.get("active")?,
        phone: row.get("phone")?,
        external_id: row.get("external_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_within_the_budget() {
        assert!(chunks(Dialect::Postgres, 0, 400, |_| 12).is_empty());
        let ranges = chunks(Dialect::Postgres, 5_000, 400, |_| 24);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(5_000));
        assert!(ranges.windows(2).all(|p| p[0].end == p[1].start));
        assert!(ranges.iter().all(|r| r.len() * 24 <= BIND_BUDGET));
        let giant = chunks(Dialect::Postgres, 3, 400, |i| {
            if i == 1 { 3 * BIND_BUDGET } else { 10 }
        });
        assert_eq!(giant, vec![0..1, 1..2, 2..3], "an oversized row goes alone");
        assert_eq!(
            chunks(Dialect::Sqlite, 900, 400, |_| 0),
            vec![0..400, 400..800, 800..900]
        );
    }
}
