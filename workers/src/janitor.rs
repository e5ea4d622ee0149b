//! Periodic clean-up: forgets processed command ids and idempotency keys after their
//! retention, expired sessions, and media files no message refers to.

use std::time::Duration;

use kefu_common::infra::media::MediaStore;
use kefu_common::now_ms;
use kefu_common::store::entity::{idempotency_key, outbox_event, processed_command};
use sea_orm::{ColumnTrait, DeleteResult, EntityTrait, QueryFilter};
use tokio_util::sync::CancellationToken;

use crate::Worker;

pub async fn run_janitor(worker: Worker, cancel: CancellationToken) {
    let retention_ms = (worker.config.idempotency_ttl_secs * 1000) as i64;
    let media = match MediaStore::from_config(&worker.config) {
        Ok(media) => Some(media),
        Err(err) => {
            tracing::error!(error = %err, "media store unusable; unreferenced files are not collected");
            None
        }
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
        let now = now_ms();
        let db = &worker.db;
        let results: [(&str, Result<DeleteResult, sea_orm::DbErr>); 2] = [
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
        ];
        for (what, result) in results {
            match result {
                Ok(r) => tracing::debug!(rows = r.rows_affected, what, "janitor pruned"),
                Err(err) => tracing::warn!(error = %err, what, "janitor failed; will try again"),
            }
        }
        // Events: kept `KEFU_EVENTS_RETENTION_SECS` after their relay (embedded: after
        // they were written, the table being the log).
        let events_before = now - (worker.config.events_retention_secs * 1000) as i64;
        let mut prune = outbox_event::Entity::delete_many().filter(outbox_event::Column::CreatedAt.lt(events_before));
        if worker.broker.relays_events() {
            prune = prune.filter(outbox_event::Column::PublishedAt.lt(events_before));
        }
        if let Err(err) = prune.exec(db).await {
            tracing::warn!(error = %err, "janitor failed to prune events; will try again");
        }
        match kefu_common::store::operators::prune_expired_sessions(db).await {
            Ok(n) => tracing::debug!(rows = n, "janitor pruned expired sessions and their bindings"),
            Err(err) => tracing::warn!(error = %err, "janitor failed to prune sessions; will try again"),
        }
        if let Some(media) = &media {
            let grace = Duration::from_secs(worker.config.media_gc_grace_secs);
            if let Err(err) = crate::collect_unreferenced_media(db, media, grace).await {
                tracing::warn!(error = %err, "media collection failed; will try again");
            }
        }
    }
}
