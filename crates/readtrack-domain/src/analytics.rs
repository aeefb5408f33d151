//! Analytics building blocks: mergeable time histograms and the department figures built
//! from them. Histograms are what survives the retention purge, so figures computed
//! before and after a purge agree.

/// Buckets per doubling of time: bucket edges grow by 2^(1/4), about 19 %.
use std::collections::HashMap;

use jiff::Timestamp;

use crate::ids::{DepartmentId, MessageId};
use crate::receipt::ReceiptState;

const PER_OCTAVE: f64 = 4.0;
/// Number of buckets: bucket 0 holds delays under one second; the last reaches past a year.
pub const BUCKETS: usize = 104;

/// A histogram of delays in seconds on a logarithmic scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a histogram from its bucket counts (missing buckets are zero).
    pub fn from_counts(counts: &[u64]) -> Self {
        let mut h = Self::default();
        for (i, c) in counts.iter().take(BUCKETS).enumerate() {
            h.counts[i] = *c;
        }
        h
    }

    /// The bucket counts.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    fn bucket(secs: f64) -> usize {
        if secs < 1.0 {
            0
        } else {
            ((secs.log2() * PER_OCTAVE).floor() as usize + 1).min(BUCKETS - 1)
        }
    }

    fn lower_edge(bucket: usize) -> f64 {
        if bucket == 0 {
            0.0
        } else {
            2f64.powf((bucket - 1) as f64 / PER_OCTAVE)
        }
    }

    fn upper_edge(bucket: usize) -> f64 {
        2f64.powf(bucket as f64 / PER_OCTAVE)
    }

    /// Records one delay (negative delays, from skewed clocks, count as zero).
    pub fn record(&mut self, secs: f64) {
        let b = Self::bucket(secs.max(0.0));
        self.counts[b] += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// How many delays were recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) in seconds, interpolated within its bucket; `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (seen + c) as f64 >= rank {
                let within = (rank - seen as f64) / c as f64;
                let (lo, hi) = (Self::lower_edge(i), Self::upper_edge(i));
                return Some(lo + (hi - lo) * within);
            }
            seen += c;
        }
        Some(Self::upper_edge(BUCKETS - 1))
    }
}

/// One department's figures for one notice: the unit analytics add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepartmentStats {
    /// Recipients in the department.
    pub recipients: u64,
    /// Of them, read.
    pub read: u64,
    /// Of them, acknowledged.
    pub acknowledged: u64,
    /// Reminders sent to them.
    pub reminders: u64,
    /// Escalations about them.
    pub escalations: u64,
    /// Recipients still unread when the notice's deadline passed (0 without a deadline).
    pub unread_at_deadline: u64,
    /// Recipients of notices with a deadline.
    pub with_deadline: u64,
    /// Delays from sending to reading.
    pub read_delays: Histogram,
    /// Delays from sending to acknowledging.
    pub ack_delays: Histogram,
}

impl DepartmentStats {
    /// Adds another notice's (or department's) figures.
    pub fn merge(&mut self, other: &DepartmentStats) {
        self.recipients += other.recipients;
        self.read += other.read;
        self.acknowledged += other.acknowledged;
        self.reminders += other.reminders;
        self.escalations += other.escalations;
        self.unread_at_deadline += other.unread_at_deadline;
        self.with_deadline += other.with_deadline;
        self.read_delays.merge(&other.read_delays);
        self.ack_delays.merge(&other.ack_delays);
    }

    /// Share of recipients who read.
    pub fn read_rate(&self) -> Option<f64> {
        (self.recipients > 0).then(|| self.read as f64 / self.recipients as f64)
    }

    /// Share of recipients who acknowledged.
    pub fn ack_rate(&self) -> Option<f64> {
        (self.recipients > 0).then(|| self.acknowledged as f64 / self.recipients as f64)
    }
}

/// One notice's figures for one department (live or kept by retention).
#[derive(Debug, Clone)]
pub struct MessageDepartmentStats {
    /// The notice.
    pub message_id: MessageId,
    /// When it was sent.
    pub created_at: Timestamp,
    /// The department (of the recipients at send time).
    pub department_id: DepartmentId,
    /// The figures.
    pub stats: DepartmentStats,
}

