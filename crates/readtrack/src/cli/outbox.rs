//! `readtrack outbox`: receipts recorded on this device that the server has not
//! received yet, and those it refused (with its reason).

use clap::Args;
use readtrack_client::{DeadLetter, PendingReceipt};
use serde::Serialize;

use super::GlobalArgs;
use super::render;
use super::session::Session;

/// Flags of `readtrack outbox`.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// How many of each to list (the counts are always complete).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Forget the refused receipts after listing them.
    #[arg(long)]
    clear_dead: bool,
}

#[derive(Serialize)]
struct OutboxOutput {
    pending_count: u64,
    pending: Vec<PendingReceipt>,
    dead_letter_count: u64,
    dead_letters: Vec<DeadLetter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared: Option<u64>,
}

/// Runs `readtrack outbox`.
pub async fn run(global: &GlobalArgs, args: OutboxArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let mut output = OutboxOutput {
        pending_count: s.store.pending_count().await?,
        pending: s.store.pending(args.limit).await?,
        dead_letter_count: s.store.dead_letter_count().await?,
        dead_letters: s.store.dead_letters(args.limit).await?,
        cleared: None,
    };
    if args.clear_dead {
        output.cleared = Some(s.store.clear_dead_letters().await?);
    }
    if s.json {
        return render::json(&output);
    }
    render::text(&outbox_text(&output))
}

fn outbox_text(o: &OutboxOutput) -> String {
    let mut out = String::new();
    if o.pending_count == 0 {
        out.push_str("Outbox: empty; the server has every receipt recorded here.\n");
    } else {
        out.push_str(&format!(
            "Outbox: {} receipt(s) waiting for the server (`readtrack sync` sends them now).\n",
            o.pending_count
        ));
        for r in &o.pending {
            out.push_str(&format!(
                "  {:<9} notice {:<8} at {}  tries {}{}\n",
                r.kind,
                r.message_id,
                render::local_time_secs(&r.at),
                r.attempts,
                r.last_error
                    .as_deref()
                    .map(|e| format!("  last: {}", render::clip(e, 80)))
                    .unwrap_or_default()
            ));
        }
        if o.pending_count > o.pending.len() as u64 {
            out.push_str(&format!(
                "  … and {} more\n",
                o.pending_count - o.pending.len() as u64
            ));
        }
    }
    if o.dead_letter_count > 0 {
        out.push_str(&format!(
            "\nRefused by the server: {} receipt(s), kept here with the reason.\n",
            o.dead_letter_count
        ));
        for d in &o.dead_letters {
            out.push_str(&format!(
                "  {:<9} notice {:<8} at {}  {}: {}\n",
                d.kind,
                d.message_id,
                render::local_time_secs(&d.at),
                d.code,
                d.message
            ));
        }
        match o.cleared {
            Some(n) => out.push_str(&format!("Forgot {n} refused receipt(s).\n")),
            None => out.push_str(
                "`readtrack outbox --clear-dead` forgets them once you have dealt with them.\n",
            ),
        }
    }
    out
}
