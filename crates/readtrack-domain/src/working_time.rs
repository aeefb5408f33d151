//! Working-time arithmetic: which instants are working time for a member, and how far
//! a number of working minutes reaches.
//!
//! Working time is defined on the member's local clock: a working weekday, a time of day
//! inside the working hours and outside the quiet hours. Durations, however, are real
//! elapsed time, so a working hour that a daylight-saving gap skips does not count, and
//! one a fold repeats counts twice. To get both right the timeline is cut at the zone's
//! offset transitions: between two transitions local time is UTC plus a fixed offset, so
//! each local day's working intervals map to instants by plain subtraction.

use std::ops::ControlFlow;

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::settings::{QuietHours, WorkingHours};
use crate::time_zone::Zone;

/// Local days in a row without any working time after which the search gives up. The
/// working week repeats every seven days and daylight saving can only shift or remove an
/// hour, so a calendar with working time at all shows some well within this.
const MAX_IDLE_DAYS: u32 = 400;

/// Local days any one search may cover: no schedule usefully reaches further than about a
/// century, and stopping there keeps every call bounded even for a calendar with one
/// working minute a week.
const MAX_SCAN_DAYS: u32 = 36_600;

/// A member's working calendar: their zone (the member's own, else the org's), the org's
/// working week and the quiet hours.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    tz: TimeZone,
    working_hours: WorkingHours,
    quiet_hours: QuietHours,
}

impl WorkCalendar {
    /// Builds the calendar; pass the member's own zone when they have one.
    pub fn new(zone: &Zone, working_hours: &WorkingHours, quiet_hours: &QuietHours) -> Self {
        Self {
            tz: zone.tz().clone(),
            working_hours: working_hours.clone(),
            quiet_hours: quiet_hours.clone(),
        }
    }

    /// A calendar in which every minute is working time and none is quiet: emergency
    /// notices run their reminders on wall-clock minutes, at any hour.
    pub fn around_the_clock(zone: &Zone) -> Self {
        use jiff::civil::Weekday;
        Self {
            tz: zone.tz().clone(),
            working_hours: WorkingHours {
                days: Weekday::Monday.cycle_forward().take(7).collect(),
                start: Time::MIN,
                end: Time::MAX,
            },
            quiet_hours: QuietHours {
                start: Time::MIN,
                end: Time::MIN,
                reads: crate::settings::QuietReads::Coarse,
            },
        }
    }

    /// Whether `t` is inside the member's quiet hours (local civil time).
    pub fn is_quiet(&self, t: Timestamp) -> bool {
        self.quiet_hours.contains(self.tz.to_datetime(t).time())
    }

    /// Whether `t` is working time: a working weekday, local time in `[start, end)` and
    /// not in quiet hours.
    pub fn is_working(&self, t: Timestamp) -> bool {
        let local = self.tz.to_datetime(t);
        self.is_working_day(local.date())
            && self.working_hours.start <= local.time()
            && local.time() < self.working_hours.end
            && !self.quiet_hours.contains(local.time())
    }

    /// `t` itself when it is working time, else the first working instant after it.
    /// `None` when the calendar has no working time at all (for example when quiet hours
    /// cover the whole working day).
    pub fn next_working_instant(&self, t: Timestamp) -> Option<Timestamp> {
        self.scan(t, |start, _| ControlFlow::Break(start))
    }

    /// The first working instant by which `minutes` working minutes have elapsed since
    /// `t`; time outside working hours and inside quiet hours does not count. With 0
    /// minutes this is [`WorkCalendar::next_working_instant`]. The answer is always
    /// working time: when the last minute ends exactly as a working day ends, the answer
    /// is the start of the next working interval, so nothing falls due after hours.
    /// `None` when the calendar has no working time, or when the answer lies more than
    /// about a century of local days after `t` (a step that far off never falls due).
    pub fn add_working_minutes(&self, t: Timestamp, minutes: u32) -> Option<Timestamp> {
        let mut remaining = SignedDuration::from_mins(i64::from(minutes));
        self.scan(t, |start, end| {
            let available = end.duration_since(start);
            if remaining < available {
                // Strictly before `end`, so the sum is a valid working instant.
                ControlFlow::Break(start + remaining)
            } else {
                remaining -= available;
                ControlFlow::Continue(())
            }
        })
    }