/// One live receipt as the analytics fold reads it.
#[derive(Debug, Clone)]
pub struct LiveReceipt {
    /// The notice.
    pub message_id: MessageId,
    /// The recipient's department at send time.
    pub department_id: DepartmentId,
    /// When the notice was sent.
    pub created_at: Timestamp,
    /// The notice's deadline, if any.
    pub deadline: Option<Timestamp>,
    /// The receipt's state.
    pub state: ReceiptState,
    /// When it was read.
    pub read_at: Option<Timestamp>,
    /// When it was acknowledged.
    pub acked_at: Option<Timestamp>,
    /// Reminders sent for it.
    pub reminders: i64,
    /// Whether it was escalated.
    pub escalated: bool,
}

/// Folds live receipts, streamed one at a time, into per-notice, per-department figures:
/// what the analytics show of live notices and what retention keeps when it purges their
/// per-person rows, so figures before and after a purge agree. Memory grows with the
/// groups, never with the receipts: a year of notices to a large organisation is millions
/// of rows, and holding them all at once made the server's memory climb with every
/// analytics request (see the soak in BENCHMARKS.md).
#[derive(Debug, Default)]
pub struct LiveStatsFold {
    by_key: HashMap<(MessageId, DepartmentId), MessageDepartmentStats>,
}

impl LiveStatsFold {
    /// Counts one receipt; deadlines later than `now` do not count yet.
    pub fn add(&mut self, r: LiveReceipt, now: Timestamp) {
        let entry = self
            .by_key
            .entry((r.message_id, r.department_id))
            .or_insert_with(|| MessageDepartmentStats {
                message_id: r.message_id,
                created_at: r.created_at,
                department_id: r.department_id,
                stats: DepartmentStats::default(),
            });
        let s = &mut entry.stats;
        s.recipients += 1;
        if r.state.is_read() {
            s.read += 1;
        }
        if r.state == ReceiptState::Acknowledged {
            s.acknowledged += 1;
        }
        s.reminders += r.reminders.max(0) as u64;
        if r.escalated {
            s.escalations += 1;
        }
        if let Some(deadline) = r.deadline.filter(|d| *d <= now) {
            s.with_deadline += 1;
            if r.read_at.is_none_or(|t| t > deadline) {
                s.unread_at_deadline += 1;
            }
        }
        if let Some(t) = r.read_at {
            s.read_delays
                .record(t.duration_since(r.created_at).as_secs_f64());
        }
        if let Some(t) = r.acked_at {
            s.ack_delays
                .record(t.duration_since(r.created_at).as_secs_f64());
        }
    }

    /// The figures, one per notice and department.
    pub fn finish(self) -> Vec<MessageDepartmentStats> {
        self.by_key.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let mut h = Histogram::new();
        for s in [10.0, 20.0, 30.0, 40.0, 1000.0] {
            h.record(s);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((25.0..=36.0).contains(&p50), "{p50}");
        let p90 = h.quantile(0.9).unwrap();
        assert!((800.0..=1200.0).contains(&p90), "{p90}");
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn merging_is_adding_counts() {
        let mut a = Histogram::new();
        a.record(5.0);
        let mut b = Histogram::new();
        b.record(500.0);
        a.merge(&b);
        assert_eq!(a.total(), 2);
        assert_eq!(Histogram::from_counts(a.counts()), a);
    }

    proptest! {
        /// A quantile is within one bucket (about 19 %) of the exact order statistic.
        #[test]
        fn quantiles_are_close_to_exact(mut xs in prop::collection::vec(1.0f64..1e6, 1..200), q in 0.05f64..1.0) {
            let mut h = Histogram::new();
            for x in &xs { h.record(*x); }
            xs.sort_by(f64::total_cmp);
            let exact = xs[((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1];
            let got = h.quantile(q).unwrap();
            prop_assert!(got >= exact / 1.2 && got <= exact * 1.2, "q={q} exact={exact} got={got}");
        }
    }

    #[test]
    fn live_stats_fold_groups_by_notice_and_department_and_counts_passed_deadlines_only() {
        let at = |ms: i64| Timestamp::from_millisecond(ms).unwrap();
        let receipt =
            |department, state, read_at: Option<i64>, deadline: Option<i64>| LiveReceipt {
                message_id: MessageId(7),
                department_id: DepartmentId(department),
                created_at: at(0),
                deadline: deadline.map(at),
                state,
                read_at: read_at.map(at),
                acked_at: None,
                reminders: 2,
                escalated: department == 2,
            };
        let now = at(10_000);
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
}
