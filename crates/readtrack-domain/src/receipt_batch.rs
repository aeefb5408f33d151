//! The receipt batch fold: many clients' reports, checked against their notices and
//! folded into the recipient rows the store loaded, giving each report's outcome, the
//! rows and counters that changed, the per-department counter deltas, the tasks that
//! close and the events to publish.
//!
//! Pure: the store loads the facts (notices, rows, the organisation's rules, counters),
//! calls [`check_batch`] and [`fold_batch`], and writes what they return, all in one
//! transaction. Every backend therefore applies exactly the same rules.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use crate::FieldError;
use crate::event::{Event, EventBody, PersonUpdate};
use crate::ids::{DepartmentId, MemberId, MessageId, OrgId, Seq};
use crate::message::Tracking;
use crate::privacy::{self, ReadDisplay, RecipientFacts};
use crate::receipt::{MessageFacts, ParsedReceipt, ReceiptState, ReceiptTimes};
use crate::settings::QuietReads;
use crate::summary::Summary;

/// One recipient's receipt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// The notice.
    pub message_id: MessageId,
    /// The recipient.
    pub member_id: MemberId,
    /// Their department at send time.
    pub department_id: DepartmentId,
    /// Client times and response.
    pub times: ReceiptTimes,
    /// Server time the read was first recorded.
    pub read_recorded_at: Option<Timestamp>,
    /// The read happened in the reader's quiet hours.
    pub read_quiet: bool,
    /// Reminders sent.
    pub reminders: i64,
    /// The state as stored; for notices without tracking it is all there is (no times).
    pub stored_state: ReceiptState,
    /// Last reminder.
    pub last_reminded_at: Option<Timestamp>,
    /// When escalated.
    pub escalated_at: Option<Timestamp>,
}

impl ReceiptRecord {
    /// The state: what the times amount to, or the stored state where no times are kept.
    pub fn state(&self) -> ReceiptState {
        self.times.state().max(self.stored_state)
    }

    /// Notices without tracking keep no times: rebuilds the folded record from the stored
    /// state (with `placeholder` for every time) so later reports still move it forward
    /// and never back.
    pub fn restore_untimed(&mut self, placeholder: Timestamp) {
        let state = self.stored_state;
        let t = Some(placeholder);
        if state >= ReceiptState::Delivered {
            self.times.delivered_at = t;
        }
        if state >= ReceiptState::Read {
            self.times.read_at = t;
        }
        if state >= ReceiptState::Acknowledged {
            self.times.acked_at = t;
        }
    }
}

/// One report to apply, from an authenticated member.
#[derive(Debug, Clone)]
pub struct ReceiptWrite {
    /// The reporter's organisation.
    pub org_id: OrgId,
    /// The reporter.
    pub member_id: MemberId,
    /// The parsed report.
    pub receipt: ParsedReceipt,
    /// Whether `receipt.at` falls in the reporter's quiet hours.
    pub at_in_quiet_hours: bool,
}

/// What became of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Committed (it may or may not have changed the state).
    Applied,
    /// Its event id was applied before; nothing changed.
    Duplicate,
    /// Refused; nothing changed.
    Rejected(FieldError),
}

/// The result of a batch.
#[derive(Debug, Clone, Default)]
pub struct AppliedBatch {
    /// One outcome per input item, in order.
    pub outcomes: Vec<WriteOutcome>,
    /// Events appended, to publish.
    pub events: Vec<Event>,
}

/// The facts of a notice the receipt path needs; they never change once it is sent.
#[derive(Debug, Clone)]
pub struct NoticeFacts {
    /// Its organisation.
    pub org_id: OrgId,
    /// Whether it asks for a confirmation.
    pub require_ack: bool,
    /// Who sent it.
    pub sender_id: MemberId,
    /// What reports are checked against.
    pub facts: MessageFacts,
}

/// The organisation's rules that decide who may be shown, read once per batch.
#[derive(Debug, Clone)]
pub struct OrgRules {
    /// The policy version people must have acknowledged to be shown.
    pub policy_version: i64,
    /// How reads in quiet hours appear.
    pub quiet_reads: QuietReads,
    /// The pilot's departments, when tracking is limited to a pilot.
    pub pilot: Option<Vec<DepartmentId>>,
    /// The organisation's visibility epoch (see [`Counters::visible_epoch`]).
    pub epoch: i64,
    /// The minimum group size: a hidden group smaller than this is never counted.
    pub min_group_size: u32,
}

