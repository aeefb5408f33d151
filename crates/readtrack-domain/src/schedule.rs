//! Reminder scheduling: which reminder or escalation is due next for a recipient who has
//! not yet read a notice, and when it may fire.
//!
//! Everything here is a pure function of the plan, the recipient's calendar and what
//! already happened, so the durable due-queue can recompute a step's time after a restart
//! instead of trusting anything kept in memory.

use jiff::Timestamp;

use crate::reminder::ReminderPlan;
use crate::working_time::WorkCalendar;

/// One step of a reminder plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The k-th reminder, counting from 1.
    Reminder(u32),
    /// The escalation to the manager and/or backup contact.
    Escalation,
}

/// What has already happened for one recipient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepsDone {
    /// Reminders sent so far.
    pub reminders_sent: u32,
    /// Whether the escalation has happened.
    pub escalated: bool,
}

impl StepsDone {
    /// What has happened once `step` has been carried out too.
    pub fn after(self, step: Step) -> Self {
        match step {
            Step::Reminder(k) => Self {
                reminders_sent: self.reminders_sent.max(k),
                ..self
            },
            Step::Escalation => Self {
                escalated: true,
                ..self
            },
        }
    }
}

/// The next step due for a recipient who has not yet read (or acknowledged, where that is
/// required) and when it is due, or `None` when nothing is left or the calendar has no
/// working time.
///
/// The reminder clock starts at the first working instant at or after `sent_at`, so a
/// notice that arrives in quiet hours or after hours (an async one) loses no reminder
/// time. Reminder k falls due `remind_after + (k - 1) * remind_every` working minutes
/// after that, for k up to `max_reminders`; the escalation `escalate_after` working
/// minutes after it. Steps come in order of due time, a reminder before an escalation
/// due at the same instant, so the recipient hears first.
pub fn next_step(
    plan: &ReminderPlan,
    calendar: &WorkCalendar,
    sent_at: Timestamp,
    done: StepsDone,
) -> Option<(Step, Timestamp)> {
    let start = calendar.next_working_instant(sent_at)?;
    let reminder = (done.reminders_sent < plan.max_reminders)
        .then(|| {
            let k = done.reminders_sent + 1;
            // Checked: a plan past `u32` minutes is unreachable, not a reason to wrap.
            let minutes = plan
                .remind_every_minutes
                .checked_mul(k - 1)?
                .checked_add(plan.remind_after_minutes)?;
            Some((
                Step::Reminder(k),
                calendar.add_working_minutes(start, minutes)?,
            ))
        })
        .flatten();
    let escalation = match plan.escalate_after_minutes {
        Some(minutes) if !done.escalated => calendar
            .add_working_minutes(start, minutes)
            .map(|due| (Step::Escalation, due)),
        _ => None,
    };
    match (reminder, escalation) {
        (Some(r), Some(e)) => Some(if e.1 < r.1 { e } else { r }),
        (r, e) => r.or(e),
    }
}

/// Whether a notice reaching this recipient at `t` is async: sent outside their working
/// time (after hours, on a day off or in quiet hours).
pub fn is_async(calendar: &WorkCalendar, t: Timestamp) -> bool {
    !calendar.is_working(t)
}

/// When a step due at `due` may actually fire if the scheduler only looks at `now`
/// (for example after the server was down): the first working instant at or after the
/// later of the two. A step never fires in quiet hours or after hours; it waits.
pub fn deliverable_at(
    calendar: &WorkCalendar,
    due: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    calendar.next_working_instant(due.max(now))
}

/// What the due-queue does with a step whose time has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepDecision {
    /// Carry the step out now (a reminder, or the escalation along the org chart).
    Fire,
    /// Outside the recipient's working time: wait until this instant.
    Wait(Timestamp),
    /// Nothing left to do: the recipient read (or confirmed, where asked), left, or has
    /// no working time at all.
    Drop,
}

/// What the recipient of a due step has done, as the store found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientNow {
    /// Whether the notice is read (or confirmed, where confirmation is required).
    pub finished: bool,
    /// Whether the person is still an active member.
    pub active: bool,
}

