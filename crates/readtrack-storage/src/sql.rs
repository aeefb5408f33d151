//! Encoding shared by the backends: instants, id lists, settings, plans and event payloads.
//!
//! These are storage formats, private to this crate; the wire format lives elsewhere.

use jiff::Timestamp;
use readtrack_domain::event::EventBody;
use readtrack_domain::ids::MessageId;
use readtrack_domain::message::Priority;
use readtrack_domain::receipt::ReceiptState;
use readtrack_domain::reminder::{EscalateTo, ReminderPlan};
use readtrack_domain::settings::{self, QuietReads};

use crate::StorageError;
use crate::model::MessageDepartmentStats;

/// Unix milliseconds of an instant.
pub fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The instant of Unix milliseconds.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Optional variant of [`ts`].
pub fn ts_opt(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(ts)
}

/// `"1,2,3"` from ids.
pub fn join_ids(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Ids from `"1,2,3"` (empty string: none).
pub fn split_ids(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

/// A placeholder list `(?,?),(?,?)` of `rows` rows of `cols` columns.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(","));
    vec![one; rows].join(",")
}

/// Stored form of a reminder plan: `after,every,max,escalate_after,targets,task`.
pub fn encode_plan(plan: &ReminderPlan) -> String {
    let targets: Vec<&str> = plan.escalate_to.iter().map(|t| t.as_str()).collect();
    format!(
        "{},{},{},{},{},{}",
        plan.remind_after_minutes,
        plan.remind_every_minutes,
        plan.max_reminders,
        plan.escalate_after_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        targets.join("+"),
        u8::from(plan.create_task)
    )
}

/// Reads [`encode_plan`]'s form back.
pub fn decode_plan(s: &str) -> Result<ReminderPlan, StorageError> {
    let bad = || StorageError::Corrupt(format!("reminder plan {s:?}"));
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
    Ok(ReminderPlan {
        remind_after_minutes: num(parts[0])?,
        remind_every_minutes: num(parts[1])?,
        max_reminders: num(parts[2])?,
        escalate_after_minutes: if parts[3].is_empty() {
            None
        } else {
            Some(num(parts[3])?)
        },
        escalate_to: parts[4]
            .split('+')
            .filter(|p| !p.is_empty())
            .map(|p| EscalateTo::parse("escalate_to", p).map_err(|_| bad()))
            .collect::<Result<_, _>>()?,
        create_task: parts[5] == "1",
    })
}

/// The priority of a stored name.
pub fn priority(s: &str) -> Result<Priority, StorageError> {
    Priority::parse("priority", s).map_err(|_| StorageError::Corrupt(format!("priority {s:?}")))
}

/// Stored form of a priority list.
pub fn encode_priorities(list: &[Priority]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`encode_priorities`]'s form back.
pub fn decode_priorities(s: &str) -> Result<Vec<Priority>, StorageError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(priority)
        .collect()
}

/// Stored form of working days: ISO numbers.
pub fn encode_days(days: &[jiff::civil::Weekday]) -> String {
    days.iter()
        .map(|d| settings::weekday_number(*d).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`encode_days`]'s form back.
pub fn decode_days(s: &str) -> Result<Vec<jiff::civil::Weekday>, StorageError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<i64>()
                .ok()
                .and_then(|n| settings::weekday_from_number("days", n).ok())
                .ok_or_else(|| StorageError::Corrupt(format!("working days {s:?}")))
        })
        .collect()
}

/// A stored time of day.
pub fn time_of_day(s: &str) -> Result<jiff::civil::Time, StorageError> {
    settings::parse_time_of_day("time", s).map_err(|_| StorageError::Corrupt(format!("time {s:?}")))
}

/// A stored quiet-read mode.
pub fn quiet_reads(s: &str) -> Result<QuietReads, StorageError> {
    QuietReads::parse("reads", s).map_err(|_| StorageError::Corrupt(format!("quiet reads {s:?}")))
}

/// The stored payload of an event body: the one event encoding (`readtrack-events`).
pub fn encode_payload(body: &EventBody) -> String {
    readtrack_events::body_to_json(body)
}

