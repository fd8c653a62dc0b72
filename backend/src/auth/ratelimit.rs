//! Rate limits of the account endpoints, GCRA via `governor`, per process (each API replica limits on
//! its own). Logins are limited per client IP, per account *and* IP (strict: guessing from one place
//! stops quickly), and per account from anywhere (lenient: a distributed guess is slowed, but nobody
//! locks a victim out from one address). Password changes are limited per user.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Whole seconds until a refused call may be retried (rounded up).
pub fn wait_secs(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    let d = not_until.wait_time_from(DefaultClock::default().now());
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

#[derive(Clone)]
pub struct LoginLimiter {
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
    per_account_ip: Arc<DefaultKeyedRateLimiter<(String, String)>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginLimiter {
    pub fn new(per_ip: u32, per_account_ip: u32, per_account: u32) -> Self {
        LoginLimiter {
            per_ip: Arc::new(RateLimiter::keyed(per_minute(per_ip))),
            per_account_ip: Arc::new(RateLimiter::keyed(per_minute(per_account_ip))),
            per_account: Arc::new(RateLimiter::keyed(per_minute(per_account))),
        }
    }

    /// Count one attempt; `Err(seconds)` says how long to wait when over a limit.
    pub fn check(&self, ip: &str, account: &str) -> Result<(), u64> {
        let ip = &address_key(ip);
        self.per_ip
            .check_key(&ip.to_owned())
            .map_err(|n| wait_secs(&n))?;
        self.per_account_ip
            .check_key(&(account.to_owned(), ip.to_owned()))
            .map_err(|n| wait_secs(&n))?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|n| wait_secs(&n))?;
        Ok(())
    }

    /// Forget keys whose limits have fully recovered (bounds memory).
    pub fn retain_recent(&self) {
        self.per_ip.retain_recent();
        self.per_account_ip.retain_recent();
        self.per_account.retain_recent();
    }
}

/// The key of a client address: an IPv6 address counts as its /64 (one site hands out a whole /64,
/// so limiting single addresses would limit nothing).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

/// Password changes per user.
pub type UserLimiter = Arc<DefaultKeyedRateLimiter<common::UserId>>;

pub fn user_limiter(per_hour: u32) -> UserLimiter {
    Arc::new(RateLimiter::keyed(Quota::per_hour(
        NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_lock_an_account_out_for_everyone() {
        let l = LoginLimiter::new(1000, 2, 5);
        // the attacker's address runs out for this account
        assert!(l.check("6.6.6.6", "victim@x").is_ok());
        assert!(l.check("6.6.6.6", "victim@x").is_ok());
        let wait = l.check("6.6.6.6", "victim@x").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // the victim, elsewhere, still logs in
        assert!(l.check("1.1.1.1", "victim@x").is_ok());
        // a guess spread over many addresses meets the lenient account-wide limit
        assert!(l.check("2.2.2.2", "victim@x").is_ok());
        assert!(l.check("3.3.3.3", "victim@x").is_ok());
        assert!(l.check("4.4.4.4", "victim@x").is_err());
        // other accounts are untouched
        assert!(l.check("6.6.6.6", "other@x").is_ok());
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        let l = LoginLimiter::new(1, 100, 100);
        assert!(l.check("2001:db8:1:2::1", "a@x").is_ok());
        assert!(l.check("2001:db8:1:2::2", "b@x").is_err(), "the same /64");
        assert!(l.check("2001:db8:1:3::1", "b@x").is_ok());
    }

    #[test]
    fn limits_per_ip() {
        let l = LoginLimiter::new(2, 100, 100);
        assert!(l.check("1.1.1.1", "a@x").is_ok());
        assert!(l.check("1.1.1.1", "b@x").is_ok());
        assert!(l.check("1.1.1.1", "c@x").is_err());
        assert!(l.check("9.9.9.9", "c@x").is_ok());
    }
}
