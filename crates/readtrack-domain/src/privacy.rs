//! Who may see what: the privacy rules of per-person read data.
//!
//! These are the rules the server enforces on every surface (board, stream, webhooks,
//! CSV, export). They are pure so that a table-driven test can walk all of them.

use crate::ids::{DepartmentId, MemberId};
use crate::member::Role;
use crate::message::Tracking;
use crate::settings::QuietReads;
use crate::summary::DepartmentCounts;

/// How a viewer reaches a notice's per-person board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardAccess {
    /// The sender: their own notice, no audit needed.
    Sender,
    /// An admin: allowed only through the audited view, which records the look.
    AuditedAdmin,
}

/// Whether `viewer` may open the board of a notice sent by `sender`.
pub fn board_access(viewer: MemberId, viewer_role: Role, sender: MemberId) -> Option<BoardAccess> {
    if viewer == sender {
        Some(BoardAccess::Sender)
    } else if viewer_role == Role::Admin {
        Some(BoardAccess::AuditedAdmin)
    } else {
        None
    }
}

/// The facts about one recipient that decide whether their row may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientFacts {
    /// The policy version the recipient acknowledged (0: none).
    pub policy_ack_version: i64,
    /// Whether the recipient is in the pilot (always true when no pilot is set).
    pub in_pilot: bool,
}

/// Whether a recipient's individual row may be shown on a notice with `tracking`, given
/// the organisation's current policy version. Reads inside quiet hours are handled by
/// [`read_display`] on top of this.
pub fn may_show_person(tracking: Tracking, policy_version: i64, facts: RecipientFacts) -> bool {
    tracking == Tracking::PerPerson && facts.policy_ack_version >= policy_version && facts.in_pilot
}

/// Whether a recipient in `department` is inside the pilot. `pilot` is the expanded set
/// of pilot departments (sub-departments included), or `None` when there is no pilot.
pub fn in_pilot(pilot: Option<&[DepartmentId]>, department: DepartmentId) -> bool {
    pilot.is_none_or(|p| p.contains(&department))
}

/// How a shown person's read appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadDisplay {
    /// With its time.
    Exact,
    /// As "read outside working hours", without the time.
    Coarse,
    /// Not at all: the person's row is withheld and counted as hidden.
    Withheld,
}

/// How a read appears given whether it happened in the reader's quiet hours.
pub fn read_display(read_in_quiet_hours: bool, quiet_reads: QuietReads) -> ReadDisplay {
    match (read_in_quiet_hours, quiet_reads) {
        (false, _) => ReadDisplay::Exact,
        (true, QuietReads::Coarse) => ReadDisplay::Coarse,
        (true, QuietReads::Untracked) => ReadDisplay::Withheld,
    }
}

/// Whether an aggregate over `group_size` people may be reported.
pub fn meets_group_size(group_size: i64, min_group_size: u32) -> bool {
    group_size >= i64::from(min_group_size)
}

/// Whether the states of a notice's `hidden` recipients may be counted in its figures.
///
/// Counting them is what a hidden group of at least `min_group_size` people allows; a
/// smaller one (1 to k-1 people) would be given away by the figures minus the rows shown,
/// so then the figures cover the shown people only ([`crate::summary::Summary::shown_only`])
/// and a hidden person's action sends no frame or webhook at all.
pub fn hidden_states_countable(hidden: i64, min_group_size: u32) -> bool {
    hidden == 0 || meets_group_size(hidden, min_group_size)
}

/// A person's times as anyone but the person sees them (board, CSV, an admin's audited
/// view): a moment inside the person's quiet hours is never shown, only that it was
/// outside working hours. The read's quietness was decided when it was recorded
/// (`read_quiet`, which the untracked setting also hides rows by); delivery and
/// confirmation (with its answer) are judged by `in_quiet`, the person's own calendar.
/// So a read in the day followed by a confirmation at 22:01 shows the read's time and
/// "outside working hours" for the confirmation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShownTimes {
    /// Delivered at, unless that was in quiet hours.
    pub delivered_at: Option<jiff::Timestamp>,
    /// Read at, unless that was in quiet hours.
    pub read_at: Option<jiff::Timestamp>,
    /// Confirmed at, unless that was in quiet hours.
    pub acked_at: Option<jiff::Timestamp>,
    /// The delivery fell in quiet hours.
    pub delivered_outside: bool,
    /// The read fell in quiet hours.
    pub read_outside: bool,
    /// The confirmation fell in quiet hours.
    pub acked_outside: bool,
}

/// [`ShownTimes`] of a person's `times`.
pub fn shown_times(
    times: &crate::receipt::ReceiptTimes,
    read_quiet: bool,
    in_quiet: impl Fn(jiff::Timestamp) -> bool,
) -> ShownTimes {
    let judge = |t: Option<jiff::Timestamp>, quiet: bool| match t {
        Some(_) if quiet => (None, true),
        other => (other, false),
    };
    let (delivered_at, delivered_outside) = judge(
        times.delivered_at,
        times.delivered_at.is_some_and(&in_quiet),
    );
    let (read_at, read_outside) = judge(times.read_at, read_quiet);
    let (acked_at, acked_outside) = judge(times.acked_at, times.acked_at.is_some_and(&in_quiet));
    ShownTimes {
        delivered_at,
        read_at,
        acked_at,
        delivered_outside,
        read_outside,
        acked_outside,
    }
}