impl OrgRules {
    /// Whether the recipient of `rec` may be shown on a notice with `tracking`.
    pub fn shows(&self, tracking: Tracking, rec: &ReceiptRecord, policy_ack_version: i64) -> bool {
        let facts = RecipientFacts {
            policy_ack_version,
            in_pilot: privacy::in_pilot(self.pilot.as_deref(), rec.department_id),
        };
        privacy::may_show_person(tracking, self.policy_version, facts)
            && !(rec.state().is_read()
                && privacy::read_display(rec.read_quiet, self.quiet_reads) == ReadDisplay::Withheld)
    }
}

/// A recipient row loaded for the batch.
#[derive(Debug, Clone)]
pub struct LoadedRow {
    /// The row.
    pub rec: ReceiptRecord,
    /// The member's acknowledged policy version.
    pub policy_ack_version: i64,
    /// Whether the fold changed it.
    pub dirty: bool,
}

/// A notice's counters while a batch walks through its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Recipients.
    pub recipients: i64,
    /// Recipients whose device has it.
    pub delivered: i64,
    /// Recipients who read it.
    pub read: i64,
    /// Recipients who confirmed it.
    pub acknowledged: i64,
    /// Recipients who may be shown by name.
    pub visible: i64,
    /// The organisation's visibility epoch `visible` was counted at.
    pub visible_epoch: i64,
    /// Answers per response label, in the notice's order.
    pub responses: Vec<(String, i64)>,
    /// Whether the fold changed them.
    pub dirty: bool,
}

impl Counters {
    /// The notice's summary, with `hidden` as its sender sees it.
    pub fn summary(&self, tracking: Tracking) -> Summary {
        Summary {
            recipients: self.recipients,
            delivered: self.delivered,
            read: self.read,
            acknowledged: self.acknowledged,
            hidden: if tracking == Tracking::PerPerson {
                (self.recipients - self.visible).max(0)
            } else {
                self.recipients
            },
            responses: self.responses.clone(),
            hidden_excluded: false,
        }
    }
}

/// The answer to a report about a notice the reporter did not receive.
pub fn not_recipient() -> FieldError {
    FieldError::with_code(
        "message_id",
        "not_recipient",
        "`message_id` names a notice you did not receive",
    )
}

/// A batch after [`check_batch`]: outcomes decided so far, and the reports still to fold.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// One per report; `None` while undecided.
    pub outcomes: Vec<Option<WriteOutcome>>,
    /// The canonical response label of each report, where it gives one.
    pub responses: Vec<Option<String>>,
    /// Indexes of the reports still to fold, in order.
    pub candidates: Vec<usize>,
}

impl Checked {
    /// Marks the candidates `keep` refuses as `outcome` and drops them.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool, outcome: WriteOutcome) {
        let outcomes = &mut self.outcomes;
        self.candidates.retain(|&i| {
            let ok = keep(i);
            if !ok {
                outcomes[i] = Some(outcome.clone());
            }
            ok
        });
    }

    /// Every report's final outcome.
    pub fn finish(self) -> Vec<WriteOutcome> {
        self.outcomes
            .into_iter()
            .map(|o| o.unwrap_or(WriteOutcome::Rejected(not_recipient())))
            .collect()
    }
}

/// Checks each report against its notice (unknown or foreign notices are "not yours");
/// a repeat of an event id inside the batch is a duplicate.
pub fn check_batch(
    batch: &[ReceiptWrite],
    facts: &HashMap<MessageId, Arc<NoticeFacts>>,
) -> Checked {
    let mut checked = Checked {
        outcomes: vec![None; batch.len()],
        responses: vec![None; batch.len()],
        candidates: Vec::with_capacity(batch.len()),
    };
    let mut seen: HashSet<(MemberId, &str)> = HashSet::with_capacity(batch.len());
    for (i, w) in batch.iter().enumerate() {
        let Some(f) = facts
            .get(&w.receipt.message_id)
            .filter(|f| f.org_id == w.org_id)
        else {
            checked.outcomes[i] = Some(WriteOutcome::Rejected(not_recipient()));
            continue;
        };
        match w.receipt.check_against(&f.facts) {
            Err(e) => checked.outcomes[i] = Some(WriteOutcome::Rejected(e)),
            Ok(r) => {
                checked.responses[i] = r;
                if seen.insert((w.member_id, w.receipt.event_id.as_str())) {
                    checked.candidates.push(i);
                } else {
                    checked.outcomes[i] = Some(WriteOutcome::Duplicate);
                }
            }
        }
    }
    checked
}

