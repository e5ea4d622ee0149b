//! The outbox relay: publishes committed events to `kefu.events`, oldest first, at least
//! once and with the same id after any crash. Any number of relays may run (one per
//! worker): on PostgreSQL and MariaDB/MySQL a batch is claimed with
//! `FOR UPDATE SKIP LOCKED` inside the transaction that marks it published, so two
//! relays never take the same rows; on SQLite by a short lease. Published rows are kept
//! for `KEFU_EVENTS_RETENTION_SECS`, then pruned by the janitor. With the embedded
//! broker nothing is published: the table is the event log.

use std::time::Duration;

use kefu_common::infra::broker::{Broker, BrokerError};
use kefu_common::infra::retry::Backoff;
use kefu_common::now_ms;
use kefu_common::store::entity::outbox_event;
use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::Worker;

/// A lease on SQLite: long enough for one batch's confirms.
const LEASE_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
}

/// Relays until `cancel`: at once while there is a backlog, every `KEFU_RELAY_POLL_MS`
/// otherwise.
pub async fn run_relay(worker: Worker, cancel: CancellationToken) {
    if !worker.broker.relays_events() {
        return;
    }
    let poll = Duration::from_millis(worker.config.relay_poll_ms);
    let mut backoff = Backoff::reconnect();
    loop {
        let wait = match relay_batch(&worker.db, &worker.broker, worker.config.relay_batch).await {
            Ok(n) if n > 0 => {
                backoff.reset();
                tracing::debug!(events = n, "relayed");
                Duration::ZERO
            }
            Ok(_) => poll,
            Err(err) => {
                tracing::warn!(error = %err, "event relay failed; the events stay in the outbox and are retried");
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = worker.relay_wakeup.notified(), if !wait.is_zero() => {}
        }
    }
}

/// Publishes one batch; answers how many events went out.
pub async fn relay_batch(db: &DatabaseConnection, broker: &Broker, batch: u64) -> Result<usize, RelayError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        return relay_leased(db, broker, batch).await;
    }
    let txn = db.begin().await?;
    let rows = outbox_event::Entity::find()
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::Position)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    publish(broker, &rows).await?;
    mark_published(&txn, &rows).await?;
    txn.commit().await?;
    Ok(rows.len())
}

async fn relay_leased(db: &DatabaseConnection, broker: &Broker, batch: u64) -> Result<usize, RelayError> {
    let now = now_ms();
    // A value of its own marks this relay's claim.
    let lease = now + LEASE_MS + rand::thread_rng().gen_range(0..1_000_000) * 1_000_000;
    let free = Query::select()
        .column(outbox_event::Column::Position)
        .from(outbox_event::Entity)
        .and_where(outbox_event::Column::PublishedAt.is_null())
        .and_where(
            Expr::col(outbox_event::Column::ClaimedUntil)
                .is_null()
                .or(Expr::col(outbox_event::Column::ClaimedUntil).lt(now)),
        )
        .order_by(outbox_event::Column::Position, sea_orm::Order::Asc)
        .limit(batch)
        .to_owned();
    outbox_event::Entity::update_many()
        .col_expr(outbox_event::Column::ClaimedUntil, Expr::value(lease))
        .filter(outbox_event::Column::Position.in_subquery(free))
        .exec(db)
        .await?;
    let rows = outbox_event::Entity::find()
        .filter(outbox_event::Column::ClaimedUntil.eq(lease))
        .filter(outbox_event::Column::PublishedAt.is_null())
        .order_by_asc(outbox_event::Column::Position)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    publish(broker, &rows).await?;
    mark_published(db, &rows).await?;
    Ok(rows.len())
}

async fn publish(broker: &Broker, rows: &[outbox_event::Model]) -> Result<(), RelayError> {
    let events: Vec<(&str, &str, &[u8])> = rows
        .iter()
        .map(|r| (r.event_type.as_str(), r.event_id.as_str(), r.payload.as_bytes()))
        .collect();
    broker.publish_events(&events).await?;
    Ok(())
}

async fn mark_published(db: &impl ConnectionTrait, rows: &[outbox_event::Model]) -> Result<(), DbErr> {
    outbox_event::Entity::update_many()
        .col_expr(outbox_event::Column::PublishedAt, Expr::value(now_ms()))
        .filter(outbox_event::Column::Position.is_in(rows.iter().map(|r| r.position)))
        .exec(db)
        .await?;
    Ok(())
}
