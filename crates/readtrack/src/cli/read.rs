//! `readtrack read ID` and `readtrack ack ID`: show or confirm a notice and record it.
//!
//! Both work offline from the cache. The receipt carries this device's time at the
//! moment the notice was shown (or confirmed); the command exits 0 as soon as the
//! receipt is safely in the local outbox, then tries a quick send.

use anyhow::bail;
use clap::Args;
use readtrack_client::protocol::messages::MessageDetail;
use readtrack_client::{ClientError, PendingReceipt, ReceiptKind, SyncReport};
use serde::Serialize;

use super::GlobalArgs;
use super::render;
use super::session::{QUICK_SYNC, Session};

/// Flags of `readtrack read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// The notice's id (see `readtrack inbox`).
    id: String,
}

/// Flags of `readtrack ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The notice's id (see `readtrack inbox`).
    id: String,
    /// Your answer, for notices that offer choices.
    #[arg(long)]
    response: Option<String>,
}

/// Where the notice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Source {
    Server,
    Cache,
}

struct Loaded {
    notice: MessageDetail,
    source: Source,
    offline_reason: Option<String>,
}

/// The notice from the server (refreshing the cache), else from the cache.
async fn load(s: &Session, id: &str) -> anyhow::Result<Loaded> {
    match s.api.message(id).await {
        Ok(notice) => {
            s.store.put_message(&notice).await?;
            Ok(Loaded {
                notice,
                source: Source::Server,
                offline_reason: None,
            })
        }
        Err(e @ ClientError::Api { status: 404, .. }) => bail!("notice {id}: {e}"),
        Err(e) => match s.store.message(id).await? {
            Some(notice) => Ok(Loaded {
                notice,
                source: Source::Cache,
                offline_reason: Some(e.to_string()),
            }),
            None => bail!(
                "cannot fetch notice {id} ({e}) and it is not cached on this device; \
                 run `readtrack inbox` while online to cache your notices"
            ),
        },
    }
}

fn state_rank(state: Option<&str>) -> u8 {
    match state {
        Some("delivered") => 1,
        Some("read") => 2,
        Some("acknowledged") => 3,
        _ => 0,
    }
}

/// How far this person got with the notice, counting receipts still on this device.
async fn reached(s: &Session, notice: &MessageDetail) -> anyhow::Result<u8> {
    let server = state_rank(notice.my_state.as_deref());
    let local = match s.store.pending_kinds().await?.get(&notice.id) {
        Some(ReceiptKind::Ack) => 3,
        Some(ReceiptKind::Read) => 2,
        Some(ReceiptKind::Delivered) => 1,
        None => 0,
    };
    Ok(server.max(local))
}

#[derive(Serialize)]
struct ReceiptOutput {
    notice: MessageDetail,
    source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    offline_reason: Option<String>,
    /// The receipt recorded now; `null` when there was nothing to record.
    receipt: Option<PendingReceipt>,
    /// Why nothing was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// What the quick send did (absent when it was not tried).
    #[serde(skip_serializing_if = "Option::is_none")]
    sync: Option<SyncReport>,
    /// Receipts still waiting on this device.
    pending_receipts: u64,
}

/// Tries a quick send when the server answered a moment ago; offline, a receipt simply
/// waits for the next `sync`.
async fn quick_sync(s: &Session, online: bool) -> (Option<SyncReport>, Option<String>) {
    if !online {
        return (None, None);
    }
    match s.outbox.sync_within(QUICK_SYNC).await {
        Ok(report) => (Some(report), None),
        Err(failure) => (Some(failure.report), Some(failure.error.to_string())),
    }
}

fn notice_text(n: &MessageDetail) -> String {
    let mut out = format!(
        "{}\nFrom {} · {} · sent {}{}\n\n{}\n",
        n.title,
        n.sender_name,
        n.priority,
        render::local_time(&n.created_at),
        n.deadline
            .as_deref()
            .map(|d| format!(" · deadline {}", render::local_time(d)))
            .unwrap_or_default(),
        n.body.trim_end()
    );
    if n.require_ack {
        if n.response_options.is_empty() {
            out.push_str(&format!("\nPlease confirm: readtrack ack {}\n", n.id));
        } else {
            out.push_str(&format!(
                "\nPlease answer: readtrack ack {} --response \"{}\"   (choices: {})\n",
                n.id,
                n.response_options[0],
                n.response_options.join(", ")
            ));
        }
    }
    out
}