/// The key of a recipient row.
pub type RowKey = (MessageId, MemberId);

/// What [`fold_batch`] produced besides the changed rows and counters.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    /// Reads and confirmations to add per notice and department.
    pub department_deltas: HashMap<(MessageId, DepartmentId), (i64, i64)>,
    /// The events to append (sequence numbers not yet assigned).
    pub events: Vec<Event>,
}

/// Folds each candidate report into its row, in order, keeping the counters and the
/// events in step. Rows and counters that change are marked `dirty`. A person appears in
/// an event only where they may be shown, and a read in quiet hours without its time.
///
/// Every candidate must have its row in `rows`, its notice in `facts`, its organisation
/// in `rules` and its notice's counters in `counters`; those that do not are skipped.
pub fn fold_batch(
    batch: &[ReceiptWrite],
    checked: &mut Checked,
    facts: &HashMap<MessageId, Arc<NoticeFacts>>,
    rules: &HashMap<OrgId, OrgRules>,
    rows: &mut HashMap<RowKey, LoadedRow>,
    counters: &mut HashMap<MessageId, Counters>,
    now: Timestamp,
) -> Folded {
    let mut out = Folded::default();
    for &i in &checked.candidates {
        let w = &batch[i];
        let (Some(f), Some(org_rules), Some(loaded), Some(c)) = (
            facts.get(&w.receipt.message_id),
            rules.get(&w.org_id),
            rows.get_mut(&(w.receipt.message_id, w.member_id)),
            counters.get_mut(&w.receipt.message_id),
        ) else {
            continue;
        };
        checked.outcomes[i] = Some(WriteOutcome::Applied);
        let tracking = f.facts.tracking;
        let before_read_at = loaded.rec.times.read_at;
        let before_response = loaded.rec.times.response.clone();
        let shown_before = org_rules.shows(tracking, &loaded.rec, loaded.policy_ack_version);
        let tr = loaded.rec.times.apply(
            w.receipt.kind,
            w.receipt.recorded_at(&f.facts),
            checked.responses[i].as_deref(),
        );
        if !tr.changed {
            continue;
        }
        loaded.dirty = true;
        if loaded.rec.times.read_at != before_read_at {
            loaded.rec.read_quiet = w.at_in_quiet_hours;
            if before_read_at.is_none() {
                loaded.rec.read_recorded_at = Some(now);
            }
        }
        c.dirty = true;
        let (from, to) = (tr.from, tr.to);
        let dept = out
            .department_deltas
            .entry((w.receipt.message_id, loaded.rec.department_id))
            .or_default();
        if from < ReceiptState::Delivered && to >= ReceiptState::Delivered {
            c.delivered += 1;
        }
        if !from.is_read() && to.is_read() {
            c.read += 1;
            dept.0 += 1;
        }
        if from < ReceiptState::Acknowledged && to == ReceiptState::Acknowledged {
            c.acknowledged += 1;
            dept.1 += 1;
        }
        if loaded.rec.times.response != before_response {
            for (label, n) in c.responses.iter_mut() {
                if Some(label.as_str()) == before_response.as_deref() {
                    *n -= 1;
                }
                if Some(label.as_str()) == loaded.rec.times.response.as_deref() {
                    *n += 1;
                }
            }
        }
        let shown_after = org_rules.shows(tracking, &loaded.rec, loaded.policy_ack_version);
        c.visible += i64::from(shown_after) - i64::from(shown_before);
        if tracking == Tracking::Off {
            // Nothing but the recipient's own unread marker is kept: no frame to the sender.
            continue;
        }
        // A frame or webhook goes out the moment the report is applied, so one that named
        // the person would tell the sender when they acted, whatever its `at` says. An
        // action in the person's quiet hours is therefore never attributed live: the
        // counts move, and the person's row shows it, without the time, on the next load.
        //
        // Where the hidden recipients are too few to count, a hidden person's action sends
        // nothing at all, and the counts the event carries are left for the store to fill
        // with the shown people's ([`Summary::hidden_excluded`]).
        let mut summary = c.summary(tracking);
        if !privacy::hidden_states_countable(summary.hidden, org_rules.min_group_size) {
            if !shown_after {
                continue;
            }
            summary = Summary {
                delivered: 0,
                read: 0,
                acknowledged: 0,
                responses: vec![],
                hidden_excluded: true,
                ..summary
            };
        }
        let person =
            (shown_after && tracking == Tracking::PerPerson && !w.at_in_quiet_hours).then(|| {
                let t = &loaded.rec.times;
                let exact = match to {
                    ReceiptState::Sent => None,
                    ReceiptState::Delivered => t.delivered_at,
                    ReceiptState::Read => t.read_at,
                    ReceiptState::Acknowledged => t.acked_at,
                };
                // A quiet read is untimed; a confirmation here was made in working time
                // (quiet actions are never named) and shows its own time.
                let coarse = to == ReceiptState::Read && loaded.rec.read_quiet;
                PersonUpdate {
                    member_id: w.member_id,
                    state: to,
                    at: if coarse { None } else { exact },
                }
            });
        out.events.push(Event {
            seq: Seq(0),
            org_id: w.org_id,
            at: now,
            body: EventBody::ReceiptUpdated {
                message_id: w.receipt.message_id,
                sender_id: f.sender_id,
                summary,
                person,
            },
        });
    }
    out
}

