//! Question timeouts. Each open question carries at most one countdown: its kind, the
//! moment it counts from (`due_anchor`) and when it fires (`due_at`, indexed; none
//! while the app has that timeout off). The workers' sweep fires due ones; changing an
//! app's durations re-computes `due_at` of its open questions at once.
//!
//! - **user reply**: started (or restarted) by an agent's message that counts; a user
//!   message cancels it. Fires action 5; the question finishes with its agent kept.
//! - **waiting**: from the moment a question (re)enters the waiting list. Fires action 5.
//! - **end confirmation**: started by the agent's `request_finish` (action 3); a user
//!   message or reopen cancels it. Fires action 4 (finished).

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

pub use crate::domain::DueKind;
use crate::domain::Invalid;
use crate::infra::config::Config;
use crate::now_ms;
use crate::store::entity::{app_timeouts, question};

/// An app's durations in seconds; 0 is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeouts {
    pub user_reply_secs: u64,
    pub wait_secs: u64,
    pub end_confirm_secs: u64,
}

impl Timeouts {
    pub fn defaults(config: &Config) -> Self {
        Timeouts {
            user_reply_secs: config.user_reply_timeout_secs,
            wait_secs: config.wait_timeout_secs,
            end_confirm_secs: config.end_confirm_timeout_secs,
        }
    }

    pub fn secs(&self, kind: DueKind) -> u64 {
        match kind {
            DueKind::UserReply => self.user_reply_secs,
            DueKind::Wait => self.wait_secs,
            DueKind::EndConfirm => self.end_confirm_secs,
        }
    }

    /// When a countdown of `kind` started at `anchor` fires; `None` while it is off.
    pub fn due(&self, kind: DueKind, anchor: i64) -> Option<i64> {
        match self.secs(kind) {
            0 => None,
            secs => Some(anchor.saturating_add((secs as i64).saturating_mul(1000))),
        }
    }
}

/// The app's durations: its own where set, else `defaults`.
pub async fn of_app(db: &impl ConnectionTrait, app_id: i64, defaults: &Timeouts) -> Result<Timeouts, DbErr> {
    let row = app_timeouts::Entity::find_by_id(app_id).one(db).await?;
    Ok(Timeouts::of_row(row.as_ref(), defaults))
}

impl Timeouts {
    /// An app's durations from its own row (if any), else `defaults`.
    pub fn of_row(row: Option<&app_timeouts::Model>, defaults: &Timeouts) -> Timeouts {
        let pick = |own: Option<i64>, default: u64| own.map_or(default, |s| s.max(0) as u64);
        match row {
            Some(r) => Timeouts {
                user_reply_secs: pick(r.user_reply_secs, defaults.user_reply_secs),
                wait_secs: pick(r.wait_secs, defaults.wait_secs),
                end_confirm_secs: pick(r.end_confirm_secs, defaults.end_confirm_secs),
            },
            None => *defaults,
        }
    }
}

/// Longest duration accepted: 30 days.
pub const MAX_SECS: u64 = 30 * 24 * 3600;

/// A duration as operators write it (`90s`, `10m`, `24h`, `1h 30m`; a bare number is
/// seconds; `0` or `off` is off), in whole seconds.
pub fn parse_duration(s: &str) -> Result<u64, Invalid> {
    let s = s.trim();
    if s == "off" {
        return Ok(0);
    }
    let secs = match s.parse::<u64>() {
        Ok(n) => n,
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| Invalid(format!("{s:?} is not a duration like 90s, 10m or 24h ({e})")))?
            .as_secs(),
    };
    if secs > MAX_SECS {
        return Err(Invalid(format!("at most 30 days ({MAX_SECS} s), not {secs} s")));
    }
    Ok(secs)
}

/// Changes to an app's durations: `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeoutsChange {
    pub user_reply_secs: Option<u64>,
    pub wait_secs: Option<u64>,
    pub end_confirm_secs: Option<u64>,
}

/// Stores the change and re-computes the deadlines of the app's open questions, in one
/// transaction (the caller's). Answers the app's durations now.
pub async fn set(
    txn: &impl ConnectionTrait,
    app_id: i64,
    change: TimeoutsChange,
    defaults: &Timeouts,
) -> Result<Timeouts, DbErr> {
    let existing = app_timeouts::Entity::find_by_id(app_id).one(txn).await?;
    let is_new = existing.is_none();
    let secs = |v: Option<u64>| v.map(|s| s as i64);
    let mut row = match existing {
        Some(row) => app_timeouts::ActiveModel::from(row),
        None => app_timeouts::ActiveModel {
            app_id: Set(app_id),
            user_reply_secs: Set(None),
            wait_secs: Set(None),
            end_confirm_secs: Set(None),
            updated_at: Set(now_ms()),
        },
    };
    if let Some(v) = secs(change.user_reply_secs) {
        row.user_reply_secs = Set(Some(v));
    }
    if let Some(v) = secs(change.wait_secs) {
        row.wait_secs = Set(Some(v));
    }
    if let Some(v) = secs(change.end_confirm_secs) {
        row.end_confirm_secs = Set(Some(v));
    }
    row.updated_at = Set(now_ms());
    if is_new {
        row.insert(txn).await?;
    } else {
        row.update(txn).await?;
    }
    let now = of_app(txn, app_id, defaults).await?;
    for kind in DueKind::ALL {
        let due = match now.secs(kind) {
            0 => Expr::value(Option::<i64>::None),
            secs => Expr::col(question::Column::DueAnchor).add((secs as i64) * 1000),
        };
        question::Entity::update_many()
            .col_expr(question::Column::DueAt, due)
            .filter(question::Column::AppId.eq(app_id))
            .filter(question::Column::DueKind.eq(kind))
            .exec(txn)
            .await?;
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_operators_write_them() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("1h 30m").unwrap(), 5_400);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("off").unwrap(), 0);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("31d").is_err());
    }
}
