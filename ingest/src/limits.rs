//! Abuse limits: request rates (GCRA, `governor`, per ingest process) per session and
//! per app, agent-login failures per agent and per client address (in the database,
//! shared by every ingest), and the bounded pool argon2 checks run in.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kefu_common::infra::config::Config;
use kefu_common::now_ms;
use kefu_common::store::login_locks::{self, Lock, Policy, Scope};
use sea_orm::{DatabaseConnection, DbErr};
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

    /// Forgets keys that have been quiet long enough to be back at full burst.
    pub fn prune(&self) {
        for limiter in [&self.sessions].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.apps {
            limiter.retain_recent();
        }
    }
}

/// Failed agent logins and admin tokens, counted in the database
/// (`kefu_common::store::login_locks`), and how much a failure is slowed down.
pub struct Logins {
    pub policy: Policy,
    slow: Duration,
}

/// A login attempt under way, already counted; `succeeded` forgives it.
pub struct Attempt {
    agent: String,
    address: String,
    /// How long to hold back the answer if the password turns out wrong.
    pub slowdown: Duration,
    /// How long to wait before checking at all: the agent failed too often overall.
    pub delay: Duration,
}

/// The address failures are counted for when the peer is unknown (never in `serve`).
const UNKNOWN_ADDRESS: &str = "unknown";

impl Logins {
    fn from_config(config: &Config) -> Self {
        Self {
            policy: Policy::from_config(config),
            slow: Duration::from_millis(config.login_slow_ms),
        }
    }

    /// Starts an attempt (counted against the agent from this address, the address, and
    /// the agent overall), or the lock that refuses it.
    pub async fn begin(
        &self,
        db: &DatabaseConnection,
        agent: &str,
        source: Option<IpAddr>,
    ) -> Result<Result<Attempt, Lock>, DbErr> {
        let now = now_ms();
        let address = source.map_or_else(|| UNKNOWN_ADDRESS.to_owned(), |s| s.to_string());
        let pair = login_locks::pair(agent, &address);
        let keys = [(Scope::Pair, pair.as_str()), (Scope::Address, address.as_str())];
        if let Some(lock) = login_locks::active_lock(db, &keys, now).await? {
            return Ok(Err(lock));
        }
        let from_here = login_locks::count(db, &self.policy, Scope::Pair, &pair, now).await?;
        login_locks::count(db, &self.policy, Scope::Address, &address, now).await?;
        let overall = login_locks::count(db, &self.policy, Scope::Agent, agent, now).await?;
        let slowdown = (self.slow * from_here.saturating_sub(1)).min(MAX_SLOWDOWN);
        let beyond = overall.saturating_sub(self.policy.agent_slow_after.max(1));
        let delay = (self.slow * beyond).min(MAX_SLOWDOWN);
        Ok(Ok(Attempt {
            agent: agent.to_owned(),
            address,
            slowdown,
            delay,
        }))
    }

    /// The password was right: the attempt is not a failure, and the agent's earlier
    /// failures are forgiven (the address's are not: it may be guessing many agents).
    pub async fn succeeded(&self, db: &DatabaseConnection, attempt: Attempt) -> Result<(), DbErr> {
        let now = now_ms();
        login_locks::clear(
            db,
            Scope::Pair,
            &login_locks::pair(&attempt.agent, &attempt.address),
            now,
        )
        .await?;
        login_locks::clear(db, Scope::Agent, &attempt.agent, now).await?;
        login_locks::uncount(db, &self.policy, Scope::Address, &attempt.address).await
    }

    /// The attempt could not be judged (the database was unreachable): it does not count.
    pub async fn abandon(&self, db: &DatabaseConnection, attempt: Attempt) {
        let pair = login_locks::pair(&attempt.agent, &attempt.address);
        let undo = [
            (Scope::Pair, pair.as_str()),
            (Scope::Address, attempt.address.as_str()),
            (Scope::Agent, attempt.agent.as_str()),
        ];
        for (scope, subject) in undo {
            if let Err(err) = login_locks::uncount(db, &self.policy, scope, subject).await {
                tracing::warn!(error = %err, scope = scope.as_str(), "could not take back an unjudged login attempt");
            }
        }
    }

    /// `Err(lock)` while wrong admin tokens from this address are refused.
    pub async fn admin_refused(&self, db: &DatabaseConnection, source: Option<IpAddr>) -> Result<Option<Lock>, DbErr> {
        let address = source.map_or_else(|| UNKNOWN_ADDRESS.to_owned(), |s| s.to_string());
        login_locks::active_lock(db, &[(Scope::AdminToken, address.as_str())], now_ms()).await
    }

    /// Counts a wrong admin token from this address.
    pub async fn admin_failed(&self, db: &DatabaseConnection, source: Option<IpAddr>) -> Result<(), DbErr> {
        let address = source.map_or_else(|| UNKNOWN_ADDRESS.to_owned(), |s| s.to_string());
        login_locks::count(db, &self.policy, Scope::AdminToken, &address, now_ms())
            .await
            .map(|_| ())
    }
}