/// The department id of the line that stands for departments too small to show alone.
pub const SMALL_DEPARTMENTS: DepartmentId = DepartmentId(0);

/// Which of some disjoint groups (of the given sizes) may be reported one by one, when
/// their total may be reported too: a group of fewer than `min_group_size` people never
/// stands alone, and the groups not shown together must be empty or at least that large,
/// or the total minus the shown groups would describe them (complementary suppression).
/// The smallest shown groups join the rest until it is; with a total below the minimum,
/// nothing is shown.
pub fn groups_to_show(sizes: &[i64], min_group_size: u32) -> Vec<bool> {
    let k = i64::from(min_group_size);
    if sizes.iter().sum::<i64>() < k {
        return vec![false; sizes.len()];
    }
    let mut shown: Vec<bool> = sizes.iter().map(|&n| n >= k).collect();
    let mut rest: i64 = sizes
        .iter()
        .zip(&shown)
        .filter(|(_, s)| !**s)
        .map(|(n, _)| n)
        .sum();
    while rest > 0 && rest < k {
        // The smallest shown group (the first of equals) joins the rest.
        let Some(i) = (0..sizes.len())
            .filter(|&i| shown[i])
            .min_by_key(|&i| (sizes[i], i))
        else {
            break;
        };
        shown[i] = false;
        rest += sizes[i];
    }
    shown
}

/// A notice's per-department lines as anyone may see them: a department of fewer than
/// `min_group_size` recipients gets no line of its own; such departments are counted
/// together in one line ([`SMALL_DEPARTMENTS`]). If that line would itself describe
/// fewer than `min_group_size` people, the smallest shown departments join it until it
/// does not (otherwise the notice's totals minus the shown lines would give the small
/// group away), and a notice with fewer recipients than that has no lines at all
/// ([`groups_to_show`]).
pub fn department_lines(
    lines: Vec<DepartmentCounts>,
    min_group_size: u32,
) -> Vec<DepartmentCounts> {
    let sizes: Vec<i64> = lines.iter().map(|l| l.recipients).collect();
    if sizes.iter().sum::<i64>() < i64::from(min_group_size) {
        return Vec::new();
    }
    let show = groups_to_show(&sizes, min_group_size);
    let mut small = DepartmentCounts {
        department_id: SMALL_DEPARTMENTS,
        name: String::new(),
        recipients: 0,
        read: 0,
        acknowledged: 0,
    };
    let mut out = Vec::with_capacity(lines.len());
    for (l, shown) in lines.into_iter().zip(show) {
        if shown {
            out.push(l);
        } else {
            small.recipients += l.recipients;
            small.read += l.read;
            small.acknowledged += l.acknowledged;
        }
    }
    if small.recipients > 0 {
        out.push(small);
    }
    out
}

/// Whether a survey's results may be shown: once it is closed (so they never change
/// again, and no two looks differ by one answer) and with at least `min_group_size`
/// answers.
pub fn survey_publishable(closed: bool, answers: u64, min_group_size: u32) -> bool {
    closed && meets_group_size(answers as i64, min_group_size)
}

