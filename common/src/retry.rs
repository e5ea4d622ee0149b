//! The one place that uses the `backoff` crate (RUSTSEC-2025-0012: unmaintained), so it
//! can be swapped without touching callers.

use std::time::Duration;

use backoff::backoff::Backoff as _;
use backoff::ExponentialBackoff;

/// Growing, jittered delays between reconnect attempts (200 ms up to 5 s, forever).
#[derive(Debug)]
pub struct Backoff(ExponentialBackoff);

impl Backoff {
    pub fn reconnect() -> Self {
        Self(ExponentialBackoff {
            initial_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        })
    }

    /// Short delays for re-trying one operation inside its deadline.
    pub fn quick() -> Self {
        Self(ExponentialBackoff {
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(1),
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        })
    }

    pub fn next_delay(&mut self) -> Duration {
        self.0.next_backoff().unwrap_or(self.0.max_interval)
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }
}
