//! `readtrack sync`: sends the waiting receipts now, retrying with backoff for a while
//! when the server is unreachable.

use std::time::Duration;

use clap::Args;
use readtrack_client::{Backoff, SyncReport};
use serde::Serialize;

use super::GlobalArgs;
use super::render;
use super::session::Session;

/// Flags of `readtrack sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Seconds to keep retrying while the server is unreachable (0: one try).
    #[arg(long, default_value_t = 10)]
    wait: u64,
    /// Receipts per request, 1–1000: smaller batches redo less work when a flaky link
    /// drops a request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    batch_size: u32,
}

#[derive(Serialize)]
struct SyncOutput {
    #[serde(flatten)]
    report: SyncReport,
    dead_letters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `readtrack sync`.
pub async fn run(global: &GlobalArgs, args: SyncArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let outbox = s.outbox.clone().with_batch_size(args.batch_size as usize);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let (report, error) = match outbox.sync_with_retry(&mut backoff, deadline).await {
        Ok(report) => (report, None),
        Err(failure) => (failure.report, Some(failure.error)),
    };
    let output = SyncOutput {
        report,
        dead_letters: s.store.dead_letter_count().await?,
        error: error.as_ref().map(ToString::to_string),
    };
    if s.json {
        render::json(&output)?;
    } else {
        render::text(&sync_text(&output))?;
    }
    match error {
        None => Ok(()),
        Some(e) => anyhow::bail!("{} receipt(s) still waiting: {e}", output.report.remaining),
    }
}

fn sync_text(o: &SyncOutput) -> String {
    let r = &o.report;
    let sent = r.applied + r.duplicate + r.rejected;
    let mut out = if sent == 0 && o.error.is_none() {
        "Nothing to send: the server has every receipt recorded here.\n".to_string()
    } else if sent == 0 {
        format!("Could not send anything after {} attempt(s).\n", r.requests)
    } else {
        format!(
            "Sent {sent} receipt(s) in {} request(s): {} applied, {} already on the server, {} refused.\n",
            r.requests, r.applied, r.duplicate, r.rejected
        )
    };
    if r.rejected > 0 || (o.dead_letters > 0 && sent > 0) {
        out.push_str(&format!(
            "{} refused receipt(s) are kept with the server's reason: see `readtrack outbox`.\n",
            o.dead_letters
        ));
    }
    if r.remaining > 0 {
        out.push_str(&format!("{} receipt(s) still waiting.\n", r.remaining));
    }
    out
}
