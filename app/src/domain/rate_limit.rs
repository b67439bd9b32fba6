//! Token buckets for sensitive routes (SPEC §7), keyed on account + client
//! IP. Limits are per process; memory stays bounded by `retain_recent`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::model::AppError;

pub struct RateLimits {
    enabled: bool,
    /// Sign-in attempts: a burst of 5, then one every 12 s.
    pub sign_in: DefaultKeyedRateLimiter<String>,
    /// Sign-ups: a burst of 5, then one every 12 s.
    pub sign_up: DefaultKeyedRateLimiter<String>,
    /// API key minting: a burst of 10, then one every 6 s.
    pub mint_key: DefaultKeyedRateLimiter<String>,
    /// Second-factor checks (TOTP and recovery codes, passkey assertions,
    /// the password before a first factor): a burst of 5, then one every 12 s.
    pub verify: DefaultKeyedRateLimiter<String>,
    /// Chat messages (`POST …/messages`): 60 a minute per user + IP.
    pub chat: DefaultKeyedRateLimiter<String>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).expect("non-zero quota"))
}

impl RateLimits {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            sign_in: RateLimiter::keyed(per_minute(5)),
            sign_up: RateLimiter::keyed(per_minute(5)),
            mint_key: RateLimiter::keyed(per_minute(10)),
            verify: RateLimiter::keyed(per_minute(5)),
            chat: RateLimiter::keyed(per_minute(60)),
        }
    }

    /// Takes one token from `limiter` for `key`, or says how long to wait.
    pub fn check(&self, limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        match limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
                Err(AppError::too_many_requests(wait.as_secs().max(1)))
            }
        }
    }

    /// Takes one token, or answers how long to wait (for answers that are
    /// not the envelope, such as the chat's).
    pub fn wait_for(&self, limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        limiter.check_key(&key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops idle keys; called periodically so memory stays bounded.
    pub fn retain_recent(&self) {
        self.sign_in.retain_recent();
        self.verify.retain_recent();
        self.sign_up.retain_recent();
        self.mint_key.retain_recent();
        self.chat.retain_recent();
    }
}
