//! Periodic clean-up: forgets processed command ids (and so idempotency keys) after
//! their retention, and expired sessions.

use std::time::Duration;

use kefu_common::entity::{processed_command, session};
use kefu_common::now_ms;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

use crate::Worker;

pub async fn run_janitor(worker: Worker, cancel: CancellationToken) {
    let retention_ms = (worker.config.idempotency_ttl_secs * 1000) as i64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
        let now = now_ms();
        let pruned = processed_command::Entity::delete_many()
            .filter(processed_command::Column::CreatedAt.lt(now - retention_ms))
            .exec(&worker.db)
            .await;
        let expired = session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lt(now))
            .exec(&worker.db)
            .await;
        match (pruned, expired) {
            (Ok(p), Ok(e)) => tracing::debug!(
                processed = p.rows_affected,
                sessions = e.rows_affected,
                "janitor pruned"
            ),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, "janitor failed; will try again")
            }
        }
    }
}
