//! Collects stored files no message refers to: blobs of commands that were refused or
//! never published. Each blob is deleted under its record's row lock, re-checked in the
//! same transaction, so an upload of the same content racing with it is never lost.

use std::time::Duration;

use kefu_common::infra::media::MediaStore;
use kefu_common::now_ms;
use kefu_common::store::entity::{media_blob, message};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, Select, TransactionTrait,
};

/// Blobs looked at per run.
const BATCH: u64 = 500;

/// Media keys of messages (`key`: only that one).
fn referenced(key: Option<&str>) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(message::Column::MediaKey)
        .from(message::Entity)
        .and_where(match key {
            Some(key) => message::Column::MediaKey.eq(key),
            None => message::Column::MediaKey.is_not_null(),
        })
        .to_owned()
}

fn unreferenced_before(cutoff: i64) -> Select<media_blob::Entity> {
    media_blob::Entity::find()
        .filter(media_blob::Column::CreatedAt.lt(cutoff))
        .filter(media_blob::Column::Key.not_in_subquery(referenced(None)))
}

/// Deletes blobs older than `grace` that no message refers to; returns how many.
#[tracing::instrument(skip_all)]
pub async fn collect_unreferenced_media(
    db: &DatabaseConnection,
    media: &MediaStore,
    grace: Duration,
) -> Result<u64, DbErr> {
    let cutoff = now_ms() - grace.as_millis() as i64;
    let candidates = unreferenced_before(cutoff).limit(BATCH).all(db).await?;
    let mut deleted = 0;
    for blob in candidates {
        let txn = db.begin().await?;
        let gone = media_blob::Entity::delete_many()
            .filter(media_blob::Column::Key.eq(blob.key.as_str()))
            .filter(media_blob::Column::CreatedAt.lt(cutoff))
            .filter(media_blob::Column::Key.not_in_subquery(referenced(Some(&blob.key))))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 1 {
            if let Err(err) = media.delete(&blob.key).await {
                tracing::warn!(key = %blob.key, error = %err, "could not delete a media file; will try again");
                txn.rollback().await?;
                continue;
            }
            deleted += 1;
        }
        txn.commit().await?;
    }
    if deleted > 0 {
        tracing::info!(deleted, "collected unreferenced media files");
    }
    Ok(deleted)
}
