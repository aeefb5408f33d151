//! Read rate over time: for each day of a period, how many people the notices sent that
//! day reached and how many of them have read, for the analytics page's line chart.
//!
//! The same scope rules as the department analytics apply (everything for admins and
//! auditors, a manager's own department subtree), and so does small-group suppression: a
//! day whose largest notice reached fewer than the minimum group size is reported without
//! figures, so that a notice to two people never shows whether they read it.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use readtrack_domain::ids::DepartmentId;
use readtrack_domain::privacy::{analytics_cell_countable, meets_group_size};
use readtrack_storage::MessageDepartmentStats;

use crate::App;
use crate::auth::Caller;
use crate::error::{Result, ServiceError};

/// The longest period one timeline covers: a year and a bit, one point a day.
pub const MAX_DAYS: i64 = 400;

/// One day of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReadRate {
    /// The day, in the organisation's time zone, the notices were sent on.
    pub day: Date,
    /// Recipients (person × notice) of that day's notices; 0 when suppressed.
    pub recipients: u64,
    /// Of them, read by now; 0 when suppressed.
    pub read: u64,
    /// The day's largest notice reached fewer people than the minimum group size.
    pub suppressed: bool,
}

impl DayReadRate {
    /// Share of the day's recipients who have read, unless suppressed or empty.
    pub fn read_rate(&self) -> Option<f64> {
        (!self.suppressed && self.recipients > 0).then(|| self.read as f64 / self.recipients as f64)
    }
}

impl App {
    /// Read rate per day of the notices sent in `[from, to)`, oldest day first; days
    /// without notices are left out.
    pub async fn read_rate_timeline(
        &self,
        caller: &Caller,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DayReadRate>> {
        if from >= to {
            return Err(ServiceError::invalid("to", "`to` must be after `from`"));
        }
        if to.duration_since(from).as_hours() > MAX_DAYS * 24 {
            return Err(ServiceError::invalid(
                "from",
                format!("`from` must be at most {MAX_DAYS} days before `to`"),
            ));
        }
        let (_, scope) = self.analytics_scope(caller).await?;
        let org = self.org(caller.org_id()).await?;
        let rows = self
            .storage()
            .department_stats(caller.org_id(), from, to, self.clock().now())
            .await?;
        Ok(days(
            &rows,
            scope.as_ref(),
            org.settings.time_zone.tz(),
            org.settings.min_group_size,
        ))
    }
}

/// Buckets per-notice, per-department figures into days of `tz`, keeping only the
/// departments in `scope` (all when `None`).
fn days(
    rows: &[MessageDepartmentStats],
    scope: Option<&HashSet<DepartmentId>>,
    tz: &TimeZone,
    min_group_size: u32,
) -> Vec<DayReadRate> {
    // (recipients, read, recipients per notice)
    let mut by_day: BTreeMap<Date, (u64, u64, HashMap<i64, u64>)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| scope.is_none_or(|s| s.contains(&r.department_id)))
    {
        let day = tz.to_datetime(r.created_at).date();
        let e = by_day.entry(day).or_default();
        // A notice that reached fewer than k people in a department never enters a
        // figure: two days or scopes then never differ by a handful of people.
        if !analytics_cell_countable(r.stats.recipients, min_group_size) {
            continue;
        }
        e.0 += r.stats.recipients;
        e.1 += r.stats.read;
        *e.2.entry(r.message_id.0).or_default() += r.stats.recipients;
    }
    by_day
        .into_iter()
        .map(|(day, (recipients, read, audiences))| {
            // As in the department figures, a group is as large as the largest audience
            // one notice had: many tiny notices do not add up to an anonymous crowd.
            let largest = audiences.values().copied().max().unwrap_or(0);
            let suppressed = !meets_group_size(largest as i64, min_group_size);
            DayReadRate {
                day,
                recipients: if suppressed { 0 } else { recipients },
                read: if suppressed { 0 } else { read },
                suppressed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use readtrack_domain::analytics::DepartmentStats;
    use readtrack_domain::ids::MessageId;

    fn row(
        message: i64,
        at: &str,
        dept: i64,
        recipients: u64,
        read: u64,
    ) -> MessageDepartmentStats {
        MessageDepartmentStats {
            message_id: MessageId(message),
            created_at: at.parse().unwrap(),
            department_id: DepartmentId(dept),
            stats: DepartmentStats {
                recipients,
                read,
                ..Default::default()
            },
        }
    }

    #[test]
    fn notices_are_counted_on_their_local_day_and_small_days_carry_no_figures() {
        let hk = TimeZone::get("Asia/Hong_Kong").unwrap();
        let rows = [
            // 23:30 UTC is 07:30 the next morning in Hong Kong.
            row(1, "2026-11-02T23:30:00Z", 10, 6, 3),
            row(1, "2026-11-02T23:30:00Z", 11, 4, 4),
            row(2, "2026-11-03T02:00:00Z", 10, 2, 0),
            row(3, "2026-11-04T02:00:00Z", 11, 3, 1),
            row(4, "2026-11-05T02:00:00Z", 12, 50, 50),
        ];
        let out = days(&rows, None, &hk, 5);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].day, jiff::civil::date(2026, 11, 3));
        // Only notice 1 in department 10 reached five people there: notice 1's four in
        // department 11 and notice 2's two are left out, or subtracting the department
        // or the day before would tell how those few read.
        assert_eq!((out[0].recipients, out[0].read), (6, 3));
        assert_eq!(out[0].read_rate(), Some(3.0 / 6.0));
        assert!(out[1].suppressed, "three people are too few to report on");
        assert_eq!(
            (out[1].recipients, out[1].read, out[1].read_rate()),
            (0, 0, None)
        );

        let scope: HashSet<DepartmentId> = [DepartmentId(10)].into_iter().collect();
        let mine = days(&rows, Some(&scope), &hk, 5);
        assert_eq!(mine.len(), 1, "a manager sees only their own departments");
        assert_eq!((mine[0].recipients, mine[0].read), (6, 3));
    }
}