    fn is_working_day(&self, day: Date) -> bool {
        self.working_hours.days.contains(&day.weekday())
    }

    /// The working intervals of a working day as times of day, `[from, to)`: the working
    /// hours minus the quiet hours, which leaves at most two pieces. Every working day has
    /// the same pieces; only which days work differs.
    fn pieces(&self) -> [Option<(Time, Time)>; 2] {
        let (ws, we) = (self.working_hours.start, self.working_hours.end);
        let (qs, qe) = (self.quiet_hours.start, self.quiet_hours.end);
        let piece = |from: Time, to: Time| (from < to).then_some((from, to));
        if qs == qe {
            // Equal bounds mean no quiet hours (see `QuietHours::contains`).
            [piece(ws, we), None]
        } else if qs < qe {
            // Quiet inside the day: what is left is before it and after it.
            [piece(ws, we.min(qs)), piece(ws.max(qe), we)]
        } else {
            // Quiet across midnight: only `[qe, qs)` of the day is not quiet.
            [piece(ws.max(qe), we.min(qs)), None]
        }
    }

    /// Whether the calendar has any working time at all. Daylight saving only removes or
    /// repeats local time, never adds any, so if a plain working day has none, no day does.
    fn has_working_time(&self) -> bool {
        !self.working_hours.days.is_empty() && self.pieces().iter().any(Option::is_some)
    }

    /// Calls `visit` with each working interval `[start, end)` of instants from `from`
    /// on, in order, with the first one clipped to start at `from`, until `visit` breaks
    /// (its value is returned) or the search bounds run out (`None`).
    ///
    /// Intervals are yielded per stretch of constant UTC offset; a working interval that
    /// straddles a transition comes as two touching pieces, which callers treat as one.
    fn scan<R>(
        &self,
        from: Timestamp,
        mut visit: impl FnMut(Timestamp, Timestamp) -> ControlFlow<R>,
    ) -> Option<R> {
        if !self.has_working_time() {
            return None;
        }
        let pieces = self.pieces();
        let mut cursor = from;
        let mut idle_days = 0u32;
        let mut scanned_days = 0u32;
        loop {
            let offset = self.tz.to_offset(cursor);
            // Strictly after `cursor`; `None` when the offset never changes again.
            let segment_end = self.tz.following(cursor).next().map(|tr| tr.timestamp());
            let mut day = offset.to_datetime(cursor).date();
            loop {
                let day_start = to_instant(offset, day, Time::midnight())?;
                if segment_end.is_some_and(|end| day_start >= end) {
                    break;
                }
                let mut worked = false;
                let today = if self.is_working_day(day) {
                    pieces
                } else {
                    [None, None]
                };
                for (from_time, to_time) in today.into_iter().flatten() {
                    let start = to_instant(offset, day, from_time)?.max(cursor);
                    let mut end = to_instant(offset, day, to_time)?;
                    if let Some(segment_end) = segment_end {
                        end = end.min(segment_end);
                    }
                    if start < end {
                        worked = true;
                        if let ControlFlow::Break(found) = visit(start, end) {
                            return Some(found);
                        }
                    }
                }
                idle_days = if worked { 0 } else { idle_days + 1 };
                scanned_days += 1;
                if idle_days > MAX_IDLE_DAYS || scanned_days > MAX_SCAN_DAYS {
                    return None;
                }
                day = day.tomorrow().ok()?;
            }
            // The inner loop only breaks when there is a next segment.
            cursor = segment_end?;
        }
    }
}

