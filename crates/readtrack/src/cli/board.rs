//! `readtrack board ID [--watch]`: the read board of a notice you sent: counts, a
//! progress bar, a line per department, who has read it and when (in this computer's
//! time zone, named), and who has not read it yet. `--watch` follows the realtime stream
//! and redraws as receipts arrive.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use readtrack_client::protocol::frames::ServerFrame;
use readtrack_client::protocol::receipts::{BoardItem, DepartmentLine, Summary};
use readtrack_client::{
    ApiClient, Backoff, BoardQuery, ClientError, Stream, StreamEvent, StreamOptions, SyncEngine,
};
use serde::Serialize;

use super::GlobalArgs;
use super::render;
use super::session::Session;

/// Flags of `readtrack board`.
#[derive(Debug, Args)]
pub struct BoardArgs {
    /// The notice's id.
    id: String,
    /// Keep following and redraw as people read it (Ctrl-C stops).
    #[arg(long)]
    watch: bool,
    /// How many unread people to name (1–500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
    unread: u32,
    /// How many people who read it to list with their times (0–500).
    #[arg(long = "read", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=500))]
    read: u32,
}

#[derive(Debug, Clone, Serialize)]
struct Snapshot {
    message_id: String,
    title: String,
    summary: Summary,
    by_department: Vec<DepartmentLine>,
    /// The first unread people who may be named (the rest are counted).
    unread: Vec<BoardItem>,
    /// Whether more unread people may be named than are listed.
    unread_more: bool,
    /// The first people who read it, with their times (those who may be named).
    read: Vec<BoardItem>,
    /// Whether more readers may be named than are listed.
    read_more: bool,
    /// `live`, `connecting`, or why the stream is down (with --watch).
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<String>,
}

