//! The few primitives the store is written against: open a read connection or a write
//! transaction, run a statement with bound values, read columns back. Each has one arm per
//! backend; everything above them is written once.
//!
//! Statements are written with `?` (or `?N`) placeholders and rewritten to `$N` for
//! PostgreSQL. Booleans are bound as `bool` and read as `bool`: SQLite keeps them as
//! integers, PostgreSQL as `BOOLEAN`, and the driver converts both ways.

use std::borrow::Cow;
use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{
    AssertSqlSafe, Decode, PgConnection, PgPool, Postgres, Row as _, Sqlite, SqliteConnection,
    SqlitePool, Type,
};

use crate::{Result, StorageError};

/// Which SQL dialect a statement must speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The connection pools of a backend.
#[derive(Debug, Clone)]
pub(crate) enum Pools {
    /// One writer connection (SQLite has one writer at a time) and a few readers.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Attempts of a write transaction that lost a deadlock or serialisation race.
const ATTEMPTS: u32 = 5;

impl Pools {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A connection for reading.
    pub(crate) async fn read(&self) -> Result<Conn> {
        Ok(match self {
            Pools::Sqlite { reader, .. } => Conn::Sqlite(reader.acquire().await?),
            Pools::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// A connection for a single write statement, committed on its own.
    pub(crate) async fn write_conn(&self) -> Result<Conn> {
        Ok(match self {
            Pools::Sqlite { writer, .. } => Conn::Sqlite(writer.acquire().await?),
            Pools::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// A write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock up front, so
    /// another process on the same file waits (busy timeout) instead of failing when a
    /// read transaction would have to upgrade.
    pub(crate) async fn write(&self) -> Result<Tx> {
        Ok(match self {
            Pools::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A read-only transaction: every statement in it sees the same snapshot.
    pub(crate) async fn snapshot(&self) -> Result<Tx> {
        Ok(match self {
            Pools::Sqlite { reader, .. } => Tx::Sqlite(reader.begin().await?),
            Pools::Postgres(pool) => {
                let mut tx = Tx::Postgres(pool.begin().await?);
                run(
                    &mut tx,
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                )
                .await?;
                tx
            }
        })
    }

    /// Runs a write transaction again when PostgreSQL aborted it to break a deadlock or a
    /// serialisation conflict with another node; it had no effect, so repeating is safe.
    /// SQLite has one writer and never needs it.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut n = 1;
        loop {
            match attempt().await {
                Err(StorageError::Database(sqlx::Error::Database(db)))
                    if n < ATTEMPTS && matches!(db.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    tracing::debug!(code = ?db.code(), attempt = n, "write transaction lost a race; retrying");
                    n += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Pools::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// A pooled connection for reading.
pub(crate) enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// An open write transaction; dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A connection a statement can run on.
pub(crate) enum Raw<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Raw<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Raw::Sqlite(_) => Dialect::Sqlite,
            Raw::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Anything statements run on: a read connection or a write transaction.
pub(crate) trait Exec: Send {
    fn raw(&mut self) -> Raw<'_>;
}

impl<E: Exec> Exec for &mut E {
    fn raw(&mut self) -> Raw<'_> {
        (**self).raw()
    }
}

impl Exec for Conn {
    fn raw(&mut self) -> Raw<'_> {
        match self {
            Conn::Sqlite(c) => Raw::Sqlite(c),
            Conn::Postgres(c) => Raw::Postgres(c),
        }
    }
}

impl Exec for Tx {
    fn raw(&mut self) -> Raw<'_> {
        match self {
            Tx::Sqlite(c) => Raw::Sqlite(c),
            Tx::Postgres(c) => Raw::Postgres(c),
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<&i64> for Arg {
    fn from(v: &i64) -> Self {
        Arg::Int(Some(*v))
    }
}
impl From<&Option<i64>> for Arg {
    fn from(v: &Option<i64>) -> Self {
        Arg::Int(*v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<&Vec<u8>> for Arg {
    fn from(v: &Vec<u8>) -> Self {
        Arg::Bytes(v.clone())
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

/// A statement with its bound values.
#[must_use]
pub(crate) struct Q {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A statement; bind its values with [`Q::bind`].
pub(crate) fn q(sql: impl Into<Cow<'static, str>>) -> Q {
    Q {
        sql: sql.into(),
        args: Vec::new(),
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
            };
        }
        query
    }};
}

impl Q {
    pub(crate) fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Binds several values in order.
    pub(crate) fn bind_all(mut self, values: impl IntoIterator<Item = Arg>) -> Self {
        self.args.extend(values);
        self
    }

    /// Appends SQL text (building a statement piece by piece).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.sql.to_mut().push('?');
        self.args.push(value.into());
        self
    }

    /// Runs the statement; answers how many rows it changed.
    pub(crate) async fn execute(self, on: &mut impl Exec) -> Result<u64> {
        Ok(match on.raw() {
            Raw::Sqlite(c) => bind_all!(sqlx::query(AssertSqlSafe(self.sql)), self.args)
                .execute(c)
                .await?
                .rows_affected(),
            Raw::Postgres(c) => {
                bind_all!(sqlx::query(AssertSqlSafe(numbered(&self.sql))), self.args)
                    .execute(c)
                    .await?
                    .rows_affected()
            }
        })
    }

    pub(crate) async fn fetch_all(self, on: &mut impl Exec) -> Result<Vec<Row>> {
        Ok(match on.raw() {
            Raw::Sqlite(c) => bind_all!(sqlx::query(AssertSqlSafe(self.sql)), self.args)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Raw::Postgres(c) => {
                bind_all!(sqlx::query(AssertSqlSafe(numbered(&self.sql))), self.args)
                    .fetch_all(c)
                    .await?
                    .into_iter()
                    .map(Row::Postgres)
                    .collect()
            }
        })
    }

    pub(crate) async fn fetch_optional(self, on: &mut impl Exec) -> Result<Option<Row>> {
        Ok(match on.raw() {
            Raw::Sqlite(c) => bind_all!(sqlx::query(AssertSqlSafe(self.sql)), self.args)
                .fetch_optional(c)
                .await?
                .map(Row::Sqlite),
            Raw::Postgres(c) => {
                bind_all!(sqlx::query(AssertSqlSafe(numbered(&self.sql))), self.args)
                    .fetch_optional(c)
                    .await?
                    .map(Row::Postgres)
            }
        })
    }

    pub(crate) async fn fetch_one(self, on: &mut impl Exec) -> Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or(StorageError::Database(sqlx::Error::RowNotFound))
    }

    /// Hands each row to `f` as it arrives, without holding them all.
    pub(crate) async fn for_each(
        self,
        on: &mut impl Exec,
        mut f: impl FnMut(Row) -> Result<()> + Send,
    ) -> Result<()> {
        use futures_util::TryStreamExt;
        match on.raw() {
            Raw::Sqlite(c) => {
                let mut rows = bind_all!(sqlx::query(AssertSqlSafe(self.sql)), self.args).fetch(c);
                while let Some(r) = rows.try_next().await? {
                    f(Row::Sqlite(r))?;
                }
            }
            Raw::Postgres(c) => {
                let mut rows =
                    bind_all!(sqlx::query(AssertSqlSafe(numbered(&self.sql))), self.args).fetch(c);
                while let Some(r) = rows.try_next().await? {
                    f(Row::Postgres(r))?;
                }
            }
        }
        Ok(())
    }

    /// The first column of the one row.
    pub(crate) async fn scalar<T: Value>(self, on: &mut impl Exec) -> Result<T> {
        self.fetch_one(on).await?.at(0)
    }

    /// The first column of the row, if there is one.
    pub(crate) async fn scalar_opt<T: Value>(self, on: &mut impl Exec) -> Result<Option<T>> {
        self.fetch_optional(on).await?.map(|r| r.at(0)).transpose()
    }

    /// The first column of every row.
    pub(crate) async fn scalars<T: Value>(self, on: &mut impl Exec) -> Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(|r| r.at(0)).collect()
    }

    /// The one row as a tuple.
    pub(crate) async fn one<T: FromRow>(self, on: &mut impl Exec) -> Result<T> {
        T::from_row(&self.fetch_one(on).await?)
    }

    /// The row as a tuple, if there is one.
    pub(crate) async fn optional<T: FromRow>(self, on: &mut impl Exec) -> Result<Option<T>> {
        self.fetch_optional(on)
            .await?
            .map(|r| T::from_row(&r))
            .transpose()
    }

    /// Every row as a tuple.
    pub(crate) async fn all<T: FromRow>(self, on: &mut impl Exec) -> Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(T::from_row).collect()
    }
}

/// Runs statements with no values to bind (savepoints and the like).
pub(crate) async fn run(on: &mut impl Exec, sql: &'static str) -> Result<()> {
    q(sql).execute(on).await?;
    Ok(())
}

/// `?` and `?N` placeholders as PostgreSQL's `$N`; quoted text is left alone.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 0;
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&next.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// A type both drivers read from a column.
pub(crate) trait Value:
    Sized
    + Send
    + for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
{
}

impl<T> Value for T where
    T: Sized
        + Send
        + for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
{
}

/// A row of either backend.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    /// The column named `name`.
    pub(crate) fn get<T: Value>(&self, name: &str) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(name)?,
            Row::Postgres(r) => r.try_get(name)?,
        })
    }

    /// The column at `index`.
    pub(crate) fn at<T: Value>(&self, index: usize) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(index)?,
            Row::Postgres(r) => r.try_get(index)?,
        })
    }
}

/// A tuple read from a row's columns in order.
pub(crate) trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Value),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self> {
                Ok(($(row.at::<$t>($i)?,)+))
            }
        }
    };
}

tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Maps a unique-constraint violation to [`StorageError::Conflict`].
pub(crate) fn conflict_on_unique(e: StorageError, what: &str) -> StorageError {
    if let StorageError::Database(sqlx::Error::Database(db)) = &e
        && db.is_unique_violation()
    {
        return StorageError::Conflict(what.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT '?' , a FROM t WHERE a = ? AND b = ?"),
            "SELECT '?' , a FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(numbered("x = ?2 OR y = ?1"), "x = $2 OR y = $1");
    }
}
