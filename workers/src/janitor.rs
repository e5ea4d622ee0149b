//! Periodic clean-up: forgets processed command ids and idempotency keys after their
//! retention, and expired sessions.

use std::time::Duration;

use kefu_common::entity::{idempotency_key, processed_command, session};
use kefu_common::now_ms;
use sea_orm::{ColumnTrait, DeleteResult, EntityTrait, QueryFilter};
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
        let db = &worker.db;
        let results: [(&str, Result<DeleteResult, sea_orm::DbErr>); 3] = [
            (
                "processed commands",
                processed_command::Entity::delete_many()
                    .filter(processed_command::Column::CreatedAt.lt(now - retention_ms))
                    .exec(db)
                    .await,
            ),
            (
                "idempotency keys",
                idempotency_key::Entity::delete_many()
                    .filter(idempotency_key::Column::CreatedAt.lt(now - retention_ms))
                    .exec(db)
                    .await,
            ),
            (
                "sessions",
                session::Entity::delete_many()
                    .filter(session::Column::ExpiresAt.lt(now))
                    .exec(db)
                    .await,
            ),
        ];
        for (what, result) in results {
            match result {
                Ok(r) => tracing::debug!(rows = r.rows_affected, what, "janitor pruned"),
                Err(err) => tracing::warn!(error = %err, what, "janitor failed; will try again"),
            }
        }
    }
}
