//! The login rate limit: per client IP and per account, GCRA via `governor`. State is per process
//! (each API replica limits on its own).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

#[derive(Clone)]
pub struct LoginLimiter {
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl LoginLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip_per_minute))),
            per_account: Arc::new(RateLimiter::keyed(quota(per_account_per_minute))),
            clock: DefaultClock::default(),
        }
    }

    /// Count one attempt; `Err(seconds)` says how long to wait when over the limit.
    pub fn check(&self, ip: &str, account: &str) -> Result<(), u64> {
        let wait = |nu: governor::NotUntil<_>| {
            let d = nu.wait_time_from(self.clock.now());
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        };
        self.per_ip.check_key(&ip.to_owned()).map_err(wait)?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(wait)?;
        Ok(())
    }

    /// Forget keys whose limits have fully recovered (bounds memory).
    pub fn retain_recent(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_and_per_ip() {
        let l = LoginLimiter::new(100, 2);
        assert!(l.check("1.1.1.1", "a@x").is_ok());
        assert!(l.check("2.2.2.2", "a@x").is_ok());
        let wait = l.check("3.3.3.3", "a@x").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check("3.3.3.3", "b@x").is_ok());

        let l = LoginLimiter::new(2, 100);
        assert!(l.check("1.1.1.1", "a@x").is_ok());
        assert!(l.check("1.1.1.1", "b@x").is_ok());
        assert!(l.check("1.1.1.1", "c@x").is_err());
        assert!(l.check("9.9.9.9", "c@x").is_ok());
    }
}
