//! `readtrack inbox`: the notices you received. Online it refreshes the offline cache
//! (the list and each notice in full, so they can be read offline) and records that
//! new notices reached this device; offline it shows the cached copy.

use std::collections::HashMap;

use anyhow::bail;
use clap::Args;
use futures_util::StreamExt;
use readtrack_client::protocol::messages::MessageSummary;
use readtrack_client::{ApiClient, InboxQuery, NewReceipt, ReceiptKind, Store};
use serde::Serialize;

use super::GlobalArgs;
use super::render;
use super::session::{QUICK_SYNC, Session};

/// Flags of `readtrack inbox`.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// How many of the newest notices to show (1–500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Only notices you have not read.
    #[arg(long)]
    unread: bool,
}

/// Notices fetched in full at once while caching.
const FETCH_PARALLEL: usize = 4;

#[derive(Serialize)]
struct InboxItem {
    #[serde(flatten)]
    summary: MessageSummary,
    /// The furthest receipt recorded on this device and not yet on the server.
    pending: Option<ReceiptKind>,
}

#[derive(Serialize)]
struct InboxOutput {
    /// `server`, or `cache` when offline.
    source: &'static str,
    /// Why the server could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    offline_reason: Option<String>,
    /// When the cached copy was taken (for `cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_at: Option<String>,
    items: Vec<InboxItem>,
    pending_receipts: u64,
}

fn rank(state: Option<&str>) -> u8 {
    match state {
        Some("delivered") => 1,
        Some("read") => 2,
        Some("acknowledged") => 3,
        _ => 0,
    }
}

fn kind_rank(kind: ReceiptKind) -> u8 {
    match kind {
        ReceiptKind::Delivered => 1,
        ReceiptKind::Read => 2,
        ReceiptKind::Ack => 3,
    }
}

/// Caches every listed notice not cached yet, a few at a time; a failure leaves that
/// one uncached (it is fetched again next time).
async fn cache_bodies(api: &ApiClient, store: &Store, items: &[MessageSummary]) {
    let mut missing = Vec::new();
    for item in items {
        if !store.has_message(&item.id).await.unwrap_or(false) {
            missing.push(item.id.clone());
        }
    }
    let fetched: Vec<_> = futures_util::stream::iter(missing)
        .map(|id| async move { api.message(&id).await })
        .buffer_unordered(FETCH_PARALLEL)
        .collect()
        .await;
    for detail in fetched.into_iter().flatten() {
        if let Err(e) = store.put_message(&detail).await {
            tracing::warn!(error = %e, "cannot cache a notice");
        }
    }
}

/// Runs `readtrack inbox`.
pub async fn run(global: &GlobalArgs, args: InboxArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let query = InboxQuery {
        limit: Some(args.limit),
        cursor: None,
        unread_only: args.unread,
    };
    let (source, offline_reason, items) = match s.api.inbox(&query).await {
        Ok(mut page) => {
            cache_bodies(&s.api, &s.store, &page.items).await;
            // Online: keep the clock offset just learned for reads made offline later.
            s.outbox.remember_clock().await?;
            // The list reached this device: notices the server still has as "sent"
            // are now delivered.
            let pending = s.store.pending_kinds().await?;
            let deliveries: Vec<NewReceipt> = page
                .items
                .iter()
                .filter(|m| m.my_state.as_deref() == Some("sent") && !pending.contains_key(&m.id))
                .map(|m| NewReceipt {
                    kind: ReceiptKind::Delivered,
                    message_id: m.id.clone(),
                    response: None,
                })
                .collect();
            if !deliveries.is_empty() {
                s.outbox.record_batch(&deliveries).await?;
            }
            if s.store.pending_count().await? > 0 {
                match s.outbox.sync_within(QUICK_SYNC).await {
                    // The server has the deliveries now: show them as it would.
                    Ok(report) if report.remaining == 0 => {
                        for m in page
                            .items
                            .iter_mut()
                            .filter(|m| m.my_state.as_deref() == Some("sent"))
                        {
                            m.my_state = Some("delivered".into());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "quick sync after inbox failed"),
                }
            }
            if !args.unread {
                s.store.replace_inbox(&page.items).await?;
            }
            ("server", None, page.items)
        }
        Err(e) => {
            if s.store.inbox_refreshed_at().await?.is_none() {
                bail!(
                    "cannot fetch the inbox ({e}) and nothing is cached yet: run `readtrack inbox` once while online"
                );
            }
            let mut cached = s.store.inbox().await?;
            if args.unread {
                cached.retain(|m| rank(m.my_state.as_deref()) < 2);
            }
            cached.truncate(args.limit as usize);
            ("cache", Some(e.to_string()), cached)
        }
    };
    let pending: HashMap<String, ReceiptKind> = s.store.pending_kinds().await?;
    let pending_count = s.store.pending_count().await?;
    let cached_at = if source == "cache" {
        s.store.inbox_refreshed_at().await?
    } else {
        None
    };
    let items: Vec<InboxItem> = items
        .into_iter()
        .map(|summary| {
            // A receipt waiting here is shown only when it is ahead of the server's state.
            let local = pending
                .get(&summary.id)
                .copied()
                .filter(|k| kind_rank(*k) > rank(summary.my_state.as_deref()));
            InboxItem {
                summary,
                pending: local,
            }
        })
        .collect();
    let output = InboxOutput {
        source,
        offline_reason,
        cached_at,
        items,
        pending_receipts: pending_count,
    };
    if s.json {
        return render::json(&output);
    }
    render::text(&inbox_text(&output))
}

fn inbox_text(o: &InboxOutput) -> String {
    let mut out = String::new();
    if let Some(reason) = &o.offline_reason {
        out.push_str(&format!(
            "Offline ({reason}).\nShowing the inbox as cached {}.\n\n",
            o.cached_at
                .as_deref()
                .map(render::local_time)
                .unwrap_or_else(|| "earlier".into())
        ));
    }
    if o.items.is_empty() {
        out.push_str("No notices.\n");
        return out;
    }
    out.push_str(&format!(
        "{:>6}  {:<14} {:<9} {:<16}  {:<20} {}\n",
        "ID", "STATE", "PRIORITY", "SENT", "FROM", "TITLE"
    ));
    for item in &o.items {
        let m = &item.summary;
        let mut state = match item.pending {
            Some(ReceiptKind::Ack) => "acknowledged*".to_string(),
            Some(ReceiptKind::Read) => "read*".to_string(),
            Some(ReceiptKind::Delivered) => "delivered*".to_string(),
            None => m.my_state.clone().unwrap_or_default(),
        };
        if m.require_ack
            && rank(m.my_state.as_deref()) < 3
            && item.pending != Some(ReceiptKind::Ack)
        {
            state.push_str(" !");
        }
        out.push_str(&format!(
            "{:>6}  {:<14} {:<9} {:<16}  {:<20} {}\n",
            m.id,
            state,
            m.priority,
            render::local_time(&m.created_at),
            render::clip(&m.sender_name, 20),
            render::clip(&m.title, 60)
        ));
    }
    out.push_str(
        "\n`readtrack read ID` shows a notice; ! = confirmation asked (`readtrack ack ID`).\n",
    );
    if o.pending_receipts > 0 {
        out.push_str(&format!(
            "* recorded on this device, not yet on the server ({} receipt(s) waiting; `readtrack sync` sends them).\n",
            o.pending_receipts
        ));
    }
    out
}
