//! Request rate limits (GCRA, `governor`): per session, before the session is even
//! looked up, so a flood costs no database work.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kefu_common::config::Config;

pub struct Limits {
    sessions: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        let sessions = NonZeroU32::new(config.session_rate_per_sec).map(|rate| {
            let burst = NonZeroU32::new(config.session_rate_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            sessions,
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when this session is over its rate.
    pub fn check_session(&self, token: &str) -> Result<(), Duration> {
        match &self.sessions {
            Some(limiter) => limiter
                .check_key(&token.to_owned())
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => Ok(()),
        }
    }

    /// Forgets sessions that have been quiet long enough to be back at full burst.
    pub fn prune(&self) {
        if let Some(limiter) = &self.sessions {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}
