//! Throttling of credential guessing: log-in and password reset attempts per account and
//! per client address, and sign-ups per client address (GCRA token buckets, in memory
//! per replica).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::AppError;

/// Limits attempts per account and per address, and sign-ups per address.
pub struct Throttle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<String>,
    /// Sign-ups have their own bucket: signing up many people from one office must not
    /// lock that address out of logging in, and log-ins must not use up its sign-ups.
    sign_ups: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn per_minute(count: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(count.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Throttle {
    pub fn new(
        per_account_per_minute: u32,
        per_address_per_minute: u32,
        sign_ups_per_address_per_minute: u32,
    ) -> Self {
        Throttle {
            per_account: RateLimiter::keyed(per_minute(per_account_per_minute)),
            per_address: RateLimiter::keyed(per_minute(per_address_per_minute)),
            sign_ups: RateLimiter::keyed(per_minute(sign_ups_per_address_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt on `account` (normalised by the caller) from `address`;
    /// `RATE_LIMITED` with the wait when either bucket is empty.
    pub fn attempt(&self, account: &str, address: Option<&str>) -> Result<(), AppError> {
        if let Some(address) = address
            && let Err(not_until) = self.per_address.check_key(&address.to_owned())
        {
            return Err(self.limited(not_until.wait_time_from(self.clock.now())));
        }
        if let Err(not_until) = self.per_account.check_key(&account.to_owned()) {
            return Err(self.limited(not_until.wait_time_from(self.clock.now())));
        }
        Ok(())
    }

    /// Counts one attempt from `address` alone (when no account is named).
    pub fn attempt_from(&self, address: &str) -> Result<(), AppError> {
        self.per_address
            .check_key(&address.to_owned())
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Counts one sign-up from `address`. Without email verification `signUp` tells
    /// whether an email has an account, so this bucket is what slows that probing down.
    pub fn sign_up_from(&self, address: &str) -> Result<(), AppError> {
        self.sign_ups
            .check_key(&address.to_owned())
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    fn limited(&self, wait: Duration) -> AppError {
        AppError::RateLimited {
            retry_after: wait.max(Duration::from_secs(1)),
        }
    }

    /// Forgets idle keys so the maps stay bounded.
    pub fn shrink(&self) {
        for limiter in [&self.per_account, &self.per_address, &self.sign_ups] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_its_quota_and_others_are_not() {
        let throttle = Throttle::new(3, 100, 100);
        for _ in 0..3 {
            assert!(
                throttle
                    .attempt("ann@example.com", Some("10.0.0.1"))
                    .is_ok()
            );
        }
        let refused = throttle.attempt("ann@example.com", Some("10.0.0.2"));
        assert!(
            matches!(refused, Err(AppError::RateLimited { retry_after }) if retry_after >= Duration::from_secs(1))
        );
        assert!(
            throttle
                .attempt("bob@example.com", Some("10.0.0.1"))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let throttle = Throttle::new(100, 2, 100);
        assert!(throttle.attempt("a@example.com", Some("10.0.0.1")).is_ok());
        assert!(throttle.attempt("b@example.com", Some("10.0.0.1")).is_ok());
        assert!(throttle.attempt("c@example.com", Some("10.0.0.1")).is_err());
        assert!(throttle.attempt("c@example.com", Some("10.0.0.9")).is_ok());
    }

    #[test]
    fn sign_ups_have_their_own_bucket_per_address() {
        let throttle = Throttle::new(100, 2, 2);
        assert!(throttle.sign_up_from("10.0.0.1").is_ok());
        assert!(throttle.sign_up_from("10.0.0.1").is_ok());
        assert!(matches!(
            throttle.sign_up_from("10.0.0.1"),
            Err(AppError::RateLimited { .. })
        ));
        assert!(throttle.sign_up_from("10.0.0.2").is_ok());
        // The address's log-in budget is untouched, and using it leaves sign-ups alone.
        assert!(throttle.attempt("a@example.com", Some("10.0.0.2")).is_ok());
        assert!(throttle.attempt("b@example.com", Some("10.0.0.2")).is_ok());
        assert!(throttle.sign_up_from("10.0.0.2").is_ok());
    }
}