fn outcome_text(kind: &str, o: &ReceiptOutput, sync_error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(reason) = &o.offline_reason {
        out.push_str(&format!(
            "(offline: {reason}; shown from this device's copy)\n"
        ));
    }
    match (&o.receipt, &o.note) {
        (Some(r), _) => {
            out.push_str(&format!(
                "{kind} recorded at {} on this device.",
                render::local_time_secs(&r.at)
            ));
            match (&o.sync, sync_error) {
                (Some(report), None) if report.remaining == 0 => out.push_str(" Sent to the server.\n"),
                (_, Some(e)) => out.push_str(&format!(
                    " Not sent yet ({e}); {} receipt(s) wait for `readtrack sync`.\n",
                    o.pending_receipts
                )),
                _ => out.push_str(&format!(
                    " It will be sent when the server is reachable ({} receipt(s) waiting; `readtrack sync` sends them).\n",
                    o.pending_receipts
                )),
            }
        }
        (None, Some(note)) => out.push_str(&format!("{note}\n")),
        (None, None) => {}
    }
    out
}

/// Runs `readtrack read ID`.
pub async fn run_read(global: &GlobalArgs, args: ReadArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let loaded = load(&s, &args.id).await?;
    if !s.json {
        render::text(&notice_text(&loaded.notice))?;
    }
    // The moment it was shown is the read time; everything after is bookkeeping.
    let (receipt, note) = if loaded.notice.my_state.is_none() {
        (
            None,
            Some("You sent this notice; no receipt is recorded.".to_string()),
        )
    } else if reached(&s, &loaded.notice).await? >= 2 {
        (
            None,
            Some("Already read; nothing new recorded.".to_string()),
        )
    } else {
        (
            Some(
                s.outbox
                    .record(ReceiptKind::Read, &loaded.notice.id, None)
                    .await?,
            ),
            None,
        )
    };
    finish(s, loaded, receipt, note, "Read").await
}

/// Runs `readtrack ack ID`.
pub async fn run_ack(global: &GlobalArgs, args: AckArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    let loaded = load(&s, &args.id).await?;
    let n = &loaded.notice;
    if n.my_state.is_none() {
        bail!(
            "notice {} was not sent to you; only its recipients confirm it",
            n.id
        );
    }
    let response = match (&args.response, n.response_options.is_empty()) {
        (None, false) => bail!(
            "notice {} asks for an answer: add --response with one of: {}",
            n.id,
            n.response_options.join(", ")
        ),
        (Some(r), false) => match n
            .response_options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(r.trim()))
        {
            Some(choice) => Some(choice.clone()),
            None => bail!(
                "{r:?} is not a choice of notice {}: choose one of {}",
                n.id,
                n.response_options.join(", ")
            ),
        },
        (Some(_), true) => bail!(
            "notice {} offers no choices: confirm it without --response",
            n.id
        ),
        (None, true) => None,
    };
    let (receipt, note) = if reached(&s, n).await? >= 3 {
        (
            None,
            Some("Already confirmed; nothing new recorded.".to_string()),
        )
    } else {
        let r = s
            .outbox
            .record(ReceiptKind::Ack, &n.id, response.as_deref())
            .await?;
        (Some(r), None)
    };
    if !s.json {
        render::text(&format!("{} (notice {})", n.title, n.id))?;
    }
    finish(s, loaded, receipt, note, "Confirmation").await
}

async fn finish(
    s: Session,
    loaded: Loaded,
    receipt: Option<PendingReceipt>,
    note: Option<String>,
    kind: &str,
) -> anyhow::Result<()> {
    let (sync, sync_error) = if receipt.is_some() {
        quick_sync(&s, loaded.source == Source::Server).await
    } else {
        (None, None)
    };
    let output = ReceiptOutput {
        notice: loaded.notice,
        source: loaded.source,
        offline_reason: loaded.offline_reason,
        receipt,
        note,
        sync,
        pending_receipts: s.store.pending_count().await?,
    };
    if s.json {
        render::json(&output)
    } else {
        render::text(&outcome_text(kind, &output, sync_error.as_deref()))
    }
}
