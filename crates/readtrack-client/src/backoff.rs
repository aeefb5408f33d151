//! Exponential backoff with jitter, honouring the server's `Retry-After`.

use std::time::Duration;

/// Delays between retries: doubling from `base` up to `max`, each drawn at random from
/// its upper half ("equal jitter") so that many clients coming back at once spread out
/// instead of hammering the server in step, while none retries almost at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

/// The longest `Retry-After` honoured: a misconfigured server must not park a client
/// for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(60))
    }
}

impl Backoff {
    /// Starts at `base` and never exceeds `max` (unless the server asks for longer).
    pub fn new(base: Duration, max: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next retry. `retry_after` (the server's wish) is a floor.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let exp = self.attempt.min(30);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.base.saturating_mul(1u32 << exp.min(20)).min(self.max);
        let ceiling_ms = ceiling.as_millis().min(u128::from(u64::MAX)) as u64;
        let jittered = Duration::from_millis(rand::random_range(ceiling_ms / 2..=ceiling_ms));
        match retry_after {
            Some(wish) => jittered.max(wish.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Retries since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_stay_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let expected_ceilings = [100, 200, 400, 800, 1000, 1000];
        for ceiling in expected_ceilings {
            let d = b.next_delay(None).as_millis() as u64;
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{d} not in [{}, {ceiling}]",
                ceiling / 2
            );
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert!(b.next_delay(Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }

    #[test]
    fn a_reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for _ in 0..8 {
            b.next_delay(None);
        }
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_millis(100));
    }
}