/// The instant a local `day` and `time` name under a fixed `offset`; `None` past the
/// representable range.
fn to_instant(offset: Offset, day: Date, time: Time) -> Option<Timestamp> {
    offset.to_timestamp(day.to_datetime(time)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::QuietReads;
    use jiff::civil::{DateTime, Weekday, date};
    use proptest::prelude::*;

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];
    const ALL_DAYS: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    fn hm(h: i8, m: i8) -> Time {
        Time::constant(h, m, 0, 0)
    }

    fn quiet(start: Time, end: Time) -> QuietHours {
        QuietHours {
            start,
            end,
            reads: QuietReads::Coarse,
        }
    }

    /// No quiet hours: equal bounds.
    fn no_quiet() -> QuietHours {
        quiet(Time::midnight(), Time::midnight())
    }

    fn calendar(
        zone: &str,
        days: &[Weekday],
        start: Time,
        end: Time,
        q: QuietHours,
    ) -> WorkCalendar {
        let zone = Zone::parse("time_zone", zone).unwrap();
        let hours = WorkingHours::new(days.to_vec(), start, end).unwrap();
        WorkCalendar::new(&zone, &hours, &q)
    }

    /// Hong Kong, Monday to Friday 09:00 to 18:00, quiet 20:00 to 08:00: the defaults.
    fn hong_kong() -> WorkCalendar {
        let zone = Zone::parse("time_zone", "Asia/Hong_Kong").unwrap();
        WorkCalendar::new(&zone, &WorkingHours::default(), &QuietHours::default())
    }

    /// The instant of a local civil time in the calendar's zone (gaps and folds resolved
    /// the usual way; tests that care use UTC instants instead).
    fn at(cal: &WorkCalendar, dt: DateTime) -> Timestamp {
        cal.tz.to_timestamp(dt).unwrap()
    }

    fn local(cal: &WorkCalendar, t: Timestamp) -> DateTime {
        cal.tz.to_datetime(t)
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn friday_at_five_plus_two_working_hours_lands_on_monday_at_ten() {
        let cal = hong_kong();
        // 2024-06-07 is a Friday.
        let friday = at(&cal, date(2024, 6, 7).at(17, 0, 0, 0));
        let due = cal.add_working_minutes(friday, 120).unwrap();
        assert_eq!(local(&cal, due), date(2024, 6, 10).at(10, 0, 0, 0));
    }

    #[test]
    fn a_notice_at_nine_in_the_evening_waits_for_nine_the_next_morning() {
        let cal = hong_kong();
        let evening = at(&cal, date(2024, 6, 4).at(21, 0, 0, 0));
        assert!(!cal.is_working(evening));
        assert!(cal.is_quiet(evening));
        let next = cal.next_working_instant(evening).unwrap();
        assert_eq!(local(&cal, next), date(2024, 6, 5).at(9, 0, 0, 0));
    }

    #[test]
    fn when_work_starts_before_quiet_hours_end_the_day_begins_at_the_end_of_quiet_hours() {
        let cal = calendar(
            "Asia/Hong_Kong",
            &WEEKDAYS,
            hm(7, 0),
            hm(18, 0),
            QuietHours::default(),
        );
        let evening = at(&cal, date(2024, 6, 4).at(21, 0, 0, 0));
        let next = cal.next_working_instant(evening).unwrap();
        assert_eq!(local(&cal, next), date(2024, 6, 5).at(8, 0, 0, 0));
        assert!(!cal.is_working(at(&cal, date(2024, 6, 5).at(7, 30, 0, 0))));
    }

    #[test]
    fn a_working_instant_is_its_own_next_working_instant() {
        let cal = hong_kong();
        let t = at(&cal, date(2024, 6, 4).at(11, 23, 45, 6));
        assert!(cal.is_working(t));
        assert_eq!(cal.next_working_instant(t), Some(t));
        assert_eq!(cal.add_working_minutes(t, 0), Some(t));
    }

    #[test]
    fn the_start_of_the_working_day_is_working_time_and_the_end_is_not() {
        let cal = hong_kong();
        assert!(cal.is_working(at(&cal, date(2024, 6, 4).at(9, 0, 0, 0))));
        assert!(!cal.is_working(at(&cal, date(2024, 6, 4).at(8, 59, 59, 999_999_999))));
        assert!(cal.is_working(at(&cal, date(2024, 6, 4).at(17, 59, 59, 999_999_999))));
        assert!(!cal.is_working(at(&cal, date(2024, 6, 4).at(18, 0, 0, 0))));
    }

    #[test]
    fn quiet_hours_that_overlap_working_hours_shorten_the_day() {
        let cal = calendar(
            "Asia/Hong_Kong",
            &WEEKDAYS,
            hm(9, 0),
            hm(18, 0),
            quiet(hm(17, 0), hm(8, 0)),
        );
        let late = at(&cal, date(2024, 6, 7).at(17, 30, 0, 0));
        assert!(cal.is_quiet(late));
        assert!(!cal.is_working(late));
        let friday = at(&cal, date(2024, 6, 7).at(16, 0, 0, 0));
        let due = cal.add_working_minutes(friday, 120).unwrap();
        assert_eq!(local(&cal, due), date(2024, 6, 10).at(10, 0, 0, 0));
    }

    #[test]
    fn quiet_hours_inside_the_day_split_it_in_two() {
        let cal = calendar(
            "Asia/Hong_Kong",
            &WEEKDAYS,
            hm(9, 0),
            hm(18, 0),
            quiet(hm(12, 0), hm(13, 0)),
        );
        let morning = at(&cal, date(2024, 6, 4).at(11, 30, 0, 0));
        let due = cal.add_working_minutes(morning, 60).unwrap();
        assert_eq!(local(&cal, due), date(2024, 6, 4).at(13, 30, 0, 0));
        let lunch = at(&cal, date(2024, 6, 4).at(12, 15, 0, 0));
        let next = cal.next_working_instant(lunch).unwrap();
        assert_eq!(local(&cal, next), date(2024, 6, 4).at(13, 0, 0, 0));
    }

    #[test]
    fn the_weekend_is_skipped() {
        let cal = hong_kong();
        let saturday = at(&cal, date(2024, 6, 8).at(10, 0, 0, 0));
        assert!(!cal.is_working(saturday));
        assert!(!cal.is_quiet(saturday));
        let next = cal.next_working_instant(saturday).unwrap();
        assert_eq!(local(&cal, next), date(2024, 6, 10).at(9, 0, 0, 0));
        assert_eq!(
            cal.add_working_minutes(saturday, 30),
            Some(next + SignedDuration::from_mins(30))
        );
    }

    #[test]
    fn a_sunday_to_thursday_week_works_on_sunday_and_rests_on_friday() {
        let days = [
            Weekday::Sunday,
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
        ];
        let cal = calendar(
            "Asia/Dubai",
            &days,
            hm(8, 0),
            hm(16, 0),
            QuietHours::default(),
        );
        let thursday = at(&cal, date(2024, 6, 6).at(15, 0, 0, 0));
        let due = cal.add_working_minutes(thursday, 120).unwrap();
        assert_eq!(local(&cal, due), date(2024, 6, 9).at(9, 0, 0, 0));
    }

    #[test]
    fn a_full_working_day_of_minutes_ends_at_the_start_of_the_next_working_day() {
        let cal = hong_kong();
        let monday = at(&cal, date(2024, 6, 10).at(9, 0, 0, 0));
        let almost = cal.add_working_minutes(monday, 539).unwrap();
        assert_eq!(local(&cal, almost), date(2024, 6, 10).at(17, 59, 0, 0));
        assert_eq!(
            almost.duration_since(monday),
            SignedDuration::from_mins(539)
        );
        let full = cal.add_working_minutes(monday, 540).unwrap();
        assert_eq!(local(&cal, full), date(2024, 6, 11).at(9, 0, 0, 0));
    }

    #[test]
    fn spring_forward_in_new_york_skips_the_missing_hour() {
        // 2024-03-10: clocks jump from 02:00 EST to 03:00 EDT (07:00Z).
        let cal = calendar(
            "America/New_York",
            &ALL_DAYS,
            hm(0, 30),
            hm(3, 30),
            no_quiet(),
        );
        let start = utc("2024-03-10T05:30:00Z"); // 00:30 EST
        assert_eq!(local(&cal, start), date(2024, 3, 10).at(0, 30, 0, 0));
        // 00:30 to 02:00 EST is 90 minutes, then 03:00 to 03:30 EDT is 30 more.
        assert_eq!(
            cal.add_working_minutes(start, 89),
            Some(utc("2024-03-10T06:59:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 90),
            Some(utc("2024-03-10T07:00:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 119),
            Some(utc("2024-03-10T07:29:00Z"))
        );
        // Only two real hours of work that day; the next day starts at 00:30 EDT.
        assert_eq!(
            cal.add_working_minutes(start, 120),
            Some(utc("2024-03-11T04:30:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 121),
            Some(utc("2024-03-11T04:31:00Z"))
        );
    }

    #[test]
    fn a_working_day_that_starts_inside_the_spring_forward_gap_starts_when_clocks_resume() {
        let cal = calendar(
            "America/New_York",
            &ALL_DAYS,
            hm(2, 30),
            hm(4, 0),
            no_quiet(),
        );
        let before = utc("2024-03-10T06:59:00Z"); // 01:59 EST
        assert!(!cal.is_working(before));
        let next = cal.next_working_instant(before).unwrap();
        assert_eq!(next, utc("2024-03-10T07:00:00Z")); // 03:00 EDT
        assert!(cal.is_working(next));
        // 03:00 to 04:00 EDT: one real hour.
        assert_eq!(
            cal.add_working_minutes(before, 60),
            Some(utc("2024-03-11T06:30:00Z"))
        );
    }

    #[test]
    fn fall_back_in_new_york_counts_the_repeated_hour() {
        // 2024-11-03: clocks fall back from 02:00 EDT to 01:00 EST (06:00Z).
        let cal = calendar(
            "America/New_York",
            &ALL_DAYS,
            hm(0, 30),
            hm(3, 30),
            no_quiet(),
        );
        let start = utc("2024-11-03T04:30:00Z"); // 00:30 EDT
        // 00:30 EDT to 03:30 EST is four real hours.
        assert_eq!(
            cal.add_working_minutes(start, 90),
            Some(utc("2024-11-03T06:00:00Z"))
        );
        assert_eq!(
            local(&cal, utc("2024-11-03T06:00:00Z")),
            date(2024, 11, 3).at(1, 0, 0, 0)
        );
        assert_eq!(
            cal.add_working_minutes(start, 239),
            Some(utc("2024-11-03T08:29:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 240),
            Some(utc("2024-11-04T05:30:00Z"))
        );
    }

    #[test]
    fn working_hours_inside_the_fold_happen_twice() {
        let cal = calendar(
            "America/New_York",
            &ALL_DAYS,
            hm(1, 15),
            hm(1, 45),
            no_quiet(),
        );
        let first = utc("2024-11-03T05:15:00Z"); // 01:15 EDT
        let second = utc("2024-11-03T06:15:00Z"); // 01:15 EST
        assert!(cal.is_working(first));
        assert!(!cal.is_working(utc("2024-11-03T05:50:00Z"))); // 01:50 EDT
        assert!(cal.is_working(second));
        assert_eq!(cal.add_working_minutes(first, 30), Some(second));
        assert_eq!(
            cal.add_working_minutes(first, 45),
            Some(utc("2024-11-03T06:30:00Z"))
        );
    }

    #[test]
    fn a_friday_to_monday_span_over_the_london_clock_change_counts_real_minutes() {
        // Clocks go forward on Sunday 2024-03-31; Monday is the first working day on BST.
        let zone = Zone::parse("time_zone", "Europe/London").unwrap();
        let cal = WorkCalendar::new(&zone, &WorkingHours::default(), &QuietHours::default());
        let friday = utc("2024-03-29T17:00:00Z"); // 17:00 GMT
        let due = cal.add_working_minutes(friday, 120).unwrap();
        assert_eq!(due, utc("2024-04-01T09:00:00Z"));
        assert_eq!(local(&cal, due), date(2024, 4, 1).at(10, 0, 0, 0));
    }

    #[test]
    fn a_working_interval_straddling_the_london_clock_change_counts_real_minutes() {
        // 2024-03-31 01:00Z: 01:00 GMT becomes 02:00 BST.
        let cal = calendar("Europe/London", &ALL_DAYS, hm(0, 30), hm(3, 30), no_quiet());
        let start = utc("2024-03-31T00:30:00Z");
        // 00:30 to 01:00 GMT, then 02:00 to 03:30 BST: 120 minutes.
        assert_eq!(
            cal.add_working_minutes(start, 30),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 119),
            Some(utc("2024-03-31T02:29:00Z"))
        );
        assert_eq!(
            cal.add_working_minutes(start, 120),
            Some(utc("2024-03-31T23:30:00Z"))
        );
    }

    #[test]
    fn a_member_in_another_zone_works_on_their_own_clock() {
        let org = hong_kong();
        let zone = Zone::parse("time_zone", "Europe/London").unwrap();
        let member = WorkCalendar::new(&zone, &WorkingHours::default(), &QuietHours::default());
        // Monday 10:00 in Hong Kong is 03:00 in London.
        let t = utc("2024-06-10T02:00:00Z");
        assert!(org.is_working(t));
        assert!(!member.is_working(t));
        assert!(member.is_quiet(t));
        let next = member.next_working_instant(t).unwrap();
        assert_eq!(next, utc("2024-06-10T08:00:00Z"));
        assert_eq!(local(&member, next), date(2024, 6, 10).at(9, 0, 0, 0));
    }

    #[test]
    fn quiet_hours_covering_the_whole_working_day_leave_no_working_time() {
        let cal = calendar(
            "Asia/Hong_Kong",
            &WEEKDAYS,
            hm(9, 0),
            hm(18, 0),
            quiet(hm(8, 0), hm(19, 0)),
        );
        let t = utc("2024-06-10T02:00:00Z");
        assert!(!cal.is_working(t));
        assert_eq!(cal.next_working_instant(t), None);
        assert_eq!(cal.add_working_minutes(t, 10), None);
        let no_quiet_at_all = calendar(
            "Asia/Hong_Kong",
            &WEEKDAYS,
            hm(9, 0),
            hm(18, 0),
            quiet(hm(12, 0), hm(12, 0)),
        );
        // Equal bounds are no quiet hours at all, not a full day of them.
        assert!(no_quiet_at_all.next_working_instant(t).is_some());
    }

    #[test]
    fn a_calendar_without_working_days_has_no_working_time() {
        let zone = Zone::utc();
        let hours = WorkingHours {
            days: vec![],
            start: hm(9, 0),
            end: hm(18, 0),
        };
        let cal = WorkCalendar::new(&zone, &hours, &no_quiet());
        assert_eq!(cal.next_working_instant(utc("2024-06-10T02:00:00Z")), None);
    }

    #[test]
    fn a_long_plan_with_one_short_working_day_a_week_still_finds_its_end() {
        let cal = calendar(
            "UTC",
            &[Weekday::Wednesday],
            hm(9, 0),
            hm(9, 10),
            no_quiet(),
        );
        // 100 weeks of ten minutes each.
        let start = utc("2024-01-01T00:00:00Z");
        let due = cal.add_working_minutes(start, 1000).unwrap();
        assert_eq!(due, utc("2025-12-03T09:00:00Z"));
    }

    // Property tests. Instants and settings are whole minutes, and the zones have whole
    // minute offsets in the years drawn, so a slow minute-by-minute walk is exact.

    const ZONES: [&str; 9] = [
        "UTC",
        "Asia/Hong_Kong",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/Santiago",
    ];

    /// 2000-01-01 to about 2040, in whole minutes.
    fn minute_instant() -> impl Strategy<Value = Timestamp> {
        (0i64..21_000_000).prop_map(|m| Timestamp::from_second(946_684_800 + m * 60).unwrap())
    }

    fn any_instant() -> impl Strategy<Value = Timestamp> {
        (946_684_800i64..2_208_988_800, 0i32..1_000_000_000)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap())
    }

    fn minute_of_day(m: i32) -> Time {
        hm((m / 60) as i8, (m % 60) as i8)
    }

    fn any_calendar() -> impl Strategy<Value = WorkCalendar> {
        let hours = (0i32..1439).prop_flat_map(|s| (Just(s), s + 1..1440));
        (0usize..ZONES.len(), 1u8..128, hours, 0i32..1440, 0i32..1440).prop_map(
            |(z, mask, (s, e), qs, qe)| {
                let days = ALL_DAYS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, d)| *d)
                    .collect::<Vec<_>>();
                calendar(
                    ZONES[z],
                    &days,
                    minute_of_day(s),
                    minute_of_day(e),
                    quiet(minute_of_day(qs), minute_of_day(qe)),
                )
            },
        )
    }

    /// A calendar in a zone with clock changes and a whole-minute instant within two days
    /// of one of its transitions, where the interesting cases are.
    fn near_a_clock_change() -> impl Strategy<Value = (WorkCalendar, Timestamp)> {
        (any_calendar(), 2000i16..2040, 0i64..365, -2880i64..2880).prop_filter_map(
            "a zone with clock changes",
            |(cal, year, day, minutes)| {
                let from = cal.tz.to_timestamp(date(year, 1, 1).at(0, 0, 0, 0)).ok()?;
                let from = from + SignedDuration::from_hours(24 * day);
                let change = cal.tz.following(from).next()?.timestamp();
                // Whole minutes: the tz database may report a pseudo-transition at the
                // end of 32-bit time (03:14:07Z), which the slow walk cannot land on.
                let change = Timestamp::from_second(change.as_second().div_euclid(60) * 60).ok()?;
                Some((cal, change + SignedDuration::from_mins(minutes)))
            },
        )
    }

    const MINUTE: SignedDuration = SignedDuration::from_mins(1);
    /// How far the slow walks go: 21 days of minutes.
    const WALK_LIMIT: i64 = 21 * 24 * 60;

    /// The first working minute at or after `t` by which `n` working minutes have
    /// passed, walking one minute at a time; `None` past the walk limit.
    fn slow_add(cal: &WorkCalendar, t: Timestamp, n: u32) -> Option<Timestamp> {
        let mut counted = 0;
        let mut u = t;
        for _ in 0..WALK_LIMIT {
            if cal.is_working(u) {
                if counted == n {
                    return Some(u);
                }
                counted += 1;
            }
            u += MINUTE;
        }
        None
    }

    /// Working minutes in `[t, u)`, walking one minute at a time.
    fn slow_count(cal: &WorkCalendar, t: Timestamp, u: Timestamp) -> u32 {
        let mut counted = 0;
        let mut m = t;
        while m < u {
            if cal.is_working(m) {
                counted += 1;
            }
            m += MINUTE;
        }
        counted
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn adding_working_minutes_agrees_with_a_minute_by_minute_walk(
            cal in any_calendar(), t in minute_instant(), n in 0u32..600,
        ) {
            let fast = cal.add_working_minutes(t, n);
            match slow_add(&cal, t, n) {
                Some(slow) => {
                    prop_assert_eq!(fast, Some(slow));
                    prop_assert_eq!(slow_count(&cal, t, slow), n);
                }
                None => {
                    let beyond = t + SignedDuration::from_mins(WALK_LIMIT);
                    prop_assert!(fast.is_none_or(|f| f >= beyond));
                }
            }
        }

        #[test]
        fn adding_working_minutes_around_a_clock_change_agrees_with_a_minute_by_minute_walk(
            (cal, t) in near_a_clock_change(), n in 0u32..600,
        ) {
            let fast = cal.add_working_minutes(t, n);
            match slow_add(&cal, t, n) {
                Some(slow) => {
                    prop_assert_eq!(fast, Some(slow));
                    prop_assert_eq!(slow_count(&cal, t, slow), n);
                }
                None => {
                    let beyond = t + SignedDuration::from_mins(WALK_LIMIT);
                    prop_assert!(fast.is_none_or(|f| f >= beyond));
                }
            }
        }

        #[test]
        fn the_next_working_instant_agrees_with_a_minute_by_minute_walk(
            cal in any_calendar(), t in minute_instant(),
        ) {
            let fast = cal.next_working_instant(t);
            match slow_add(&cal, t, 0) {
                Some(slow) => prop_assert_eq!(fast, Some(slow)),
                None => {
                    let beyond = t + SignedDuration::from_mins(WALK_LIMIT);
                    prop_assert!(fast.is_none_or(|f| f >= beyond));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_result_is_working_time_no_earlier_than_the_start(
            cal in any_calendar(), t in any_instant(), n in 0u32..20_000,
        ) {
            if let Some(r) = cal.add_working_minutes(t, n) {
                prop_assert!(r >= t);
                prop_assert!(cal.is_working(r));
                prop_assert!(r.duration_since(t) >= SignedDuration::from_mins(i64::from(n)));
            }
        }

        #[test]
        fn adding_in_two_steps_is_adding_the_sum(
            cal in any_calendar(), t in any_instant(), a in 1u32..5_000, b in 1u32..5_000,
        ) {
            let once = cal.add_working_minutes(t, a + b);
            let twice = cal.add_working_minutes(t, a).and_then(|m| cal.add_working_minutes(m, b));
            match once {
                Some(_) => prop_assert_eq!(once, twice),
                // Each call searches about a century ahead of its own start, so two steps
                // may reach an answer one call gives up on, but only past that horizon.
                None => {
                    let horizon = t + SignedDuration::from_hours(24 * 36_000);
                    prop_assert!(twice.is_none_or(|r| r > horizon));
                }
            }
        }

        #[test]
        fn adding_is_monotone_in_the_start(
            cal in any_calendar(), t in any_instant(), gap in 0i64..20_000_000, n in 0u32..5_000,
        ) {
            let later = t + SignedDuration::from_secs(gap);
            if let (Some(a), Some(b)) = (cal.add_working_minutes(t, n), cal.add_working_minutes(later, n)) {
                prop_assert!(a <= b);
            }
        }

        #[test]
        fn adding_is_monotone_in_the_minutes(
            cal in any_calendar(), t in any_instant(), n in 0u32..5_000, more in 0u32..5_000,
        ) {
            if let (Some(a), Some(b)) = (cal.add_working_minutes(t, n), cal.add_working_minutes(t, n + more)) {
                prop_assert!(a <= b);
                if more > 0 {
                    prop_assert!(a < b);
                }
            }
        }

        #[test]
        fn the_next_working_instant_is_idempotent_and_fixes_working_time(
            cal in any_calendar(), t in any_instant(),
        ) {
            let next = cal.next_working_instant(t);
            prop_assert_eq!(next.and_then(|n| cal.next_working_instant(n)), next);
            prop_assert_eq!(cal.is_working(t), next == Some(t));
            prop_assert_eq!(cal.add_working_minutes(t, 0), next);
        }

        #[test]
        fn working_time_is_never_quiet(cal in any_calendar(), t in any_instant()) {
            prop_assert!(!(cal.is_working(t) && cal.is_quiet(t)));
        }
    }

    #[test]
    fn around_the_clock_every_minute_counts_nights_and_weekends_included() {
        let zone = Zone::parse("z", "Asia/Hong_Kong").unwrap();
        let cal = WorkCalendar::around_the_clock(&zone);
        // Saturday 22:00 and 23:50 in Hong Kong (UTC+8).
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(cal.is_working(at("2026-12-05T14:00:00Z")));
        assert!(!cal.is_quiet(at("2026-12-05T14:00:00Z")));
        assert_eq!(
            cal.add_working_minutes(at("2026-12-05T14:00:00Z"), 15),
            Some(at("2026-12-05T14:15:00Z"))
        );
        let across = cal
            .add_working_minutes(at("2026-12-05T15:50:00Z"), 20)
            .unwrap();
        let off = (across.as_millisecond() - at("2026-12-05T16:10:00Z").as_millisecond()).abs();
        assert!(off <= 1, "past midnight: {across}");
    }
}
