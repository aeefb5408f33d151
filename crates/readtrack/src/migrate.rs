//! `readtrack migrate`: moves an embedded deployment to PostgreSQL with nothing lost.
//!
//! Stop the server first. The command copies every table of the SQLite file (ids and
//! event sequence numbers kept, so clients resume where they were), refuses a database
//! that already holds data, and compares the row count of every table at the end; any
//! difference is an error.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use readtrack_storage::postgres::{PostgresStorage, copy_from_sqlite};

use crate::serve::redacted;

/// Flags of `readtrack migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The embedded deployment's data directory (holding readtrack.db).
    #[arg(long, default_value = "readtrack-data")]
    from: PathBuf,
    /// The PostgreSQL database to fill (`postgres://user:pass@host/db`); it must be empty.
    #[arg(long, env = "READTRACK_DATABASE")]
    to: String,
}

/// Copies, verifies and reports; fails when any table's counts differ.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        bail!(
            "--to takes a PostgreSQL URL (postgres://user:pass@host:5432/db), not {}",
            redacted(&args.to)
        );
    }
    if !args.from.join("readtrack.db").is_file() {
        bail!(
            "{} holds no readtrack.db; --from names the data directory of `readtrack serve --data`",
            args.from.display()
        );
    }
    let target = PostgresStorage::connect(&args.to)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(&args.to)))?;
    println!(
        "copying {} into {}",
        args.from.display(),
        redacted(&args.to)
    );
    let report = copy_from_sqlite(&args.from, &target)
        .await
        .context("the copy failed; nothing was committed")?;
    target.close().await;
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5);
    println!("{:<width$}  {:>10}  {:>10}", "table", "sqlite", "postgres");
    for t in &report.tables {
        let mark = if t.source == t.target {
            ""
        } else {
            "  MISMATCH"
        };
        println!(
            "{:<width$}  {:>10}  {:>10}{mark}",
            t.table, t.source, t.target
        );
    }
    let bad = report.mismatches();
    if !bad.is_empty() {
        let names: Vec<&str> = bad.iter().map(|t| t.table.as_str()).collect();
        bail!("row counts differ in: {}", names.join(", "));
    }
    let rows: i64 = report.tables.iter().map(|t| t.source).sum();
    println!(
        "done: {} tables, {rows} rows, every count matches. Start the nodes with --database.",
        report.tables.len()
    );
    Ok(())
}
