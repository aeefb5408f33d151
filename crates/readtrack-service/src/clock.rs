//! The clock every schedule and validation reads, so tests and `--dev-clock` can move time.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// A receiver that changes whenever the clock is moved by hand (never, for the system
    /// clock), so sleepers wake up and look at the new time.
    fn changes(&self) -> watch::Receiver<u64>;
}

/// The operating system's clock.
pub struct SystemClock {
    changes: watch::Sender<u64>,
}

impl SystemClock {
    /// The system clock.
    pub fn new() -> Self {
        Self {
            changes: watch::channel(0).0,
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// The system clock shifted by an offset that can be moved: `--dev-clock` and tests.
/// Time keeps flowing after a move, so the server behaves as it would at that moment.
pub struct AdjustableClock {
    offset_ms: AtomicI64,
    changes: watch::Sender<u64>,
}

impl AdjustableClock {
    /// Starts at the system time.
    pub fn new() -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            changes: watch::channel(0).0,
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Sets the clock to `at` (it then keeps flowing from there).
    pub fn set(&self, at: Timestamp) {
        let offset = at.as_millisecond() - Timestamp::now().as_millisecond();
        self.offset_ms.store(offset, Ordering::SeqCst);
        self.changes.send_modify(|n| *n += 1);
    }
}

impl Default for AdjustableClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> Timestamp {
        let ms = Timestamp::now().as_millisecond() + self.offset_ms.load(Ordering::SeqCst);
        Timestamp::from_millisecond(ms).unwrap_or_else(|_| Timestamp::now())
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_and_keeps_flowing() {
        let clock = AdjustableClock::new();
        let target: Timestamp = "2030-01-01T09:00:00Z".parse().unwrap();
        let changes = clock.changes();
        clock.set(target);
        assert!(changes.has_changed().unwrap());
        let now = clock.now();
        assert!(now >= target && now < target + SignedDuration::from_secs(5));
        clock.advance(SignedDuration::from_mins(90));
        assert!(clock.now() >= target + SignedDuration::from_mins(90));
    }
}
