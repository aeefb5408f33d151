//! `readtrack import FILE.csv`: imports members (admins), with a progress bar while the
//! file goes up and every bad line listed when the server refuses it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use readtrack_client::ClientError;
use readtrack_client::protocol::directory::ImportResult;

use super::GlobalArgs;
use super::render;
use super::session::Session;

/// Flags of `readtrack import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file: header `name,email,department,manager_email,backup_email,role`,
    /// optionally followed by `phone` and `external_id`; departments are `/`-separated
    /// paths, created as needed.
    file: PathBuf,
    /// Check the file and list what would change for whom, without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Make the directory match the file: deactivate the active members it does not
    /// list (never you).
    #[arg(long)]
    deactivate_missing: bool,
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    let style = ProgressStyle::with_template("{msg:12} [{bar:40}] {bytes}/{total_bytes} ({eta})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("uploading");
    bar
}

fn result_text(r: &ImportResult, rows: usize) -> String {
    let mut out = format!(
        "{} {rows} row(s): {} member(s) created, {} updated, {} deactivated, {} department(s) created.\n",
        if r.dry_run {
            "Checked (dry run, nothing written)"
        } else {
            "Imported"
        },
        r.created,
        r.updated,
        r.deactivated,
        r.departments_created
    );
    for c in &r.changes {
        let what = match c.change.as_str() {
            "create" => "new member".to_string(),
            "deactivate" => "deactivated (not in the file)".to_string(),
            _ => format!("changes {}", c.fields.join(", ")),
        };
        out.push_str(&format!("  line {:>5}  {}  {what}\n", c.line, c.email));
    }
    if r.changes_truncated {
        out.push_str("  … and more (the counts above are complete)\n");
    }
    out
}

/// Runs `readtrack import`.
pub async fn run(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let csv = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let rows = csv
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .count()
        .saturating_sub(1);
    let bar = progress_bar(csv.len() as u64, s.json);
    let on_progress = bar.clone();
    let progress = Arc::new(move |sent: u64| {
        on_progress.set_position(sent);
        if Some(sent) == on_progress.length() {
            on_progress.set_message("checking");
            on_progress.enable_steady_tick(Duration::from_millis(120));
        }
    });
    let outcome = s
        .api
        .import_members(csv, args.dry_run, args.deactivate_missing, Some(progress))
        .await;
    bar.finish_and_clear();
    match outcome {
        Ok(result) => {
            if s.json {
                render::json(&result)
            } else {
                render::text(&result_text(&result, rows))
            }
        }
        Err(ClientError::ImportRefused(result)) => {
            if s.json {
                render::json(&result)?;
            } else {
                let mut out = format!(
                    "{} refused: {} line(s) need fixing; nothing was written.\n",
                    args.file.display(),
                    result.errors.len()
                );
                for e in &result.errors {
                    out.push_str(&format!("  line {}: {}\n", e.line, e.message));
                }
                render::text(&out)?;
            }
            bail!("the import was refused; fix the lines above and run it again")
        }
        Err(e) => Err(e).context("the import failed"),
    }
}
