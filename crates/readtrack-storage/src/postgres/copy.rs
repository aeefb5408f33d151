//! Moving an embedded deployment to PostgreSQL: every table of the SQLite file, row for
//! row, ids and event sequence numbers kept, then a count per table to prove it.
//!
//! The copy is driven by the schemas, not by a list of tables: whatever tables the SQLite
//! file has (after its migrations ran) must exist in PostgreSQL with the same columns, so a
//! table added later is copied without touching this file, and a table PostgreSQL lacks
//! stops the copy before anything is written.

use std::path::Path;

use futures_util::TryStreamExt;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row};

use crate::Store;
use crate::sqlite::SqliteStorage;
use crate::{Result, StorageError};

/// Rows per `INSERT ... SELECT FROM UNNEST(...)` while copying.
const COPY_CHUNK: usize = 5_000;

/// A table's row count on both sides after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table.
    pub table: String,
    /// Rows in the SQLite file.
    pub source: i64,
    /// Rows in PostgreSQL.
    pub target: i64,
}

/// What a copy did, table by table.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    /// One entry per copied table, by name.
    pub tables: Vec<TableCount>,
}

impl CopyReport {
    /// Tables whose counts differ (empty after a good copy).
    pub fn mismatches(&self) -> Vec<&TableCount> {
        self.tables
            .iter()
            .filter(|t| t.source != t.target)
            .collect()
    }
}

/// The PostgreSQL type of a column, as far as the copy needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Int8,
    Int4,
    Int2,
    Bool,
    Float8,
    Text,
    Bytea,
}

impl ColumnType {
    fn of(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "bigint" => Self::Int8,
            "integer" => Self::Int4,
            "smallint" => Self::Int2,
            "boolean" => Self::Bool,
            "double precision" | "real" | "numeric" => Self::Float8,
            "text" | "character varying" => Self::Text,
            "bytea" => Self::Bytea,
            _ => return None,
        })
    }

    fn array(self) -> &'static str {
        match self {
            Self::Int8 => "int8[]",
            Self::Int4 => "int4[]",
            Self::Int2 => "int2[]",
            Self::Bool => "bool[]",
            Self::Float8 => "float8[]",
            Self::Text => "text[]",
            Self::Bytea => "bytea[]",
        }
    }
}

/// One column's values for a chunk, typed for binding as an array.
enum Values {
    Int8(Vec<Option<i64>>),
    Int4(Vec<Option<i32>>),
    Int2(Vec<Option<i16>>),
    Bool(Vec<Option<bool>>),
    Float8(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bytea(Vec<Option<Vec<u8>>>),
}

impl Values {
    fn new(t: ColumnType) -> Self {
        match t {
            ColumnType::Int8 => Self::Int8(Vec::new()),
            ColumnType::Int4 => Self::Int4(Vec::new()),
            ColumnType::Int2 => Self::Int2(Vec::new()),
            ColumnType::Bool => Self::Bool(Vec::new()),
            ColumnType::Float8 => Self::Float8(Vec::new()),
            ColumnType::Text => Self::Text(Vec::new()),
            ColumnType::Bytea => Self::Bytea(Vec::new()),
        }
    }

    fn push(&mut self, row: &SqliteRow, i: usize, table: &str) -> Result<()> {
        let out_of_range = || StorageError::Corrupt(format!("a value in {table} does not fit"));
        match self {
            Self::Int8(v) => v.push(row.try_get(i)?),
            Self::Int4(v) => v.push(
                row.try_get::<Option<i64>, _>(i)?
                    .map(i32::try_from)
                    .transpose()
                    .map_err(|_| out_of_range())?,
            ),
            Self::Int2(v) => v.push(
                row.try_get::<Option<i64>, _>(i)?
                    .map(i16::try_from)
                    .transpose()
                    .map_err(|_| out_of_range())?,
            ),
            // SQLite keeps flags as 0 and 1.
            Self::Bool(v) => v.push(row.try_get::<Option<i64>, _>(i)?.map(|n| n != 0)),
            Self::Float8(v) => v.push(row.try_get(i)?),
            Self::Text(v) => v.push(row.try_get(i)?),
            Self::Bytea(v) => v.push(row.try_get(i)?),
        }
        Ok(())
    }

    fn bind<'q>(self, q: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        match self {
            Self::Int8(v) => q.bind(v),
            Self::Int4(v) => q.bind(v),
            Self::Int2(v) => q.bind(v),
            Self::Bool(v) => q.bind(v),
            Self::Float8(v) => q.bind(v),
            Self::Text(v) => q.bind(v),
            Self::Bytea(v) => q.bind(v),
        }
    }
}

