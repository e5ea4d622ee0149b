//! Failed agent logins and the locks they lead to, per agent and per client address.
//! Stored in the database: every ingest counts the same failures, a restart forgets
//! none, and an operator can see (`kefu admin agent list`) and lift (`unlock`) a lock.
//!
//! An attempt is counted when it starts, so parallel guesses cannot slip past the
//! limit; a right password forgives it (and the agent's earlier failures), an attempt
//! the database could not judge is taken back.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::config::Config;
use crate::db::is_unique_violation;
use crate::entity::login_lock::{self, Column};

/// What a row counts the failures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One agent account, from any address.
    Agent,
    /// One client address, whichever agents it tries.
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Agent => "agent",
            Scope::Address => "address",
        }
    }
}

/// How many failures lock, and for how long (`KEFU_LOGIN_*`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures of one agent that lock it (0: never).
    pub max_agent: u32,
    /// Failures from one address that lock it (0: never).
    pub max_address: u32,
    /// The lock's length, and the quiet time after which failures are forgotten.
    pub window_ms: i64,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_agent: config.login_max_failures,
            max_address: config.login_source_max_failures,
            window_ms: (config.login_lock_secs * 1000) as i64,
        }
    }

    fn max(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Agent => self.max_agent,
            Scope::Address => self.max_address,
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

/// The lock that refuses this login now, if any (the later one when both are locked).
pub async fn active_lock(
    db: &impl ConnectionTrait,
    serv_id: &str,
    address: Option<&str>,
    now_ms: i64,
) -> Result<Option<Lock>, DbErr> {
    let mut which = Condition::any().add(key(Scope::Agent, serv_id));
    if let Some(address) = address {
        which = which.add(key(Scope::Address, address));
    }
    let rows = login_lock::Entity::find()
        .filter(which)
        .filter(Column::LockedUntil.gt(now_ms))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let scope = if r.scope == Scope::Agent.as_str() {
                Scope::Agent
            } else {
                Scope::Address
            };
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
        .filter(Column::LastFailureAt.lt(now_ms - policy.window_ms))
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
            .col_expr(Column::LockedUntil, Expr::value(now_ms + policy.window_ms))
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

/// Agents locked now, with the end of their lock (ms).
pub async fn locked_agents(db: &impl ConnectionTrait, now_ms: i64) -> Result<HashMap<String, i64>, DbErr> {
    Ok(login_lock::Entity::find()
        .filter(Column::Scope.eq(Scope::Agent.as_str()))
        .filter(Column::LockedUntil.gt(now_ms))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| r.locked_until.map(|u| (r.subject, u)))
        .collect())
}

/// Deletes rows whose failures are forgotten and whose lock (if any) has ended.
pub async fn prune(db: &impl ConnectionTrait, policy: &Policy, now_ms: i64) -> Result<u64, DbErr> {
    Ok(login_lock::Entity::delete_many()
        .filter(Column::LastFailureAt.lt(now_ms - policy.window_ms))
        .filter(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lte(now_ms)),
        )
        .exec(db)
        .await?
        .rows_affected)
}
