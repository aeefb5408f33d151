//! The clock receipts are stamped with.
//!
//! A receipt's `at` is the moment the person saw the notice, on the server's time line:
//! the device's clock corrected by the offset [`ServerClock`] learns from the server's
//! answers. The raw device time goes along with it. The device clock is injectable so
//! tests (and apps that know better) can supply another one: [`OffsetClock`] shifts the
//! system clock, which is how a test plays a device whose clock runs ahead or behind.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

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

/// How long a learned offset is trusted before any new sample may replace it, whatever
/// its round trip: a device clock drifts (and is sometimes set by hand).
const SAMPLE_TRUSTED_FOR: SignedDuration = SignedDuration::from_mins(10);

/// The header every readtrack answer carries: the server's clock when it answered.
pub const SERVER_TIME_HEADER: &str = "x-server-time";

/// One estimate of the server clock's offset from the device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSample {
    /// Server minus device.
    pub offset: SignedDuration,
    /// The round trip it was measured over; half of it bounds the error.
    pub round_trip: SignedDuration,
    /// When it was taken, by the device's clock.
    pub taken_at: Timestamp,
}

/// The server's clock as this device knows it: the device clock plus an offset learned
/// from the server's answers, the way NTP does it. Each answer says when the server
/// answered ([`SERVER_TIME_HEADER`]); with the device's times of sending and receiving,
/// the server's time is taken to be at the middle of the round trip, so the error is at
/// most half the round trip. The sample with the shortest round trip wins, until it is
/// [`SAMPLE_TRUSTED_FOR`] old or a newer one disagrees with it by more than both their
/// errors (the device clock was set).
///
/// Receipts are stamped with this clock, so a device whose clock lags or leads the
/// server's still reports the moment on the server's time line, and carry the raw device
/// time beside it.
#[derive(Debug)]
pub struct ServerClock {
    device: Arc<dyn Clock>,
    best: Mutex<Option<OffsetSample>>,
}

impl ServerClock {
    /// A clock that knows no offset yet, over the `device` clock.
    pub fn new(device: Arc<dyn Clock>) -> Self {
        Self {
            device,
            best: Mutex::new(None),
        }
    }

    /// The device's own time.
    pub fn device_now(&self) -> Timestamp {
        self.device.now()
    }

    /// `device` (a reading of the device clock) on the server's time line, as far as it
    /// is known: unchanged until an offset was learned.
    pub fn correct(&self, device: Timestamp) -> Timestamp {
        match self.offset() {
            Some(offset) => device.saturating_add(offset).unwrap_or(device),
            None => device,
        }
    }

    /// The learned offset (server minus device), if any.
    pub fn offset(&self) -> Option<SignedDuration> {
        self.sample().map(|s| s.offset)
    }

