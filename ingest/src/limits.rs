//! Abuse limits, per ingest process: request rates (GCRA, `governor`) per session and
//! per app, agent-login failures per agent and per client address, and the bounded
//! pool argon2 checks run in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kefu_common::config::Config;
use tokio::sync::Semaphore;

/// The longest a failed login is slowed down.
const MAX_SLOWDOWN: Duration = Duration::from_secs(5);

pub struct Limits {
    sessions: Option<DefaultKeyedRateLimiter<String>>,
    apps: Option<DefaultKeyedRateLimiter<i64>>,
    clock: DefaultClock,
    pub logins: Logins,
    /// Argon2 checks wait here for a permit: a flood of logins queues instead of
    /// growing the blocking pool by 19 MiB per check.
    pub hashing: std::sync::Arc<Semaphore>,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(rate: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(rate).map(|rate| {
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
    })
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            sessions: keyed(config.session_rate_per_sec, config.session_rate_burst),
            apps: keyed(config.app_rate_per_sec, config.app_rate_burst),
            clock: DefaultClock::default(),
            logins: Logins::from_config(config),
            hashing: std::sync::Arc::new(Semaphore::new(config.password_hash_permits())),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<K>>,
        key: &K,
    ) -> Result<(), Duration> {
        match limiter {
            Some(limiter) => limiter
                .check_key(key)
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
            None => Ok(()),
        }
    }

    /// `Err(wait)` when this session is over its rate.
    pub fn check_session(&self, token: &str) -> Result<(), Duration> {
        self.check(&self.sessions, &token.to_owned())
    }

    /// `Err(wait)` when this app is over its rate.
    pub fn check_app(&self, app_id: i64) -> Result<(), Duration> {
        self.check(&self.apps, &app_id)
    }

    /// Forgets keys that have been quiet long enough to be back at full burst, and
    /// login failures past their window.
    pub fn prune(&self) {
        for limiter in [&self.sessions].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.apps {
            limiter.retain_recent();
        }
        self.logins.prune();
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// The latest attempt: failures are forgotten after a window without any.
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed agent logins. An attempt is counted when it starts (so parallel guesses
/// cannot slip past the limit) and forgiven when the password was right.
pub struct Logins {
    agents: Mutex<HashMap<String, Failures>>,
    sources: Mutex<HashMap<IpAddr, Failures>>,
    max_agent: u32,
    max_source: u32,
    window: Duration,
    slow: Duration,
}

/// A login attempt under way; `succeeded` forgives it.
pub struct Attempt {
    agent: String,
    source: Option<IpAddr>,
    /// How long to hold back the answer if the password turns out wrong.
    pub slowdown: Duration,
}

impl Logins {
    fn from_config(config: &Config) -> Self {
        Self {
            agents: Mutex::default(),
            sources: Mutex::default(),
            max_agent: config.login_max_failures,
            max_source: config.login_source_max_failures,
            window: Duration::from_secs(config.login_lock_secs),
            slow: Duration::from_millis(config.login_slow_ms),
        }
    }

    /// Starts an attempt, or `Err(wait)` while the agent or the source is locked.
    pub fn begin(&self, agent: &str, source: Option<IpAddr>) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut agents = self.agents.lock().expect("login table");
        let mut sources = self.sources.lock().expect("login table");
        let agent_entry = agents.get(agent).copied();
        let source_entry = source.and_then(|s| sources.get(&s).copied());
        let wait = [agent_entry, source_entry]
            .into_iter()
            .flatten()
            .filter_map(|f| f.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        let count = count_attempt(agents.entry(agent.to_owned()), now, self.window, self.max_agent);
        if let Some(source) = source {
            count_attempt(sources.entry(source), now, self.window, self.max_source);
        }
        let slowdown = (self.slow * count.saturating_sub(1)).min(MAX_SLOWDOWN);
        Ok(Attempt {
            agent: agent.to_owned(),
            source,
            slowdown,
        })
    }

    /// The password was right: the attempt is not a failure, and the agent's earlier
    /// failures are forgiven (the source's are not: it may be guessing many agents).
    pub fn succeeded(&self, attempt: Attempt) {
        self.agents.lock().expect("login table").remove(&attempt.agent);
        if let Some(source) = attempt.source {
            if let Some(f) = self.sources.lock().expect("login table").get_mut(&source) {
                f.count = f.count.saturating_sub(1);
                if f.count < self.max_source {
                    f.locked_until = None;
                }
            }
        }
    }

    /// The attempt could not be judged (the database was unreachable): it does not count.
    pub fn abandon(&self, attempt: Attempt) {
        let undo = |f: &mut Failures, max: u32| {
            f.count = f.count.saturating_sub(1);
            if max == 0 || f.count < max {
                f.locked_until = None;
            }
        };
        if let Some(f) = self.agents.lock().expect("login table").get_mut(&attempt.agent) {
            undo(f, self.max_agent);
        }
        if let Some(source) = attempt.source {
            if let Some(f) = self.sources.lock().expect("login table").get_mut(&source) {
                undo(f, self.max_source);
            }
        }
    }

    fn prune(&self) {
        let now = Instant::now();
        let stale = |f: &Failures| now.duration_since(f.last) > self.window && f.locked_until.is_none_or(|u| u <= now);
        self.agents.lock().expect("login table").retain(|_, f| !stale(f));
        self.sources.lock().expect("login table").retain(|_, f| !stale(f));
    }
}

/// Counts one attempt in its window; locks the key once it reaches `max` (0: never).
fn count_attempt<K>(
    entry: std::collections::hash_map::Entry<'_, K, Failures>,
    now: Instant,
    window: Duration,
    max: u32,
) -> u32 {
    let f = entry.or_insert(Failures {
        count: 0,
        last: now,
        locked_until: None,
    });
    if now.duration_since(f.last) > window && f.locked_until.is_none_or(|u| u <= now) {
        *f = Failures {
            count: 0,
            last: now,
            locked_until: None,
        };
    }
    f.last = now;
    f.count += 1;
    if max > 0 && f.count >= max {
        f.locked_until = Some(now + window);
    }
    f.count
}
