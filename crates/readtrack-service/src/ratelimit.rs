//! Rate limits: token buckets per account, address and token, so that guessing passwords
//! and flooding the server cost the attacker time, not the server its memory.
//!
//! Buckets live in memory on each node; several nodes behind a load balancer each apply
//! the limit, which bounds abuse per node and is the usual trade for not putting a shared
//! counter on the hot path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Result, ServiceError};

/// One limit: `burst` actions at once, refilled at `burst` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// How many actions may happen back to back.
    pub burst: u32,
    /// The window over which `burst` refills.
    pub per: Duration,
}

/// `N/SECONDS`, as the flags and the configuration file write a limit.
impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.burst, self.per.as_secs())
    }
}

impl Limit {
    /// `burst` per `secs` seconds.
    pub const fn per_secs(burst: u32, secs: u64) -> Self {
        Self {
            burst,
            per: Duration::from_secs(secs),
        }
    }
}

/// The limits a server applies; each can be tuned in configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sign-in attempts per account.
    pub login_per_account: Limit,
    /// Sign-in attempts per client address.
    pub login_per_address: Limit,
    /// Notices sent per token.
    pub sends_per_token: Limit,
    /// Receipt requests (HTTP or WebSocket batches) per token; relay tokens are exempt,
    /// being one gateway for many people.
    pub receipts_per_token: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_account: Limit::per_secs(10, 300),
            login_per_address: Limit::per_secs(50, 300),
            sends_per_token: Limit::per_secs(300, 60),
            receipts_per_token: Limit::per_secs(600, 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A set of token buckets for one kind of action.
pub struct RateLimiter {
    limit: Limit,
    /// A std mutex: held for a map lookup and a little arithmetic, never across an await.
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// A limiter applying `limit` per key.
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one action for `key`, or says how long to wait.
    pub fn check(&self, key: &str, what: &str) -> Result<()> {
        let now = Instant::now();
        let rate = f64::from(self.limit.burst) / self.limit.per.as_secs_f64().max(0.001);
        let burst = f64::from(self.limit.burst);
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_BUCKETS {
            // Drop buckets that have refilled: they carry no information.
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.updated).as_secs_f64() * rate).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
            metrics::counter!("readtrack_rate_limited_total", "what" => what.to_string())
                .increment(1);
            Err(ServiceError::RateLimited {
                retry_after_secs: wait,
                message: format!("too many {what}; try again in {wait} s"),
            })
        }
    }
}

/// The limiters of an app.
pub struct RateLimiters {
    /// Sign-ins by account.
    pub login_account: RateLimiter,
    /// Sign-ins by address.
    pub login_address: RateLimiter,
    /// Sends by token.
    pub sends: RateLimiter,
    /// Receipt batches by token.
    pub receipts: RateLimiter,
}

impl RateLimiters {
    /// Limiters for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            login_account: RateLimiter::new(limits.login_per_account),
            login_address: RateLimiter::new(limits.login_per_address),
            sends: RateLimiter::new(limits.sends_per_token),
            receipts: RateLimiter::new(limits.receipts_per_token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let l = RateLimiter::new(Limit::per_secs(3, 60));
        for _ in 0..3 {
            assert!(l.check("a", "tries").is_ok());
        }
        match l.check("a", "tries") {
            Err(ServiceError::RateLimited {
                retry_after_secs, ..
            }) => assert!((1..=20).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
        assert!(l.check("b", "tries").is_ok(), "keys are independent");
    }
}