async fn snapshot(
    api: &ApiClient,
    id: &str,
    title: &str,
    unread: u32,
    read: u32,
) -> Result<Snapshot, ClientError> {
    let all = api
        .board(
            id,
            &BoardQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?;
    let waiting = api
        .board(
            id,
            &BoardQuery {
                state: Some("unread".into()),
                limit: Some(unread),
                cursor: None,
            },
        )
        .await?;
    let (readers, read_more) = if read == 0 {
        (Vec::new(), false)
    } else {
        let page = api
            .board(
                id,
                &BoardQuery {
                    state: Some("read".into()),
                    limit: Some(read),
                    cursor: None,
                },
            )
            .await?;
        let more = page.next_cursor.is_some();
        (page.items, more)
    };
    Ok(Snapshot {
        message_id: id.to_string(),
        title: title.to_string(),
        summary: all.summary,
        by_department: all.by_department,
        unread: waiting.items,
        unread_more: waiting.next_cursor.is_some(),
        read: readers,
        read_more,
        connection: None,
    })
}

fn board_text(s: &Snapshot) -> String {
    let sum = &s.summary;
    let mut out = format!("{}  (notice {})\n", s.title, s.message_id);
    if let Some(c) = &s.connection {
        out.push_str(&format!("[{c}]\n"));
    }
    // Hidden people too few to count are in no figure but the recipients and the note.
    let counted = if sum.hidden_not_counted {
        sum.recipients - sum.hidden
    } else {
        sum.recipients
    };
    out.push_str(&format!(
        "\nRead          {:>5} / {:<5} {} {:>3}%\n",
        sum.read,
        counted,
        render::bar(sum.read, counted, 30),
        render::percent(sum.read, counted)
    ));
    out.push_str(&format!(
        "Acknowledged  {:>5} / {:<5} {} {:>3}%\n",
        sum.acknowledged,
        counted,
        render::bar(sum.acknowledged, counted, 30),
        render::percent(sum.acknowledged, counted)
    ));
    out.push_str(&format!(
        "Delivered {}, unread {}{}\n",
        sum.delivered,
        sum.unread,
        if sum.hidden > 0 && sum.hidden_not_counted {
            format!(
                ", {} neither shown by name nor counted (fewer than the smallest group reported)",
                sum.hidden
            )
        } else if sum.hidden > 0 {
            format!(
                ", {} counted but not shown by name (privacy rules)",
                sum.hidden
            )
        } else {
            String::new()
        }
    ));
    if let Some(responses) = &sum.responses {
        let parts: Vec<String> = responses
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect();
        out.push_str(&format!("Answers: {}\n", parts.join(", ")));
    }
    if !s.by_department.is_empty() {
        out.push_str("\nBy department\n");
        for d in &s.by_department {
            out.push_str(&format!(
                "  {:<32} {:>4}/{:<4} {} {:>3}%  ack {}\n",
                render::clip(&d.name, 32),
                d.read,
                d.recipients,
                render::bar(d.read, d.recipients, 16),
                render::percent(d.read, d.recipients),
                d.acknowledged
            ));
        }
    }
    let names: HashMap<&str, &str> = s
        .by_department
        .iter()
        .map(|d| (d.department_id.as_str(), d.name.as_str()))
        .collect();
    if !s.read.is_empty() {
        out.push_str(&format!("\nRead by ({}):\n", sum.read));
        for p in &s.read {
            let dept = names.get(p.department_id.as_str()).copied().unwrap_or("");
            out.push_str(&format!("  {} ({dept}) {}\n", p.name, read_line(p)));
        }
        let unnamed = sum.read - s.read.len() as i64;
        if unnamed > 0 {
            out.push_str(&format!(
                "  … and {unnamed} more{}\n",
                if s.read_more {
                    ""
                } else {
                    " not shown by name"
                }
            ));
        }
    }
    if sum.unread > 0 {
        out.push_str(&format!("\nStill unread ({}):\n", sum.unread));
        for p in &s.unread {
            let dept = names.get(p.department_id.as_str()).copied().unwrap_or("");
            let reminded = if p.reminders > 0 {
                format!(", reminded {}×", p.reminders)
            } else {
                String::new()
            };
            out.push_str(&format!("  {} ({dept}{reminded}) {}\n", p.name, p.state));
        }
        let unnamed = sum.unread - s.unread.len() as i64;
        if unnamed > 0 {
            out.push_str(&format!(
                "  … and {unnamed} more{}\n",
                if s.unread_more {
                    ""
                } else {
                    " not shown by name"
                }
            ));
        }
    } else if sum.recipients > 0 {
        out.push_str("\nEveryone has read it.\n");
    }
    out
}

/// When one person read (and confirmed) a notice, in this computer's time zone; a read in
/// the reader's quiet hours has no time on the board, and says so.
fn read_line(p: &BoardItem) -> String {
    let mut line = match &p.read_at {
        Some(t) => format!("read {}", render::local_time(t)),
        None if p.outside_working_hours => "read outside working hours".to_string(),
        None => "read".to_string(),
    };
    if p.state == "acknowledged" {
        match &p.acked_at {
            Some(t) => line.push_str(&format!(", confirmed {}", render::local_time(t))),
            None => line.push_str(", confirmed"),
        }
    }
    if let Some(answer) = &p.response {
        line.push_str(&format!(", answered {answer}"));
    }
    line
}

/// Runs `fetch` until it answers. `--watch` follows the board until Ctrl-C, so a server
/// that is away (or busy) is waited for, saying so on stderr, rather than a reason to exit;
/// an answer that retrying cannot change (an unknown notice, a revoked sign-in) still is.
async fn until_reachable<T, F, Fut>(mut fetch: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match fetch().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() => {
                let wait = backoff.next_delay(e.retry_after());
                eprintln!(
                    "readtrack: the server is not answering ({e}); retrying in {:.0} s (Ctrl-C stops)",
                    wait.as_secs_f64().ceil()
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tokio::signal::ctrl_c() => anyhow::bail!("stopped before the server answered"),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs `readtrack board`.
pub async fn run(global: &GlobalArgs, args: BoardArgs) -> anyhow::Result<()> {
    let s = Session::open(global).await?;
    if args.watch {
        let title = until_reachable(|| s.api.message(&args.id)).await?.title;
        return watch(s, args, title).await;
    }
    let title = s.api.message(&args.id).await?.title;
    let snap = snapshot(&s.api, &args.id, &title, args.unread, args.read).await?;
    if s.json {
        render::json(&snap)
    } else {
        render::text(&board_text(&snap))
    }
}

async fn watch(s: Session, args: BoardArgs, title: String) -> anyhow::Result<()> {
    // While watching, the device is online: receipts waiting here go out, and at once
    // whenever the stream reconnects.
    let sync = SyncEngine::spawn(s.outbox.clone());
    let mut stream = Stream::spawn(
        s.api.clone(),
        Some(s.store.clone()),
        StreamOptions {
            // The board is fetched whole after each connect; the backlog adds nothing.
            resume: false,
            on_connect: Some(sync.waker()),
            ..StreamOptions::default()
        },
    );
    let tty = std::io::stdout().is_terminal();
    let mut snap =
        until_reachable(|| snapshot(&s.api, &args.id, &title, args.unread, args.read)).await?;
    snap.connection = Some("connecting".into());
    draw(&snap, s.json, tty)?;
    // Frames come in bursts; the full board (departments, names) is fetched at most
    // this often, while the counts of each frame show at once.
    let debounce = Duration::from_millis(400);
    let mut refetch_at: Option<tokio::time::Instant> = None;
    loop {
        let refetch = async {
            match refetch_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = stream.next() => {
                let Some(event) = event else { break };
                match event {
                    StreamEvent::Connected { .. } | StreamEvent::Frame(ServerFrame::Reset { .. }) => {
                        let connection = Some("live".to_string());
                        match snapshot(&s.api, &args.id, &title, args.unread, args.read).await {
                            Ok(fresh) => snap = Snapshot { connection, ..fresh },
                            Err(e) => snap.connection = Some(format!("live; board not refreshed: {e}")),
                        }
                    }
                    StreamEvent::Frame(ServerFrame::ReceiptUpdated { message_id, summary, .. }) if message_id == args.id => {
                        snap.summary = summary;
                        refetch_at.get_or_insert_with(|| tokio::time::Instant::now() + debounce);
                    }
                    StreamEvent::Frame(_) => continue,
                    StreamEvent::Disconnected { error, retry_in } => {
                        snap.connection = Some(format!("offline: {error}; retrying in {:.0} s", retry_in.as_secs_f64().ceil()));
                    }
                }
                draw(&snap, s.json, tty)?;
            }
            _ = refetch => {
                refetch_at = None;
                if let Ok(fresh) = snapshot(&s.api, &args.id, &title, args.unread, args.read).await {
                    snap = Snapshot { connection: snap.connection.clone(), ..fresh };
                    draw(&snap, s.json, tty)?;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    stream.shutdown().await;
    sync.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

fn draw(snap: &Snapshot, json: bool, tty: bool) -> anyhow::Result<()> {
    if json {
        // One line per update, for scripts that follow along.
        return render::text(&serde_json::to_string(snap)?);
    }
    if tty {
        // Home the cursor and clear, so the board redraws in place.
        render::text(&format!("\x1b[H\x1b[2J{}", board_text(snap)))
    } else {
        render::text(&format!("{}\n", board_text(snap)))
    }
}
