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

/// How a task queue retries: a fixed list of delay levels (each a delay queue on
/// RabbitMQ, so no worker ever sleeps through a wait), the n-th retry waiting the n-th
/// level shortened by up to `jitter` of it (so a burst of failures does not come back
/// as a burst). Exponential: `initial · factorⁿ`, capped at `max`.
///
/// The levels are computed here rather than by `backoff`, which yields only jittered
/// values (a delay queue needs fixed ones); `backoff` stays the reconnect policy above.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    levels_ms: Vec<u64>,
    jitter: f64,
}

impl RetryPolicy {
    /// Exactly these delays, no jitter (the command queue's `KEFU_RETRY_SCHEDULE_MS`).
    pub fn schedule(levels_ms: Vec<u64>) -> Self {
        Self { levels_ms, jitter: 0.0 }
    }

    /// `retries` delays growing from `initial` by `factor` up to `max`, each shortened
    /// by a random share of at most `jitter` (0–1).
    pub fn exponential(initial: Duration, factor: f64, max: Duration, retries: u32, jitter: f64) -> Self {
        let mut levels_ms = Vec::with_capacity(retries as usize);
        let mut next = initial.as_millis() as f64;
        for _ in 0..retries {
            let level = next.min(max.as_millis() as f64).max(1.0) as u64;
            levels_ms.push(level);
            next *= factor.max(1.0);
        }
        Self {
            levels_ms,
            jitter: jitter.clamp(0.0, 1.0),
        }
    }

    /// The distinct delays (one delay queue each).
    pub fn levels_ms(&self) -> Vec<u64> {
        let mut levels = self.levels_ms.clone();
        levels.sort_unstable();
        levels.dedup();
        levels
    }

    /// How many retries before a task is dead-lettered.
    pub fn retries(&self) -> u32 {
        self.levels_ms.len() as u32
    }

    /// Retry number `retry` (0-based): its level and the jittered wait (≤ the level), or
    /// `None` when the task is out of retries.
    pub fn delay(&self, retry: u32) -> Option<(u64, Duration)> {
        let level = *self.levels_ms.get(retry as usize)?;
        let cut = if self.jitter > 0.0 {
            use rand::Rng;
            rand::thread_rng().gen_range(0.0..=self.jitter)
        } else {
            0.0
        };
        let wait = ((level as f64) * (1.0 - cut)).round().max(1.0) as u64;
        Some((level, Duration::from_millis(wait)))
    }

    /// The total wait across all retries (without jitter): how long a task can keep
    /// failing before it is given up.
    pub fn total(&self) -> Duration {
        Duration::from_millis(self.levels_ms.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_levels_are_capped_and_jittered_downwards() {
        let p = RetryPolicy::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(10), 6, 0.2);
        assert_eq!(p.levels_ms(), vec![1_000, 2_000, 4_000, 8_000, 10_000]);
        assert_eq!(p.retries(), 6);
        for retry in 0..6 {
            let (level, wait) = p.delay(retry).unwrap();
            assert!(wait.as_millis() as u64 <= level && wait.as_millis() as u64 >= level * 8 / 10);
        }
        assert!(p.delay(6).is_none());
        assert_eq!(p.total(), Duration::from_secs(35));
    }

    #[test]
    fn default_task_policy_lasts_a_day() {
        let q = crate::infra::config::Config::default().task_queue("x");
        assert!(
            q.retry.total() >= Duration::from_secs(24 * 3600),
            "{:?}",
            q.retry.total()
        );
        assert_eq!(q.retry.retries(), 36);
    }
}
