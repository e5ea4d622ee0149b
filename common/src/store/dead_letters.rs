//! Dead letters kept in the database, where operators list and re-drive them
//! (`kefu admin dead-letters …`, `/admin/v1/dead-letters`). The embedded queue moves a
//! dead job here itself; on RabbitMQ a keeper in the workers drains the dead-letter queue
//! into this table (insert, then ack: at least once, the message id as the key).

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;

use crate::infra::broker::{Broker, BrokerError};
use crate::now_ms;
use crate::store::db::is_unique_violation;
use crate::store::entity::dead_letter;

/// The command queue's name in `dead_letters.queue`.
pub use crate::infra::broker::COMMANDS;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("no dead letter {0}")]
    Unknown(String),
}

/// A dead letter as operators see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetterView {
    pub id: String,
    pub queue: String,
    pub message_id: String,
    pub reason: String,
    /// Scheduled retries it had before it was given up.
    pub attempts: i32,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The message itself (a command envelope, JSON), as text.
    pub payload: String,
}

impl From<dead_letter::Model> for DeadLetterView {
    fn from(m: dead_letter::Model) -> Self {
        Self {
            id: m.id,
            queue: m.queue,
            message_id: m.message_id,
            reason: m.reason,
            attempts: m.attempts,
            created_at: m.created_at / 1000,
            payload: m.payload,
        }
    }
}

/// Records a dead message; a second copy of the same one (at-least-once dead-lettering)
/// is ignored.
pub async fn keep(
    db: &impl ConnectionTrait,
    queue: &str,
    message_id: &str,
    payload: &[u8],
    reason: &str,
    attempts: i32,
) -> Result<(), DbErr> {
    let row = dead_letter::ActiveModel {
        id: Set(message_id.chars().take(36).collect()),
        queue: Set(queue.to_owned()),
        message_id: Set(message_id.chars().take(64).collect()),
        payload: Set(String::from_utf8_lossy(payload).into_owned()),
        reason: Set(reason.to_owned()),
        attempts: Set(attempts),
        created_at: Set(now_ms()),
    };
    match row.insert(db).await {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

pub async fn list(db: &impl ConnectionTrait, queue: Option<&str>) -> Result<Vec<DeadLetterView>, DbErr> {
    let mut select = dead_letter::Entity::find().order_by_asc(dead_letter::Column::CreatedAt);
    if let Some(queue) = queue {
        select = select.filter(dead_letter::Column::Queue.eq(queue));
    }
    Ok(select.all(db).await?.into_iter().map(DeadLetterView::from).collect())
}

/// Puts dead letters back on their queue (the same message id: a command already
/// applied meanwhile answers its stored outcome), then forgets them. Answers how many.
pub async fn redrive(
    db: &impl ConnectionTrait,
    broker: &Broker,
    id: Option<&str>,
    queue: Option<&str>,
) -> Result<u64, DeadLetterError> {
    let rows = match id {
        Some(id) => vec![dead_letter::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| DeadLetterError::Unknown(id.to_owned()))?],
        None => {
            let mut select = dead_letter::Entity::find().order_by_asc(dead_letter::Column::CreatedAt);
            if let Some(queue) = queue {
                select = select.filter(dead_letter::Column::Queue.eq(queue));
            }
            select.all(db).await?
        }
    };
    let mut n = 0;
    for row in rows {
        if row.queue == COMMANDS {
            broker
                .publish_command(&row.message_id, row.payload.as_bytes(), false)
                .await?;
        } else {
            broker
                .publish_to(&row.queue, &row.message_id, row.payload.as_bytes())
                .await?;
        }
        dead_letter::Entity::delete_by_id(row.id.clone()).exec(db).await?;
        tracing::info!(id = %row.id, queue = %row.queue, "dead letter re-driven");
        n += 1;
    }
    Ok(n)
}
