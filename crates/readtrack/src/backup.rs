//! `readtrack backup` and `readtrack restore`: a consistent copy of the embedded
//! database, made while the server keeps serving, and putting one back.
//!
//! A PostgreSQL deployment is backed up with PostgreSQL's own tools (README, "Running it
//! in production").

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use readtrack_storage::sqlite::{self, FileReport};

/// Flags of `readtrack backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The embedded deployment's data directory (the server may be running).
    #[arg(long, env = "READTRACK_DATA", default_value = "readtrack-data")]
    data: PathBuf,
    /// The file to write; it must not exist.
    #[arg(long)]
    to: PathBuf,
}

/// Flags of `readtrack restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file made by `readtrack backup`.
    #[arg(long)]
    from: PathBuf,
    /// The data directory to restore into; it must hold no database (stop the server
    /// and move the old one away first).
    #[arg(long, env = "READTRACK_DATA", default_value = "readtrack-data")]
    data: PathBuf,
}

/// Copies the database as it is now, checks the copy and reports it.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let report = sqlite::backup(&args.data, &args.to)
        .await
        .with_context(|| format!("cannot back up {}", args.data.display()))?;
    print_report(&report);
    println!(
        "backed up {} to {}: checked, schema version {}.",
        args.data.display(),
        args.to.display(),
        report.schema_version
    );
    Ok(())
}

/// Checks a backup and puts it in place.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let report = sqlite::restore(&args.from, &args.data)
        .await
        .with_context(|| format!("cannot restore {}", args.from.display()))?;
    print_report(&report);
    println!(
        "restored {} into {}: checked, schema version {}. Start the server with --data {}; it moves the schema forward if this build is newer.",
        args.from.display(),
        args.data.display(),
        report.schema_version,
        args.data.display()
    );
    Ok(())
}

fn print_report(report: &FileReport) {
    let width = report
        .tables
        .iter()
        .map(|(t, _)| t.len())
        .max()
        .unwrap_or(5);
    println!("{:<width$}  {:>10}", "table", "rows");
    for (table, rows) in &report.tables {
        println!("{table:<width$}  {rows:>10}");
    }
    println!("{} bytes", report.bytes);
}