    /// The sample in use, if any.
    pub fn sample(&self) -> Option<OffsetSample> {
        *self.best.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Learns from one answer: the device sent the request at `sent` and had the answer
    /// at `received`; the server said it was `server`.
    pub fn observe(&self, sent: Timestamp, received: Timestamp, server: Timestamp) {
        let round_trip = received.duration_since(sent);
        if round_trip.is_negative() {
            // The device clock was set back in between: nothing can be learned.
            return;
        }
        let middle = sent.saturating_add(round_trip / 2).unwrap_or(sent);
        let sample = OffsetSample {
            offset: server.duration_since(middle),
            round_trip,
            taken_at: received,
        };
        let mut best = self.best.lock().unwrap_or_else(|p| p.into_inner());
        if best.is_none_or(|b| replaces(&b, &sample)) {
            *best = Some(sample);
        }
    }

    /// Starts from an offset learned earlier (kept by the app between runs). Any fresh
    /// answer replaces it.
    pub fn restore(&self, offset: SignedDuration) {
        let mut best = self.best.lock().unwrap_or_else(|p| p.into_inner());
        if best.is_none() {
            *best = Some(OffsetSample {
                offset,
                round_trip: SignedDuration::MAX,
                taken_at: Timestamp::MIN,
            });
        }
    }
}

impl Clock for ServerClock {
    fn now(&self) -> Timestamp {
        self.correct(self.device.now())
    }
}

/// Whether `new` should replace `old`.
fn replaces(old: &OffsetSample, new: &OffsetSample) -> bool {
    let age = new.taken_at.duration_since(old.taken_at);
    let disagreement = (new.offset - old.offset).abs();
    let errors = (old.round_trip / 2)
        .saturating_add(new.round_trip / 2)
        .saturating_add(SignedDuration::from_secs(1));
    new.round_trip <= old.round_trip
        || age.is_negative()
        || age >= SAMPLE_TRUSTED_FOR
        || disagreement > errors
}

/// Parses the server's [`SERVER_TIME_HEADER`].
pub fn parse_server_time(value: &str) -> Option<Timestamp> {
    value.trim().parse().ok()
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

    fn at(s: &str) -> Timestamp {
        s.parse().expect("valid time")
    }

    /// A device clock stopped at a given instant.
    #[derive(Debug)]
    struct Fixed(Timestamp);
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    #[test]
    fn the_offset_is_taken_at_the_middle_of_the_round_trip() {
        let device = at("2026-12-07T09:00:00Z");
        let clock = ServerClock::new(Arc::new(Fixed(device)));
        assert_eq!(clock.now(), device, "nothing learned: the device's time");
        // Sent at 09:00:00, answered at 09:00:00.200; the server said 09:04:00.100: the
        // device is four minutes behind.
        clock.observe(
            device,
            at("2026-12-07T09:00:00.200Z"),
            at("2026-12-07T09:04:00.100Z"),
        );
        assert_eq!(clock.offset(), Some(SignedDuration::from_mins(4)));
        assert_eq!(clock.now(), at("2026-12-07T09:04:00Z"));
        assert_eq!(clock.device_now(), device);
    }

    #[test]
    fn a_shorter_round_trip_wins_until_it_is_old_or_contradicted() {
        let clock = ServerClock::new(Arc::new(SystemClock));
        let t = at("2026-12-07T09:00:00Z");
        let ms = SignedDuration::from_millis;
        let sample = |sent: Timestamp, rtt: i64, offset: i64| {
            (sent, sent + ms(rtt), sent + ms(rtt / 2) + ms(offset))
        };
        let (s, r, v) = sample(t, 40, 1_000);
        clock.observe(s, r, v);
        // A slower answer a second later is less exact: kept out.
        let (s, r, v) = sample(t + ms(1_000), 400, 1_150);
        clock.observe(s, r, v);
        assert_eq!(clock.offset(), Some(ms(1_000)));
        // A faster one replaces it.
        let (s, r, v) = sample(t + ms(2_000), 10, 1_010);
        clock.observe(s, r, v);
        assert_eq!(clock.offset(), Some(ms(1_010)));
        // The device clock was set: the offsets differ by more than both errors.
        let (s, r, v) = sample(t + ms(3_000), 300, -60_000);
        clock.observe(s, r, v);
        assert_eq!(clock.offset(), Some(ms(-60_000)));
        // Ten minutes on, any answer refreshes the estimate.
        let (s, r, v) = sample(t + SignedDuration::from_mins(11), 900, -60_200);
        clock.observe(s, r, v);
        assert_eq!(clock.offset(), Some(ms(-60_200)));
        // A round trip the device clock ran backwards through teaches nothing.
        clock.observe(t + ms(5_000), t, t);
        assert_eq!(clock.offset(), Some(ms(-60_200)));
    }

    #[test]
    fn a_restored_offset_serves_until_the_first_answer() {
        let clock = ServerClock::new(Arc::new(SystemClock));
        clock.restore(SignedDuration::from_mins(-3));
        assert_eq!(clock.offset(), Some(SignedDuration::from_mins(-3)));
        let t = at("2026-12-07T09:00:00Z");
        clock.observe(
            t,
            t + SignedDuration::from_secs(2),
            t + SignedDuration::from_secs(61),
        );
        assert_eq!(clock.offset(), Some(SignedDuration::from_secs(60)));
        clock.restore(SignedDuration::from_mins(-3));
        assert_eq!(
            clock.offset(),
            Some(SignedDuration::from_secs(60)),
            "a stored offset never overrides a measured one"
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
