//! Failed logins and the locks they lead to. Stored in the database: every ingest
//! counts the same failures, a restart forgets none, and an operator can see (`kefu
//! admin agent list`) and lift (`unlock`) a lock.
//!
//! Agent logins are counted per (agent, client address) — enough failures lock that
//! pair only, so nobody can lock an agent out of its own devices — per address (one
//! address guessing many agents is locked), and per agent over every address, which
//! never locks but slows each further attempt. Wrong admin tokens are counted per
//! address. An attempt is counted when it starts, so parallel guesses cannot slip past
//! a limit; a right password forgives it, an attempt the database could not judge is
//! taken back.

use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::infra::config::Config;
use crate::store::db::is_unique_violation;
use crate::store::entity::login_lock::{self, Column};

/// What a row counts the failures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One agent account, from any address: never locked, only slowed.
    Agent,
    /// One agent account from one client address (subject: [`pair`]).
    Pair,
    /// One client address, whichever agents it tries.
    Address,
    /// Wrong admin API tokens from one client address.
    AdminToken,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Agent => "agent",
            Scope::Pair => "agent_address",
            Scope::Address => "address",
            Scope::AdminToken => "admin_token",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        [Scope::Agent, Scope::Pair, Scope::Address, Scope::AdminToken]
            .into_iter()
            .find(|scope| scope.as_str() == s)
    }
}

/// Separates the agent from the address in a [`Scope::Pair`] subject: a control
/// character, which no serv_id holds.
const PAIR_SEPARATOR: char = '\u{1f}';

/// The subject of an (agent, address) pair.
pub fn pair(serv_id: &str, address: &str) -> String {
    format!("{serv_id}{PAIR_SEPARATOR}{address}")
}

/// How many failures lock, and for how long (`KEFU_LOGIN_*`, `KEFU_ADMIN_TOKEN_*`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures of one agent from one address that lock that pair (0: never).
    pub max_pair: u32,
    /// Failures from one address that lock it (0: never).
    pub max_address: u32,
    /// Failures of one agent over every address after which each attempt is slowed.
    pub agent_slow_after: u32,
    /// The lock's length, and the quiet time after which login failures are forgotten.
    pub window_ms: i64,
    /// Wrong admin tokens from one address, within `admin_window_ms`, that lock it.
    pub max_admin: u32,
    pub admin_window_ms: i64,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_pair: config.login_max_failures,
            max_address: config.login_source_max_failures,
            agent_slow_after: config.login_agent_slow_failures,
            window_ms: (config.login_lock_secs * 1000) as i64,
            max_admin: config.admin_token_max_failures,
            admin_window_ms: (config.admin_token_lock_secs * 1000) as i64,
        }
    }

    /// Failures that lock (0: never).
    fn max(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Agent => 0,
            Scope::Pair => self.max_pair,
            Scope::Address => self.max_address,
            Scope::AdminToken => self.max_admin,
        }
    }

    fn window(&self, scope: Scope) -> i64 {
        match scope {
            Scope::AdminToken => self.admin_window_ms,
            _ => self.window_ms,
        }
    }
}

/// A lock in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub scope: Scope,
    /// ms since the epoch.
    pub until_ms: i64,
}

fn key(scope: Scope, subject: &str) -> Condition {
    Condition::all()
        .add(Column::Scope.eq(scope.as_str()))
        .add(Column::Subject.eq(subject))
}

/// The lock in force on any of these (scope, subject) keys, if any (the latest-ending).
pub async fn active_lock(
    db: &impl ConnectionTrait,
    keys: &[(Scope, &str)],
    now_ms: i64,
) -> Result<Option<Lock>, DbErr> {
    let mut which = Condition::any();
    for (scope, subject) in keys {
        which = which.add(key(*scope, subject));
    }
    let rows = login_lock::Entity::find()
        .filter(which)
        .filter(Column::LockedUntil.gt(now_ms))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let scope = Scope::parse(&r.scope)?;
            r.locked_until.map(|until_ms| Lock { scope, until_ms })
        })
        .max_by_key(|l| l.until_ms))
}

/// Counts one attempt; locks the subject once it reaches its maximum. Answers the
/// failures in the current window, this one included.
pub async fn count(
    db: &impl ConnectionTrait,
    policy: &Policy,
    scope: Scope,
    subject: &str,
    now_ms: i64,
) -> Result<u32, DbErr> {
    let fresh = login_lock::ActiveModel {
        scope: Set(scope.as_str().to_owned()),
        subject: Set(subject.to_owned()),
        failures: Set(0),
        last_failure_at: Set(now_ms),
        locked_until: Set(None),
    };
    match login_lock::Entity::insert(fresh).exec_without_returning(db).await {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => {}
        Err(err) => return Err(err),
    }
    let unlocked = Condition::any()
        .add(Column::LockedUntil.is_null())
        .add(Column::LockedUntil.lte(now_ms));
    // Failures followed by a quiet window (and no lock in force) are forgotten.
    login_lock::Entity::update_many()
        .col_expr(Column::Failures, Expr::value(0))
        .col_expr(Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(key(scope, subject))
        .filter(Column::LastFailureAt.lt(now_ms - policy.window(scope)))
        .filter(unlocked.clone())
        .exec(db)
        .await?;
    login_lock::Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).add(1))
        .col_expr(Column::LastFailureAt, Expr::value(now_ms))
        .filter(key(scope, subject))
        .exec(db)
        .await?;
    let max = policy.max(scope);
    if max > 0 {
        login_lock::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(now_ms + policy.window(scope)))
            .filter(key(scope, subject))
            .filter(Column::Failures.gte(max as i32))
            .filter(unlocked)
            .exec(db)
            .await?;
    }
    let row = login_lock::Entity::find().filter(key(scope, subject)).one(db).await?;
    Ok(row.map_or(1, |r| r.failures.max(1) as u32))
}