/// A changed row as the store writes it back: a notice without tracking keeps no times,
/// no response and no quiet-hours mark, only its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWrite {
    /// The notice.
    pub message_id: MessageId,
    /// The recipient.
    pub member_id: MemberId,
    /// The state.
    pub state: ReceiptState,
    /// Delivered at.
    pub delivered_at: Option<Timestamp>,
    /// Read at.
    pub read_at: Option<Timestamp>,
    /// When the server first recorded the read.
    pub read_recorded_at: Option<Timestamp>,
    /// Confirmed at.
    pub acked_at: Option<Timestamp>,
    /// The chosen response.
    pub response: Option<String>,
    /// Read in quiet hours.
    pub read_quiet: bool,
}

/// The rows the fold changed, as they are to be written.
pub fn row_writes(
    rows: &HashMap<RowKey, LoadedRow>,
    facts: &HashMap<MessageId, Arc<NoticeFacts>>,
) -> Vec<RowWrite> {
    rows.values()
        .filter(|l| l.dirty)
        .map(|l| {
            let r = &l.rec;
            let timed = facts
                .get(&r.message_id)
                .is_some_and(|f| f.facts.tracking != Tracking::Off);
            let keep = |t: Option<Timestamp>| if timed { t } else { None };
            RowWrite {
                message_id: r.message_id,
                member_id: r.member_id,
                state: r.state(),
                delivered_at: keep(r.times.delivered_at),
                read_at: keep(r.times.read_at),
                read_recorded_at: keep(r.read_recorded_at),
                acked_at: keep(r.times.acked_at),
                response: if timed {
                    r.times.response.clone()
                } else {
                    None
                },
                read_quiet: timed && r.read_quiet,
            }
        })
        .collect()
}

