//! The read board: who has read a notice, as its sender (or an audited admin) may see it.

use jiff::Timestamp;
use readtrack_domain::ids::MessageId;
use readtrack_domain::message::Tracking;
use std::collections::HashMap;

use readtrack_domain::privacy::{self, BoardAccess, ShownTimes};
use readtrack_domain::settings::QuietReads;
use readtrack_domain::summary::{DepartmentCounts, Summary};
use readtrack_domain::time_zone::Zone;
use readtrack_domain::working_time::WorkCalendar;
use readtrack_storage::{BoardCursor, BoardRow, MessageRecord, StateFilter};

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// One person's row as the board shows it.
#[derive(Debug, Clone)]
pub struct ShownRow {
    /// The row as stored.
    pub row: BoardRow,
    /// Its times as others may see them (none inside the person's quiet hours).
    pub times: ShownTimes,
    /// The emails sent to the person about the notice (the notice itself, reminders):
    /// why, and when the mail server took each. When they were opened is theirs only.
    pub emails: Vec<(String, Timestamp)>,
}

/// One page of a board.
#[derive(Debug, Clone)]
pub struct BoardView {
    /// The notice.
    pub message: MessageRecord,
    /// How the viewer reached it.
    pub access: BoardAccess,
    /// Counts.
    pub summary: Summary,
    /// Counts per department.
    pub departments: Vec<DepartmentCounts>,
    /// Rows that may be shown, with their times as they may be shown.
    pub rows: Vec<ShownRow>,
    /// Next page.
    pub next: Option<BoardCursor>,
    /// How reads in quiet hours appear.
    pub quiet_reads: QuietReads,
}

/// Encodes a board cursor for the wire.
pub fn encode_cursor(c: BoardCursor) -> String {
    format!("{}.{}", c.state, c.member_id)
}

/// Decodes a board cursor; garbage is a 400 on `cursor`.
pub fn decode_cursor(raw: &str) -> Result<BoardCursor> {
    let bad = || {
        ServiceError::invalid(
            "cursor",
            "`cursor` is not one this server handed out; start from the first page",
        )
    };
    let (state, member) = raw.split_once('.').ok_or_else(bad)?;
    Ok(BoardCursor {
        state: state.parse().map_err(|_| bad())?,
        member_id: member.parse().map_err(|_| bad())?,
    })
}

impl App {
    /// The board of a notice: the sender's own, or an admin's audited view. Notices
    /// without tracking have no board (404); anyone else is refused (403).
    pub async fn board(
        &self,
        caller: &Caller,
        id: &str,
        filter: StateFilter,
        cursor: Option<BoardCursor>,
        limit: u32,
    ) -> Result<BoardView> {
        let id = MessageId::parse("id", id).map_err(|_| ServiceError::NotFound("message"))?;
        let message = self
            .storage()
            .message(caller.org_id(), id)
            .await?
            .ok_or(ServiceError::NotFound("message"))?;
        let access = privacy::board_access(caller.id(), caller.member.role, message.sender_id)
            .ok_or_else(|| {
                ServiceError::Forbidden(
                    "only the sender of this notice (or an admin, audited) may see who read it"
                        .into(),
                )
            })?;
        if message.tracking == Tracking::Off {
            return Err(ServiceError::NotFound(
                "read board (this notice is not tracked)",
            ));
        }
        let org = self.org(caller.org_id()).await?;
        // Three independent reads, run side by side on the reader pool.
        let (summary, departments, page) = tokio::try_join!(
            self.storage().summary(&message),
            self.storage().department_counts(message.id),
            self.storage().board_rows(&message, filter, cursor, limit),
        )?;
        if access == BoardAccess::AuditedAdmin {
            // Purpose limitation: an admin sees per-person data only through this view, and
            // every look is recorded with whose rows it showed.
            let shown = page.rows.iter().map(|r| r.receipt.member_id).collect();
            self.audit_view(
                caller,
                "board.viewed",
                format!("message:{}", message.id),
                shown,
            )
            .await?;
        }
        // Where someone is counted but not shown, no department line (nor any difference
        // of lines) may describe fewer people than the minimum group size, or it could
        // give a hidden person's state away. Where everyone is shown by name the lines
        // say nothing the rows do not.
        //
        // Where the hidden people are fewer than the minimum group size, no figure counts
        // them at all: the totals and lines cover the shown people only (else the totals
        // minus the rows would give the hidden people's states away).
        let k = org.settings.min_group_size;
        let (summary, departments) = if privacy::hidden_states_countable(summary.hidden, k) {
            (summary, departments)
        } else {
            let shown = self.storage().shown_counts(&message).await?;
            (summary.shown_only(&shown), shown.department_counts())
        };
        let departments = if summary.hidden > 0 {
            privacy::department_lines(departments, k)
        } else {
            departments
        };
        // Each person's times are judged by their own calendar (their zone, the
        // organisation's hours), one calendar per zone on the page.
        let mut calendars: HashMap<Option<String>, WorkCalendar> = HashMap::new();
        let rows = page
            .rows
            .into_iter()
            .map(|row| {
                let calendar = calendars.entry(row.time_zone.clone()).or_insert_with(|| {
                    let zone = row
                        .time_zone
                        .as_deref()
                        .and_then(|tz| Zone::parse("time_zone", tz).ok())
                        .unwrap_or_else(|| org.settings.time_zone.clone());
                    WorkCalendar::new(
                        &zone,
                        &org.settings.working_hours,
                        &org.settings.quiet_hours,
                    )
                });
                let times = privacy::shown_times(&row.receipt.times, row.receipt.read_quiet, |t| {
                    calendar.is_quiet(t)
                });
                ShownRow {
                    row,
                    times,
                    emails: Vec::new(),
                }
            })
            .collect::<Vec<_>>();
        let mut rows = rows;
        let ids: Vec<_> = rows.iter().map(|r| r.row.receipt.member_id).collect();
        let mut sent: HashMap<_, Vec<(String, Timestamp)>> = HashMap::new();
        for e in self.storage().outbound_log(message.id, &ids).await? {
            // An escalation is mailed to the manager, about this person: not theirs.
            if let (Some(at), false) = (e.sent_at, e.reason == "escalation") {
                sent.entry(e.member).or_default().push((e.reason, at));
            }
        }
        for r in &mut rows {
            r.emails = sent.remove(&r.row.receipt.member_id).unwrap_or_default();
        }
        Ok(BoardView {
            message,
            access,
            summary,
            departments,
            rows,
            next: page.next,
            quiet_reads: org.settings.quiet_hours.reads,
        })
    }
}