/// Takes one counted attempt back (a right password from this address, or an attempt
/// the database could not judge), lifting the lock if it falls below the maximum.
pub async fn uncount(db: &impl ConnectionTrait, policy: &Policy, scope: Scope, subject: &str) -> Result<(), DbErr> {
    login_lock::Entity::update_many()
        .col_expr(Column::Failures, Expr::col(Column::Failures).sub(1))
        .filter(key(scope, subject))
        .filter(Column::Failures.gt(0))
        .exec(db)
        .await?;
    let max = policy.max(scope);
    login_lock::Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(key(scope, subject))
        .filter(Column::Failures.lt(max.max(1) as i32))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the subject's failures and lifts its lock: an operator's unlock, a new
/// password, an agent's right password. Answers whether a lock was in force.
pub async fn clear(db: &impl ConnectionTrait, scope: Scope, subject: &str, now_ms: i64) -> Result<bool, DbErr> {
    let was_locked = login_lock::Entity::find()
        .filter(key(scope, subject))
        .filter(Column::LockedUntil.gt(now_ms))
        .one(db)
        .await?
        .is_some();
    login_lock::Entity::delete_many()
        .filter(key(scope, subject))
        .exec(db)
        .await?;
    Ok(was_locked)
}

/// `s` with LIKE's wildcards escaped (by `\\`).
fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The pair rows of an agent (`serv_id`) or of an address.
async fn pairs_of(
    db: &impl ConnectionTrait,
    serv_id: Option<&str>,
    address: Option<&str>,
) -> Result<Vec<login_lock::Model>, DbErr> {
    // LIKE narrows to the candidates (an index range for the agent's prefix); the exact
    // comparison below decides, as SQLite's LIKE ignores ASCII case.
    let mut like = Condition::any();
    if let Some(serv_id) = serv_id {
        let pattern = format!("{}{PAIR_SEPARATOR}%", like_literal(serv_id));
        like = like.add(Column::Subject.like(LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(address) = address {
        let pattern = format!("%{PAIR_SEPARATOR}{}", like_literal(address));
        like = like.add(Column::Subject.like(LikeExpr::new(pattern).escape('\\')));
    }
    Ok(login_lock::Entity::find()
        .filter(Column::Scope.eq(Scope::Pair.as_str()))
        .filter(like)
        .all(db)
        .await?
        .into_iter()
        .filter(|r| {
            let (agent, addr) = r.subject.split_once(PAIR_SEPARATOR).unwrap_or((&r.subject, ""));
            serv_id.is_some_and(|s| s == agent) || address.is_some_and(|a| a == addr)
        })
        .collect())
}

/// When the agent's latest login lock (from any address) ends (ms), if one is in force.
pub async fn agent_locked_until(db: &impl ConnectionTrait, serv_id: &str, now_ms: i64) -> Result<Option<i64>, DbErr> {
    Ok(pairs_of(db, Some(serv_id), None)
        .await?
        .into_iter()
        .filter_map(|r| r.locked_until)
        .filter(|until| *until > now_ms)
        .max())
}

/// Lifts every login lock of the agent (each address's) and forgets its failures.
/// Answers whether one was in force.
pub async fn clear_agent(db: &impl ConnectionTrait, serv_id: &str, now_ms: i64) -> Result<bool, DbErr> {
    let mut was_locked = false;
    for row in pairs_of(db, Some(serv_id), None).await? {
        was_locked |= clear(db, Scope::Pair, &row.subject, now_ms).await?;
    }
    clear(db, Scope::Agent, serv_id, now_ms).await?;
    Ok(was_locked)
}

/// Lifts the address's login lock, and its locks of single agents.
pub async fn clear_address(db: &impl ConnectionTrait, address: &str, now_ms: i64) -> Result<bool, DbErr> {
    let mut was_locked = clear(db, Scope::Address, address, now_ms).await?;
    for row in pairs_of(db, None, Some(address)).await? {
        was_locked |= clear(db, Scope::Pair, &row.subject, now_ms).await?;
    }
    Ok(was_locked)
}

/// Deletes rows whose failures are forgotten and whose lock (if any) has ended.
pub async fn prune(db: &impl ConnectionTrait, policy: &Policy, now_ms: i64) -> Result<u64, DbErr> {
    let longest = policy.window_ms.max(policy.admin_window_ms);
    Ok(login_lock::Entity::delete_many()
        .filter(Column::LastFailureAt.lt(now_ms - longest))
        .filter(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lte(now_ms)),
        )
        .exec(db)
        .await?
        .rows_affected)
}