/// A column that exists on both sides.
struct Column {
    name: String,
    ty: ColumnType,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies everything in the embedded database in `data_dir` into `target`, which must
/// be empty (freshly migrated), in one PostgreSQL transaction. Identity sequences are
/// moved past the copied ids. Returns the row counts of both sides per table; the caller
/// decides what a mismatch means (the command fails).
pub async fn copy_from_sqlite(data_dir: &Path, target: &Store) -> Result<CopyReport> {
    let file = data_dir.join("readtrack.db");
    if !file.is_file() {
        return Err(StorageError::NotFound("readtrack.db in the data directory"));
    }
    // Opening migrates the file, so both sides have the newest schema.
    let source = SqliteStorage::open(data_dir).await?;
    let result = copy(&source, target).await;
    source.close().await;
    result
}

async fn copy(source: &Store, target: &Store) -> Result<CopyReport> {
    let (Some(source), Some(target)) = (source.sqlite_pool(), target.pg_pool()) else {
        return Err(StorageError::Corrupt(
            "copying needs an SQLite source and a PostgreSQL target".into(),
        ));
    };
    // One read transaction: a consistent snapshot of the file even if something writes.
    let mut src = source.begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *src)
    .await?;

    // Check every table before writing anything.
    let mut plan: Vec<(String, Vec<Column>)> = Vec::with_capacity(tables.len());
    for table in &tables {
        let source_cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(&mut *src)
            .await?;
        let target_cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(target)
        .await?;
        if target_cols.is_empty() {
            return Err(StorageError::Corrupt(format!(
                "table {table} exists in SQLite but not in PostgreSQL; is this binary older than the data?"
            )));
        }
        let mut columns = Vec::with_capacity(source_cols.len());
        for name in source_cols {
            let Some((_, data_type)) = target_cols.iter().find(|(c, _)| *c == name) else {
                return Err(StorageError::Corrupt(format!(
                    "column {table}.{name} exists in SQLite but not in PostgreSQL"
                )));
            };
            let ty = ColumnType::of(data_type).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "column {table}.{name} has a type the copy does not know: {data_type}"
                ))
            })?;
            columns.push(Column { name, ty });
        }
        let sql = format!("SELECT COUNT(*) FROM {}", quoted(table));
        let existing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(target)
            .await?;
        if existing > 0 {
            return Err(StorageError::Conflict(format!(
                "the PostgreSQL database is not empty (table {table} has {existing} rows); migrate into a fresh database"
            )));
        }
        plan.push((table.clone(), columns));
    }

    let mut dst = target.begin().await?;
    for (table, columns) in &plan {
        let names: Vec<String> = columns.iter().map(|c| quoted(&c.name)).collect();
        let select = format!("SELECT {} FROM {}", names.join(", "), quoted(table));
        let unnest: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", i + 1, c.ty.array()))
            .collect();
        let insert = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
            quoted(table),
            names.join(", "),
            unnest.join(", ")
        );
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *src);
        let mut chunk: Vec<Values> = columns.iter().map(|c| Values::new(c.ty)).collect();
        let mut in_chunk = 0;
        loop {
            let row = rows.try_next().await?;
            if let Some(row) = &row {
                for (i, values) in chunk.iter_mut().enumerate() {
                    values.push(row, i, table)?;
                }
                in_chunk += 1;
            }
            if in_chunk > 0 && (in_chunk == COPY_CHUNK || row.is_none()) {
                let full = std::mem::replace(
                    &mut chunk,
                    columns.iter().map(|c| Values::new(c.ty)).collect(),
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
                for values in full {
                    q = values.bind(q);
                }
                q.execute(&mut *dst).await?;
                in_chunk = 0;
            }
            if row.is_none() {
                break;
            }
        }
    }
    // New rows continue after the copied ids.
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *dst)
    .await?;
    for (table, column) in identities {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
            c = quoted(&column),
            t = quoted(&table)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(quoted(&table))
            .bind(&column)
            .execute(&mut *dst)
            .await?;
    }
    dst.commit().await?;

    let mut report = CopyReport::default();
    for (table, _) in &plan {
        let sql = format!("SELECT COUNT(*) FROM {}", quoted(table));
        let source_count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_one(&mut *src)
            .await?;
        let target_count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(target)
            .await?;
        report.tables.push(TableCount {
            table: table.clone(),
            source: source_count,
            target: target_count,
        });
    }
    src.commit().await?;
    Ok(report)
}