/// Tasks close by themselves once their notice is read, or confirmed where that is
/// asked: the changed rows that finished, with what finished them.
pub fn tasks_to_close(
    rows: &HashMap<RowKey, LoadedRow>,
    facts: &HashMap<MessageId, Arc<NoticeFacts>>,
) -> Vec<(MessageId, MemberId, &'static str)> {
    rows.values()
        .filter(|l| l.dirty)
        .filter_map(|l| {
            let state = l.rec.state();
            let needs_ack = facts.get(&l.rec.message_id).is_none_or(|f| f.require_ack);
            if state == ReceiptState::Acknowledged {
                Some((l.rec.message_id, l.rec.member_id, "acknowledged"))
            } else if state.is_read() && !needs_ack {
                Some((l.rec.message_id, l.rec.member_id, "read"))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::{EventId, ReceiptKind};
    use proptest::prelude::*;

    const MESSAGE: MessageId = MessageId(7);
    const ORG: OrgId = OrgId(1);
    const SENDER: MemberId = MemberId(100);

    fn sent_at() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn notice(tracking: Tracking, options: &[&str]) -> HashMap<MessageId, Arc<NoticeFacts>> {
        HashMap::from([(
            MESSAGE,
            Arc::new(NoticeFacts {
                org_id: ORG,
                require_ack: true,
                sender_id: SENDER,
                facts: MessageFacts {
                    created_at: sent_at(),
                    tracking,
                    response_options: options.iter().map(|s| s.to_string()).collect(),
                },
            }),
        )])
    }

    /// Members 1..=n, in departments by `member % 3`, with policy acknowledgements and a
    /// pilot that leave some of them hidden.
    fn world(
        n: i64,
    ) -> (
        HashMap<RowKey, LoadedRow>,
        HashMap<OrgId, OrgRules>,
        Counters,
    ) {
        let rows = (1..=n)
            .map(|m| {
                (
                    (MESSAGE, MemberId(m)),
                    LoadedRow {
                        rec: ReceiptRecord {
                            message_id: MESSAGE,
                            member_id: MemberId(m),
                            department_id: DepartmentId(m % 3),
                            times: ReceiptTimes::default(),
                            read_recorded_at: None,
                            read_quiet: false,
                            reminders: 0,
                            stored_state: ReceiptState::Sent,
                            last_reminded_at: None,
                            escalated_at: None,
                        },
                        policy_ack_version: i64::from(m % 4 != 0),
                        dirty: false,
                    },
                )
            })
            .collect::<HashMap<_, _>>();
        let rules = HashMap::from([(
            ORG,
            OrgRules {
                policy_version: 1,
                quiet_reads: QuietReads::Untracked,
                pilot: Some(vec![DepartmentId(0), DepartmentId(1)]),
                epoch: 0,
                min_group_size: 1,
            },
        )]);
        let visible = rows
            .values()
            .filter(|l| rules[&ORG].shows(Tracking::PerPerson, &l.rec, l.policy_ack_version))
            .count() as i64;
        let counters = Counters {
            recipients: n,
            delivered: 0,
            read: 0,
            acknowledged: 0,
            visible,
            visible_epoch: 0,
            responses: vec![("yes".into(), 0), ("no".into(), 0)],
            dirty: false,
        };
        (rows, rules, counters)
    }

    /// A report; whether its time is in quiet hours follows from the time, as it does
    /// for a real member's calendar.
    fn report(member: i64, kind: u8, minute: i64, answer: u8, n: usize) -> ReceiptWrite {
        let quiet = (minute / 60) % 3 == 0;
        let kind = match kind % 3 {
            0 => ReceiptKind::Delivered,
            1 => ReceiptKind::Read,
            _ => ReceiptKind::Ack,
        };
        let response =
            (kind == ReceiptKind::Ack).then(|| ["yes", "no"][usize::from(answer % 2)].to_string());
        ReceiptWrite {
            org_id: ORG,
            member_id: MemberId(member),
            receipt: ParsedReceipt {
                event_id: EventId::parse("event_id", &format!("e-{n}")).unwrap(),
                message_id: MESSAGE,
                kind,
                at: sent_at() + jiff::SignedDuration::from_mins(minute),
                device_at: None,
                response,
            },
            at_in_quiet_hours: quiet,
        }
    }

    type Reports = Vec<(i64, u8, i64, u8)>;

    fn reports(n: i64) -> impl Strategy<Value = Reports> {
        prop::collection::vec((1..=n, any::<u8>(), 0i64..600, any::<u8>()), 0..40)
    }

    fn writes_of(raw: &Reports) -> Vec<ReceiptWrite> {
        raw.iter()
            .enumerate()
            .map(|(n, &(m, k, t, a))| report(m, k, t, a, n))
            .collect()
    }

    /// Folds `writes` one report at a time under `rules`, handing `check` each report,
    /// the events it made and the rows as they are after it.
    fn one_at_a_time(
        writes: &[ReceiptWrite],
        rules: &HashMap<OrgId, OrgRules>,
        mut rows: HashMap<RowKey, LoadedRow>,
        counters: Counters,
        mut check: impl FnMut(
            &ReceiptWrite,
            Vec<Event>,
            &HashMap<RowKey, LoadedRow>,
        ) -> Result<(), TestCaseError>,
    ) -> Result<(), TestCaseError> {
        let facts = notice(Tracking::PerPerson, &["yes", "no"]);
        let mut counters = HashMap::from([(MESSAGE, counters)]);
        let now = sent_at() + jiff::SignedDuration::from_hours(12);
        for batch in writes.chunks(1) {
            let mut checked = check_batch(batch, &facts);
            let folded = fold_batch(
                batch,
                &mut checked,
                &facts,
                rules,
                &mut rows,
                &mut counters,
                now,
            );
            check(&batch[0], folded.events, &rows)?;
        }
        Ok(())
    }

    /// Folds `writes` in batches of `batch_size`, as the writer would.
    fn fold_all(
        writes: &[ReceiptWrite],
        batch_size: usize,
        n: i64,
    ) -> (
        HashMap<RowKey, LoadedRow>,
        Counters,
        Vec<Event>,
        HashMap<OrgId, OrgRules>,
    ) {
        let facts = notice(Tracking::PerPerson, &["yes", "no"]);
        let (mut rows, rules, counters) = world(n);
        let mut counters = HashMap::from([(MESSAGE, counters)]);
        let mut events = Vec::new();
        let now = sent_at() + jiff::SignedDuration::from_hours(12);
        for batch in writes.chunks(batch_size.max(1)) {
            let mut checked = check_batch(batch, &facts);
            let folded = fold_batch(
                batch,
                &mut checked,
                &facts,
                &rules,
                &mut rows,
                &mut counters,
                now,
            );
            events.extend(folded.events);
        }
        let c = counters.remove(&MESSAGE).unwrap();
        (rows, c, events, rules)
    }

    fn records(
        rows: &HashMap<RowKey, LoadedRow>,
    ) -> Vec<(MemberId, ReceiptState, ReceiptTimes, bool)> {
        let mut v: Vec<_> = rows
            .values()
            .map(|l| {
                (
                    l.rec.member_id,
                    l.rec.state(),
                    l.rec.times.clone(),
                    l.rec.read_quiet,
                )
            })
            .collect();
        v.sort_by_key(|r| r.0);
        v
    }

    proptest! {
        #[test]
        fn any_order_and_batching_of_the_same_reports_folds_to_the_same_rows_and_counters(
            raw in reports(6), seed in any::<u64>(), batch_size in 1usize..8,
        ) {
            let writes = writes_of(&raw);
            let mut shuffled = writes.clone();
            // A deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let (a_rows, a_counts, _, _) = fold_all(&writes, writes.len(), 6);
            let (b_rows, b_counts, _, _) = fold_all(&shuffled, batch_size, 6);
            let strip = |s: &Counters| Counters { dirty: false, ..s.clone() };
            prop_assert_eq!(records(&a_rows), records(&b_rows));
            prop_assert_eq!(strip(&a_counts), strip(&b_counts));
        }

        #[test]
        fn counters_always_equal_a_recount_of_the_rows(raw in reports(8), batch_size in 1usize..8) {
            let writes = writes_of(&raw);
            let (rows, c, _, rules) = fold_all(&writes, batch_size, 8);
            let count = |f: &dyn Fn(&LoadedRow) -> bool| rows.values().filter(|l| f(l)).count() as i64;
            prop_assert_eq!(c.delivered, count(&|l| l.rec.state() >= ReceiptState::Delivered));
            prop_assert_eq!(c.read, count(&|l| l.rec.state().is_read()));
            prop_assert_eq!(c.acknowledged, count(&|l| l.rec.state() == ReceiptState::Acknowledged));
            prop_assert_eq!(
                c.visible,
                count(&|l| rules[&ORG].shows(Tracking::PerPerson, &l.rec, l.policy_ack_version))
            );
            for (label, n) in &c.responses {
                prop_assert_eq!(*n, count(&|l| l.rec.times.response.as_deref() == Some(label.as_str())));
            }
        }

        #[test]
        fn no_event_names_a_person_who_may_not_be_shown_or_times_a_quiet_read(
            raw in reports(8), batch_size in 1usize..8,
        ) {
            let writes = writes_of(&raw);
            let (rows, rules, counters) = world(8);
            // One report at a time, the row after each report is the row its event is
            // about: the person must be showable then, and a quiet read untimed.
            one_at_a_time(&writes, &rules, rows, counters, |w, events, rows| {
                for e in events {
                    let EventBody::ReceiptUpdated { person, summary, .. } = e.body else { continue };
                    // Sent the moment the report lands: a quiet-hours action is never named.
                    prop_assert!(!(w.at_in_quiet_hours && person.is_some()));
                    let Some(p) = person else { continue };
                    let l = &rows[&(MESSAGE, p.member_id)];
                    prop_assert!(rules[&ORG].shows(Tracking::PerPerson, &l.rec, l.policy_ack_version));
                    if p.state == ReceiptState::Read && l.rec.read_quiet {
                        prop_assert_eq!(p.at, None);
                    }
                    prop_assert!(summary.hidden >= 0 && summary.hidden <= summary.recipients);
                }
                Ok(())
            })?;
            // In batches of any size, nobody outside the policy or the pilot is ever named.
            let (rows, _, events, rules) = fold_all(&writes, batch_size, 8);
            for e in events {
                let EventBody::ReceiptUpdated { person: Some(p), .. } = e.body else { continue };
                let l = &rows[&(MESSAGE, p.member_id)];
                prop_assert!(l.policy_ack_version >= rules[&ORG].policy_version);
                prop_assert!(privacy::in_pilot(rules[&ORG].pilot.as_deref(), l.rec.department_id));
            }
        }
        #[test]
        fn too_few_hidden_people_are_never_counted_nor_sent(raw in reports(8)) {
            let writes = writes_of(&raw);
            let (rows, mut rules, counters) = world(8);
            // Members 2, 4, 5 and 8 are hidden: fewer than the minimum group size. Quiet
            // reads stay on the rows (coarsened), so nobody else becomes hidden.
            let org = rules.get_mut(&ORG).expect("org");
            org.min_group_size = 5;
            org.quiet_reads = QuietReads::Coarse;
            one_at_a_time(&writes, &rules, rows, counters, |w, events, rows| {
                for e in events {
                    let EventBody::ReceiptUpdated { summary, .. } = e.body else { continue };
                    // Only a shown person's action is sent, and without counts of the
                    // hidden ones: the store fills in the shown people's counts.
                    let l = &rows[&(MESSAGE, w.member_id)];
                    prop_assert!(rules[&ORG].shows(Tracking::PerPerson, &l.rec, l.policy_ack_version));
                    prop_assert!(summary.hidden_excluded);
                    prop_assert_eq!((summary.delivered, summary.read, summary.acknowledged), (0, 0, 0));
                    prop_assert!(summary.responses.is_empty());
                }
                Ok(())
            })?;
        }
    }

    #[test]
    fn a_notice_without_tracking_writes_back_only_its_state() {
        let facts = notice(Tracking::Off, &[]);
        let (mut rows, rules, counters) = world(2);
        let mut counters = HashMap::from([(MESSAGE, counters)]);
        let batch = [report(1, 1, 65, 0, 0)];
        let mut checked = check_batch(&batch, &facts);
        let folded = fold_batch(
            &batch,
            &mut checked,
            &facts,
            &rules,
            &mut rows,
            &mut counters,
            sent_at(),
        );
        assert!(
            folded.events.is_empty(),
            "no frame about an untracked notice"
        );
        let writes = row_writes(&rows, &facts);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].state, ReceiptState::Read);
        assert_eq!(
            (writes[0].read_at, writes[0].read_recorded_at),
            (None, None)
        );
        assert_eq!(checked.finish(), vec![WriteOutcome::Applied]);
    }

    #[test]
    fn repeats_in_a_batch_are_duplicates_and_foreign_notices_are_not_yours() {
        let facts = notice(Tracking::PerPerson, &["yes", "no"]);
        let mut foreign = report(1, 1, 65, 0, 1);
        foreign.org_id = OrgId(2);
        let batch = [report(1, 1, 65, 0, 0), report(1, 1, 66, 0, 0), foreign];
        let checked = check_batch(&batch, &facts);
        assert_eq!(checked.candidates, vec![0]);
        let outcomes = checked.finish();
        assert_eq!(outcomes[1], WriteOutcome::Duplicate);
        assert_eq!(outcomes[2], WriteOutcome::Rejected(not_recipient()));
    }
}