/// Rebuilds an event body from its stored columns.
pub fn decode_payload(
    kind: &str,
    target: Option<i64>,
    message_id: i64,
    payload: &str,
) -> Result<EventBody, StorageError> {
    readtrack_events::body_from_stored(kind, target, message_id, payload)
        .map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// The stored target column of an event (NULL: every recipient of the message).
pub fn target_of(body: &EventBody) -> Option<i64> {
    match body.audience() {
        readtrack_domain::event::EventAudience::Member(m) => Some(m.0),
        readtrack_domain::event::EventAudience::RecipientsOf(_) => None,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn live_stats_fold_groups_by_notice_and_department_and_counts_passed_deadlines_only() {
        let receipt =
            |department, state: ReceiptState, read_at: Option<i64>, deadline| LiveReceipt {
                message: 7,
                department,
                created_at: 0,
                deadline,
                state: state.code(),
                read_at,
                acked_at: None,
                reminders: 2,
                escalated: department == 2,
            };
        let now = ts(10_000);
        let mut fold = LiveStatsFold::default();
        fold.add(
            receipt(1, ReceiptState::Read, Some(3_000), Some(5_000)),
            now,
        );
        fold.add(receipt(1, ReceiptState::Delivered, None, Some(5_000)), now);
        fold.add(
            receipt(2, ReceiptState::Read, Some(9_000), Some(20_000)),
            now,
        );
        let mut out = fold.finish();
        out.sort_by_key(|s| s.department_id.0);
        assert_eq!(out.len(), 2, "one line per notice and department");
        let (one, two) = (&out[0].stats, &out[1].stats);
        assert_eq!((one.recipients, one.read, one.reminders), (2, 1, 4));
        assert_eq!((one.with_deadline, one.unread_at_deadline), (2, 1));
        assert_eq!(one.read_delays.total(), 1);
        assert_eq!(
            (two.with_deadline, two.escalations),
            (0, 1),
            "deadline not yet passed"
        );
    }

    use super::*;

    #[test]
    fn plans_round_trip() {
        let plan = ReminderPlan::default_for_tracked();
        assert_eq!(decode_plan(&encode_plan(&plan)).unwrap(), plan);
        let none = ReminderPlan {
            escalate_after_minutes: None,
            escalate_to: vec![],
            ..plan
        };
        assert_eq!(decode_plan(&encode_plan(&none)).unwrap(), none);
    }
}

/// One live receipt as the analytics read it (millisecond times, the state's code).
pub struct LiveReceipt {
    /// The notice.
    pub message: i64,
    /// The recipient's department at send time.
    pub department: i64,
    /// When the notice was sent.
    pub created_at: i64,
    /// The notice's deadline, if any.
    pub deadline: Option<i64>,
    /// The receipt state's code.
    pub state: i64,
    /// When it was read.
    pub read_at: Option<i64>,
    /// When it was acknowledged.
    pub acked_at: Option<i64>,
    /// Reminders sent for it.
    pub reminders: i64,
    /// Whether it was escalated.
    pub escalated: bool,
}

/// Folds live receipts, streamed one at a time, into per-notice, per-department
/// figures. Memory grows with the groups, never with the receipts: a year of notices to
/// a large organisation is millions of rows, and holding them all at once made the
/// server's memory climb with every analytics request (see the soak in BENCHMARKS.md).
#[derive(Default)]
pub struct LiveStatsFold {
    by_key: std::collections::HashMap<(i64, i64), MessageDepartmentStats>,
}

impl LiveStatsFold {
    /// Counts one receipt; deadlines later than `now` do not count yet.
    pub fn add(&mut self, r: LiveReceipt, now: Timestamp) {
        let created = ts(r.created_at);
        let entry = self
            .by_key
            .entry((r.message, r.department))
            .or_insert_with(|| MessageDepartmentStats {
                message_id: MessageId(r.message),
                created_at: created,
                department_id: readtrack_domain::ids::DepartmentId(r.department),
                stats: Default::default(),
            });
        let state = ReceiptState::from_code(r.state);
        let read_at = ts_opt(r.read_at);
        let s = &mut entry.stats;
        s.recipients += 1;
        if state.is_read() {
            s.read += 1;
        }
        if state == ReceiptState::Acknowledged {
            s.acknowledged += 1;
        }
        s.reminders += r.reminders.max(0) as u64;
        if r.escalated {
            s.escalations += 1;
        }
        if let Some(deadline) = ts_opt(r.deadline).filter(|d| *d <= now) {
            s.with_deadline += 1;
            if read_at.is_none_or(|t| t > deadline) {
                s.unread_at_deadline += 1;
            }
        }
        if let Some(t) = read_at {
            s.read_delays
                .record(t.duration_since(created).as_secs_f64());
        }
        if let Some(t) = ts_opt(r.acked_at) {
            s.ack_delays.record(t.duration_since(created).as_secs_f64());
        }
    }

    /// The figures, one per notice and department.
    pub fn finish(self) -> Vec<MessageDepartmentStats> {
        self.by_key.into_values().collect()
    }
}