/// Decides a due step: dropped once the recipient has finished or left; never fired in
/// their quiet hours or off work, but moved to their next working instant (counted from
/// the step's planned time, so a wait is never longer than the calendar demands).
pub fn decide_step(
    recipient: RecipientNow,
    calendar: &WorkCalendar,
    planned_at: Timestamp,
    now: Timestamp,
) -> StepDecision {
    if recipient.finished || !recipient.active {
        return StepDecision::Drop;
    }
    if calendar.is_working(now) {
        return StepDecision::Fire;
    }
    match deliverable_at(calendar, planned_at, now) {
        Some(t) => StepDecision::Wait(t),
        None => StepDecision::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reminder::EscalateTo;
    use crate::settings::{QuietHours, WorkingHours};
    use crate::time_zone::Zone;
    use jiff::civil::{DateTime, date};

    fn calendar_in(zone: &str) -> WorkCalendar {
        let zone = Zone::parse("time_zone", zone).unwrap();
        WorkCalendar::new(&zone, &WorkingHours::default(), &QuietHours::default())
    }

    fn hong_kong() -> WorkCalendar {
        calendar_in("Asia/Hong_Kong")
    }

    fn at(zone: &str, dt: DateTime) -> Timestamp {
        Zone::parse("time_zone", zone)
            .unwrap()
            .tz()
            .to_timestamp(dt)
            .unwrap()
    }

    fn hk(dt: DateTime) -> Timestamp {
        at("Asia/Hong_Kong", dt)
    }

    fn plan(after: u32, every: u32, max: u32, escalate: Option<u32>) -> ReminderPlan {
        ReminderPlan {
            remind_after_minutes: after,
            remind_every_minutes: every,
            max_reminders: max,
            escalate_after_minutes: escalate,
            escalate_to: escalate
                .map(|_| vec![EscalateTo::Manager])
                .unwrap_or_default(),
            create_task: false,
        }
    }

    /// Follows a plan to its end, carrying out every step as it falls due.
    fn chain(
        plan: &ReminderPlan,
        calendar: &WorkCalendar,
        sent_at: Timestamp,
    ) -> Vec<(Step, Timestamp)> {
        let mut done = StepsDone::default();
        let mut steps = Vec::new();
        while let Some((step, due)) = next_step(plan, calendar, sent_at, done) {
            steps.push((step, due));
            done = done.after(step);
            assert!(steps.len() <= 50, "the plan never ends");
        }
        steps
    }

    proptest::proptest! {
        #[test]
        fn a_due_step_never_fires_outside_working_time_and_never_waits_longer_than_it_must(
            planned_min in 0i64..20_160, late_min in 0i64..20_160, zone in 0usize..3,
        ) {
            let zone = ["Asia/Hong_Kong", "America/Los_Angeles", "Pacific/Kiritimati"][zone];
            let cal = calendar_in(zone);
            let monday = at(zone, date(2026, 12, 7).at(0, 0, 0, 0));
            let planned = monday + jiff::SignedDuration::from_mins(planned_min);
            let now = planned + jiff::SignedDuration::from_mins(late_min);
            let open = RecipientNow { finished: false, active: true };
            match decide_step(open, &cal, planned, now) {
                StepDecision::Fire => proptest::prop_assert!(cal.is_working(now)),
                StepDecision::Wait(t) => {
                    proptest::prop_assert!(!cal.is_working(now));
                    proptest::prop_assert!(t > now && cal.is_working(t));
                    proptest::prop_assert_eq!(Some(t), cal.next_working_instant(now));
                }
                StepDecision::Drop => proptest::prop_assert!(false, "an open step with working time is never dropped"),
            }
            let done = RecipientNow { finished: true, active: true };
            proptest::prop_assert_eq!(decide_step(done, &cal, planned, now), StepDecision::Drop);
        }
    }

    #[test]
    fn a_due_step_fires_in_working_time_waits_outside_it_and_stops_once_read() {
        let cal = hong_kong();
        let open = RecipientNow {
            finished: false,
            active: true,
        };
        // Monday 10:00 in Hong Kong: working time.
        let monday_ten = at("Asia/Hong_Kong", date(2026, 12, 7).at(10, 0, 0, 0));
        assert_eq!(
            decide_step(open, &cal, monday_ten, monday_ten),
            StepDecision::Fire
        );
        // Monday 22:30: waits for Tuesday's first working instant, never fires at night.
        let night = at("Asia/Hong_Kong", date(2026, 12, 7).at(22, 30, 0, 0));
        let StepDecision::Wait(t) = decide_step(open, &cal, night, night) else {
            panic!("a step at night must wait");
        };
        assert!(cal.is_working(t) && t > night);
        // Read meanwhile, or gone from the directory: nothing more, whatever the time.
        for done in [
            RecipientNow {
                finished: true,
                active: true,
            },
            RecipientNow {
                finished: false,
                active: false,
            },
        ] {
            assert_eq!(decide_step(done, &cal, night, night), StepDecision::Drop);
            assert_eq!(
                decide_step(done, &cal, monday_ten, monday_ten),
                StepDecision::Drop
            );
        }
    }

    #[test]
    fn the_default_plan_reminds_twice_then_escalates_within_one_working_day() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        assert!(!is_async(&cal, sent));
        assert_eq!(
            chain(&ReminderPlan::default_for_tracked(), &cal, sent),
            vec![
                (Step::Reminder(1), hk(date(2024, 6, 10).at(12, 0, 0, 0))),
                (Step::Reminder(2), hk(date(2024, 6, 10).at(14, 0, 0, 0))),
                (Step::Escalation, hk(date(2024, 6, 10).at(16, 0, 0, 0))),
            ]
        );
    }

    #[test]
    fn a_notice_sent_late_on_friday_is_chased_on_monday() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 7).at(17, 0, 0, 0));
        assert_eq!(
            chain(&ReminderPlan::default_for_tracked(), &cal, sent),
            vec![
                (Step::Reminder(1), hk(date(2024, 6, 10).at(10, 0, 0, 0))),
                (Step::Reminder(2), hk(date(2024, 6, 10).at(12, 0, 0, 0))),
                (Step::Escalation, hk(date(2024, 6, 10).at(14, 0, 0, 0))),
            ]
        );
    }

    #[test]
    fn a_notice_sent_in_quiet_hours_is_async_and_its_clock_starts_next_morning() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(22, 30, 0, 0));
        assert!(is_async(&cal, sent));
        assert_eq!(
            next_step(
                &ReminderPlan::default_for_tracked(),
                &cal,
                sent,
                StepsDone::default()
            ),
            Some((Step::Reminder(1), hk(date(2024, 6, 11).at(11, 0, 0, 0))))
        );
    }

    #[test]
    fn a_notice_sent_on_a_weekend_afternoon_is_async_though_not_quiet() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 8).at(15, 0, 0, 0));
        assert!(!cal.is_quiet(sent));
        assert!(is_async(&cal, sent));
    }

    #[test]
    fn the_next_step_follows_what_was_already_done() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        let default = ReminderPlan::default_for_tracked();
        let one = StepsDone {
            reminders_sent: 1,
            escalated: false,
        };
        assert_eq!(
            next_step(&default, &cal, sent, one),
            Some((Step::Reminder(2), hk(date(2024, 6, 10).at(14, 0, 0, 0))))
        );
        let all = StepsDone {
            reminders_sent: 2,
            escalated: true,
        };
        assert_eq!(next_step(&default, &cal, sent, all), None);
    }

    #[test]
    fn a_reminder_and_an_escalation_due_together_remind_first() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        let due = hk(date(2024, 6, 10).at(11, 0, 0, 0));
        assert_eq!(
            chain(&plan(60, 60, 1, Some(60)), &cal, sent),
            vec![(Step::Reminder(1), due), (Step::Escalation, due)]
        );
    }

    #[test]
    fn an_escalation_due_before_a_reminder_comes_first_and_reminders_go_on() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        assert_eq!(
            chain(&plan(120, 60, 2, Some(30)), &cal, sent),
            vec![
                (Step::Escalation, hk(date(2024, 6, 10).at(10, 30, 0, 0))),
                (Step::Reminder(1), hk(date(2024, 6, 10).at(12, 0, 0, 0))),
                (Step::Reminder(2), hk(date(2024, 6, 10).at(13, 0, 0, 0))),
            ]
        );
    }

    #[test]
    fn reminders_without_escalation_stop_at_the_maximum() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(9, 0, 0, 0));
        let steps = chain(&plan(240, 240, 3, None), &cal, sent);
        assert_eq!(
            steps,
            vec![
                (Step::Reminder(1), hk(date(2024, 6, 10).at(13, 0, 0, 0))),
                (Step::Reminder(2), hk(date(2024, 6, 10).at(17, 0, 0, 0))),
                // 60 minutes left on Monday, 180 on Tuesday.
                (Step::Reminder(3), hk(date(2024, 6, 11).at(12, 0, 0, 0))),
            ]
        );
    }

    #[test]
    fn an_empty_plan_schedules_nothing() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        assert_eq!(
            next_step(&plan(0, 0, 0, None), &cal, sent, StepsDone::default()),
            None
        );
    }

    #[test]
    fn a_plan_too_long_to_count_schedules_no_reminder_instead_of_wrapping() {
        let cal = hong_kong();
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        let huge = plan(1, u32::MAX, 20, None);
        let done = StepsDone {
            reminders_sent: 2,
            escalated: false,
        };
        assert_eq!(next_step(&huge, &cal, sent, done), None);
    }

    #[test]
    fn a_recipient_in_another_zone_is_chased_on_their_own_working_day() {
        let london = calendar_in("Europe/London");
        // Monday 10:00 in Hong Kong, where the sender is, is 03:00 in London.
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        assert!(!is_async(&hong_kong(), sent));
        assert!(is_async(&london, sent));
        let lon = |dt| at("Europe/London", dt);
        assert_eq!(
            chain(&ReminderPlan::default_for_tracked(), &london, sent),
            vec![
                (Step::Reminder(1), lon(date(2024, 6, 10).at(11, 0, 0, 0))),
                (Step::Reminder(2), lon(date(2024, 6, 10).at(13, 0, 0, 0))),
                (Step::Escalation, lon(date(2024, 6, 10).at(15, 0, 0, 0))),
            ]
        );
    }

    #[test]
    fn a_calendar_without_working_time_schedules_nothing() {
        let zone = Zone::parse("time_zone", "Asia/Hong_Kong").unwrap();
        let quiet = QuietHours {
            start: jiff::civil::Time::constant(6, 0, 0, 0),
            end: jiff::civil::Time::constant(23, 0, 0, 0),
            ..QuietHours::default()
        };
        let cal = WorkCalendar::new(&zone, &WorkingHours::default(), &quiet);
        let sent = hk(date(2024, 6, 10).at(10, 0, 0, 0));
        let default = ReminderPlan::default_for_tracked();
        assert_eq!(next_step(&default, &cal, sent, StepsDone::default()), None);
        assert_eq!(deliverable_at(&cal, sent, sent), None);
    }

    #[test]
    fn a_step_due_in_working_time_fires_when_due() {
        let cal = hong_kong();
        let due = hk(date(2024, 6, 10).at(12, 0, 0, 0));
        let early = hk(date(2024, 6, 10).at(11, 0, 0, 0));
        assert_eq!(deliverable_at(&cal, due, early), Some(due));
        assert_eq!(deliverable_at(&cal, due, due), Some(due));
    }

    #[test]
    fn a_step_found_late_in_working_time_fires_now() {
        let cal = hong_kong();
        let due = hk(date(2024, 6, 10).at(12, 0, 0, 0));
        let now = hk(date(2024, 6, 10).at(15, 7, 0, 0));
        assert_eq!(deliverable_at(&cal, due, now), Some(now));
    }

    #[test]
    fn a_step_found_late_in_quiet_hours_waits_for_the_next_working_morning() {
        let cal = hong_kong();
        let due = hk(date(2024, 6, 7).at(16, 0, 0, 0));
        let now = hk(date(2024, 6, 7).at(23, 0, 0, 0));
        assert_eq!(
            deliverable_at(&cal, due, now),
            Some(hk(date(2024, 6, 10).at(9, 0, 0, 0)))
        );
    }

    #[test]
    fn steps_done_records_each_step() {
        let done = StepsDone::default()
            .after(Step::Reminder(1))
            .after(Step::Escalation)
            .after(Step::Reminder(2));
        assert_eq!(
            done,
            StepsDone {
                reminders_sent: 2,
                escalated: true
            }
        );
        // Recording an old reminder again changes nothing.
        assert_eq!(done.after(Step::Reminder(1)), done);
    }
}
