//! The clock receipts are stamped with.
//!
//! A receipt's `at` is the device's own time, the moment the person saw the notice. The
//! clock is injectable so tests (and apps that know better) can supply another one:
//! [`OffsetClock`] shifts the system clock, which is how a test plays a device whose
//! clock runs ahead of the server's.

use std::fmt::Debug;

use jiff::{SignedDuration, Timestamp};

/// A source of "now".
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The device's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The device's clock shifted by a fixed offset (positive: ahead).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    /// Added to the system time.
    pub offset: SignedDuration,
}

impl OffsetClock {
    /// A clock `offset` ahead of (or, if negative, behind) the system clock.
    pub fn new(offset: SignedDuration) -> Self {
        Self { offset }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        // Saturating: an absurd offset must not panic the app.
        Timestamp::now()
            .saturating_add(self.offset)
            .unwrap_or(Timestamp::MAX)
    }
}

/// `t` cut to whole milliseconds, the precision the server keeps, so a time read back
/// from the server compares equal to the one recorded.
pub fn to_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_runs_ahead_by_its_offset() {
        let ahead = OffsetClock::new(SignedDuration::from_mins(10)).now();
        let diff = ahead.duration_since(Timestamp::now());
        assert!(
            diff > SignedDuration::from_mins(9) && diff <= SignedDuration::from_mins(10),
            "{diff:?}"
        );
    }

    #[test]
    fn times_are_cut_to_milliseconds() {
        let t: Timestamp = "2026-11-28T09:00:00.123456789Z"
            .parse()
            .expect("valid time");
        assert_eq!(to_millis(t).to_string(), "2026-11-28T09:00:00.123Z");
    }
}