/// Whether one notice's figures in one department may enter analytics: only where it
/// reached at least `min_group_size` people there. Every figure of a period, a
/// department or a day is a sum of such cells, so two periods (or scopes) that differ
/// by one notice differ by a group of at least that size.
pub fn analytics_cell_countable(recipients: u64, min_group_size: u32) -> bool {
    meets_group_size(recipients as i64, min_group_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sender_and_audited_admins_reach_a_board() {
        let (s, o) = (MemberId(1), MemberId(2));
        assert_eq!(board_access(s, Role::Member, s), Some(BoardAccess::Sender));
        assert_eq!(
            board_access(o, Role::Admin, s),
            Some(BoardAccess::AuditedAdmin)
        );
        assert_eq!(board_access(o, Role::Member, s), None);
        assert_eq!(board_access(o, Role::Auditor, s), None);
    }

    #[test]
    fn a_person_shows_only_with_per_person_tracking_a_current_policy_ack_and_the_pilot() {
        let acked = RecipientFacts {
            policy_ack_version: 2,
            in_pilot: true,
        };
        assert!(may_show_person(Tracking::PerPerson, 2, acked));
        assert!(!may_show_person(Tracking::Aggregate, 2, acked));
        assert!(!may_show_person(Tracking::Off, 2, acked));
        assert!(
            !may_show_person(Tracking::PerPerson, 3, acked),
            "stale policy ack"
        );
        assert!(!may_show_person(
            Tracking::PerPerson,
            2,
            RecipientFacts {
                in_pilot: false,
                ..acked
            }
        ));
    }

    #[test]
    fn quiet_hour_reads_are_coarse_or_withheld() {
        assert_eq!(
            read_display(false, QuietReads::Untracked),
            ReadDisplay::Exact
        );
        assert_eq!(read_display(true, QuietReads::Coarse), ReadDisplay::Coarse);
        assert_eq!(
            read_display(true, QuietReads::Untracked),
            ReadDisplay::Withheld
        );
    }

    #[test]
    fn pilots_limit_by_department() {
        let pilot = [DepartmentId(3)];
        assert!(in_pilot(None, DepartmentId(9)));
        assert!(in_pilot(Some(&pilot), DepartmentId(3)));
        assert!(!in_pilot(Some(&pilot), DepartmentId(9)));
    }

    fn line(id: i64, recipients: i64, read: i64) -> DepartmentCounts {
        DepartmentCounts {
            department_id: DepartmentId(id),
            name: format!("d{id}"),
            recipients,
            read,
            acknowledged: 0,
        }
    }

    #[test]
    fn no_department_line_and_no_difference_of_lines_describes_fewer_than_k_people() {
        // A lone hidden reader in a department of one is folded in with the smallest
        // large department: nothing describes fewer than five.
        let shown = department_lines(vec![line(1, 6, 6), line(2, 9, 0), line(3, 1, 1)], 5);
        let ids: Vec<i64> = shown.iter().map(|l| l.department_id.0).collect();
        assert_eq!(ids, vec![2, 0]);
        assert_eq!((shown[1].recipients, shown[1].read), (7, 7));
        // Small departments that add up to k or more stand together.
        let shown = department_lines(vec![line(1, 8, 1), line(2, 3, 1), line(3, 2, 2)], 5);
        assert_eq!(shown.len(), 2);
        assert_eq!(
            (shown[1].department_id, shown[1].recipients),
            (SMALL_DEPARTMENTS, 5)
        );
        // A notice to fewer than k people has no lines at all.
        assert!(department_lines(vec![line(1, 2, 1), line(2, 1, 0)], 5).is_empty());
        // Every line, and the total minus every subset of lines, covers k or more.
        for lines in [
            vec![line(1, 6, 6), line(2, 9, 0), line(3, 1, 1)],
            vec![line(1, 5, 1), line(2, 5, 2), line(3, 4, 4), line(4, 1, 0)],
        ] {
            let total: i64 = lines.iter().map(|l| l.recipients).sum();
            let shown = department_lines(lines, 5);
            assert!(shown.iter().all(|l| l.recipients >= 5), "{shown:?}");
            for mask in 0u32..(1 << shown.len()) {
                let picked: i64 = shown
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, l)| l.recipients)
                    .sum();
                let rest = total - picked;
                assert!(
                    rest == 0 || rest >= 5,
                    "a difference of {rest} people: {shown:?}"
                );
            }
        }
    }

    #[test]
    fn no_moment_in_quiet_hours_is_shown_to_others() {
        let t = |h: i64| jiff::Timestamp::from_second(1_764_547_200 + h * 3600).expect("a time");
        // Quiet from hour 20: delivered at 9, read at 10, confirmed at 22.
        let in_quiet = |at: jiff::Timestamp| (at.as_second() - 1_764_547_200) / 3600 >= 20;
        let times = crate::receipt::ReceiptTimes {
            delivered_at: Some(t(9)),
            read_at: Some(t(10)),
            acked_at: Some(t(22)),
            response: Some("Yes".into()),
        };
        let shown = shown_times(&times, false, in_quiet);
        assert_eq!(
            (shown.delivered_at, shown.read_at, shown.acked_at),
            (Some(t(9)), Some(t(10)), None)
        );
        assert!(shown.acked_outside && !shown.read_outside && !shown.delivered_outside);
        // A read recorded as quiet stays untimed whatever the calendar says now.
        let shown = shown_times(&times, true, |_| false);
        assert_eq!((shown.read_at, shown.read_outside), (None, true));
        assert_eq!(shown.acked_at, Some(t(22)));
    }

    #[test]
    fn shown_groups_leave_no_small_remainder() {
        assert_eq!(groups_to_show(&[6, 9, 1], 5), vec![false, true, false]);
        assert_eq!(groups_to_show(&[5, 5], 5), vec![true, true]);
        assert_eq!(groups_to_show(&[3, 1], 5), vec![false, false]);
        // Survey departments: 6 answers in one, 1 in another; the total is shown, so the
        // department of six may not be, or the total minus it gives one answer away.
        assert_eq!(groups_to_show(&[6, 1], 5), vec![false, false]);
        assert_eq!(groups_to_show(&[6, 5, 1], 5), vec![true, false, false]);
    }

    #[test]
    fn surveys_publish_once_closed_and_analytics_count_only_large_cells() {
        assert!(
            !survey_publishable(false, 50, 5),
            "open: results would move"
        );
        assert!(!survey_publishable(true, 4, 5));
        assert!(survey_publishable(true, 5, 5));
        assert!(!analytics_cell_countable(4, 5));
        assert!(analytics_cell_countable(5, 5));
    }
}
