//! Embedded backend: the queue is the `queue_jobs` table of Kefu's own database.
//!
//! A publish is an INSERT that has committed before the ingest answers, so nothing
//! acknowledged is lost by `kill -9`. Workers claim a job by moving its `locked_until`
//! forward with a conditional UPDATE (safe across processes), delete it after their own
//! commit, and a job whose worker died becomes visible again when the lock expires.
//! Workers in this process are woken at once; other processes notice within
//! `embedded_poll_ms`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use tokio::sync::Notify;

use super::{Acker, BrokerError, Delivery, Replies, COMMANDS};
use crate::domain::events::type_matches;
use crate::infra::config::Config;
use crate::now_ms;
use crate::store::entity::{outbox_event, queue_job};

/// Local reply address: replies are delivered in-process.
const LOCAL: &str = "local";

pub struct Embedded {
    db: DatabaseConnection,
    notify: Notify,
    replies: Replies,
    poll: Duration,
    /// How often an event subscription reads the outbox (`KEFU_SSE_POLL_MS`).
    events_poll: Duration,
    visibility_ms: i64,
    batch: u64,
    max_attempts: i32,
    delivery_limit: u32,
    /// Command consumers running in this process (`kefu serve`'s worker); others'
    /// cannot be seen from here.
    consumers: AtomicU64,
}

/// Counts a command consumer while its stream lives.
struct Consuming(Arc<Embedded>);

impl Drop for Consuming {
    fn drop(&mut self) {
        self.0.consumers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Embedded {
    /// The queue table's depth (commands not yet taken, or whose claim expired).
    pub async fn probe(&self) -> Result<super::QueueStats, BrokerError> {
        use sea_orm::PaginatorTrait;
        let ready = queue_job::Entity::find()
            .filter(queue_job::Column::Queue.eq(COMMANDS))
            .count(&self.db)
            .await?;
        // None rather than 0 when none runs here: a worker elsewhere is not visible.
        let consumers = Some(self.consumers.load(Ordering::Relaxed)).filter(|n| *n > 0);
        Ok(super::QueueStats { ready, consumers })
    }

    /// The command queue's stats, and each task queue's depth (its consumers are not counted here).
    pub async fn probe_queues(&self, tasks: &[&str]) -> Result<Vec<(String, super::QueueStats)>, BrokerError> {
        use sea_orm::PaginatorTrait;
        let mut out = vec![(COMMANDS.to_owned(), self.probe().await?)];
        for name in tasks {
            let ready = queue_job::Entity::find()
                .filter(queue_job::Column::Queue.eq(*name))
                .count(&self.db)
                .await?;
            out.push(((*name).to_owned(), super::QueueStats { ready, consumers: None }));
        }
        Ok(out)
    }

    pub fn new(db: DatabaseConnection, config: &Config) -> Self {
        Self {
            db,
            notify: Notify::new(),
            replies: Replies::default(),
            poll: Duration::from_millis(config.embedded_poll_ms.max(10)),
            events_poll: Duration::from_millis(config.sse_poll_ms.max(10)),
            visibility_ms: (config.embedded_visibility_secs.max(1) * 1000) as i64,
            batch: u64::from(config.prefetch),
            max_attempts: (config.delivery_limit as usize + config.retry_schedule_ms.len()) as i32,
            delivery_limit: config.delivery_limit,
            consumers: AtomicU64::new(0),
        }
    }

    /// The events written from now on whose type matches `pattern`, read from the
    /// outbox (this backend's event log) every `events_poll`.
    pub async fn tail_events(&self, pattern: &str) -> Result<BoxStream<'static, Vec<u8>>, BrokerError> {
        const PAGE: u64 = 500;
        let db = self.db.clone();
        let after = outbox_event::Entity::find()
            .order_by_desc(outbox_event::Column::Position)
            .one(&db)
            .await?
            .map_or(0, |e| e.position);
        let (pattern, poll) = (pattern.to_owned(), self.events_poll);
        let ready = std::collections::VecDeque::new();
        let events = stream::unfold((after, ready), move |(mut after, mut ready)| {
            let (db, pattern) = (db.clone(), pattern.clone());
            async move {
                loop {
                    if let Some(body) = ready.pop_front() {
                        return Some((body, (after, ready)));
                    }
                    let rows = outbox_event::Entity::find()
                        .filter(outbox_event::Column::Position.gt(after))
                        .order_by_asc(outbox_event::Column::Position)
                        .limit(PAGE)
                        .all(&db)
                        .await;
                    match rows {
                        Ok(rows) if !rows.is_empty() => {
                            for row in rows {
                                after = row.position;
                                if type_matches(&pattern, &row.event_type) {
                                    ready.push_back(row.payload.into_bytes());
                                }
                            }
                        }
                        Ok(_) => tokio::time::sleep(poll).await,
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot read the outbox; trying again");
                            tokio::time::sleep(poll).await;
                        }
                    }
                }
            }
        });
        Ok(events.boxed())
    }

    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    pub async fn publish_command(&self, message_id: &str, payload: &[u8]) -> Result<(), BrokerError> {
        self.publish(COMMANDS, message_id, payload).await
    }

    /// Inserts a job into `queue` (the commands' or a task queue's).
    pub async fn publish(&self, queue: &str, message_id: &str, payload: &[u8]) -> Result<(), BrokerError> {
        let now = now_ms();
        let payload = String::from_utf8(payload.to_vec()).map_err(|e| BrokerError::Rejected(e.to_string()))?;
        queue_job::ActiveModel {
            queue: Set(queue.into()),
            message_id: Set(message_id.into()),
            payload: Set(payload),
            attempts: Set(0),
            available_at: Set(now),
            locked_until: Set(0),
            created_at: Set(now),
            last_error: Set(None),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    /// Claims up to `batch` ready jobs of `queue`.
    async fn claim(&self, queue: &str) -> Result<Vec<queue_job::Model>, BrokerError> {
        let now = now_ms();
        let candidates = queue_job::Entity::find()
            .filter(queue_job::Column::Queue.eq(queue))
            .filter(queue_job::Column::AvailableAt.lte(now))
            .filter(queue_job::Column::LockedUntil.lte(now))
            .order_by_asc(queue_job::Column::Id)
            .limit(self.batch)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        // One transaction for the whole claim: one write (one fsync on SQLite), not one
        // per job. The `locked_until` guard still keeps a job to one claimer.
        let txn = self.db.begin().await?;
        for job in candidates {
            let result = queue_job::Entity::update_many()
                .col_expr(queue_job::Column::LockedUntil, Expr::value(now + self.visibility_ms))
                .col_expr(
                    queue_job::Column::Attempts,
                    Expr::col(queue_job::Column::Attempts).add(1),
                )
                .filter(queue_job::Column::Id.eq(job.id))
                .filter(queue_job::Column::LockedUntil.eq(job.locked_until))
                .exec(&txn)
                .await?;
            if result.rows_affected == 1 {
                claimed.push(queue_job::Model {
                    attempts: job.attempts + 1,
                    ..job
                });
            }
        }
        txn.commit().await?;
        Ok(claimed)
    }

    pub async fn consume(self: Arc<Self>) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        self.consume_queue(None).await
    }

    /// The jobs of a task queue (`None`: the commands).
    pub async fn consume_queue(
        self: Arc<Self>,
        task: Option<Arc<super::TaskQueue>>,
    ) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        let guard = task.is_none().then(|| {
            self.consumers.fetch_add(1, Ordering::Relaxed);
            Consuming(Arc::clone(&self))
        });
        let stream = stream::unfold((self, task, guard), |(this, task, guard)| async move {
            let queue = task.as_ref().map_or(COMMANDS.to_owned(), |t| t.name.clone());
            loop {
                // Register interest before looking, so a publish in between is not missed.
                let notified = this.notify.notified();
                let deliveries: Vec<Delivery> = match this.claim(&queue).await {
                    Ok(jobs) => jobs
                        .into_iter()
                        .filter_map(|job| this.to_delivery(job, task.clone()))
                        .collect(),
                    Err(err) => {
                        tracing::warn!(error = %err, "embedded queue: claim failed");
                        Vec::new()
                    }
                };
                if !deliveries.is_empty() {
                    drop(notified);
                    return Some((stream::iter(deliveries), (this, task, guard)));
                }
                let _ = tokio::time::timeout(this.poll, notified).await;
            }
        });
        Ok(stream.flatten().boxed())
    }

    fn to_delivery(self: &Arc<Self>, job: queue_job::Model, task: Option<Arc<super::TaskQueue>>) -> Option<Delivery> {
        let max_attempts = match &task {
            Some(t) => (t.retry.retries() + self.delivery_limit) as i32,
            None => self.max_attempts,
        };
        if job.attempts > max_attempts {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(err) = this.dead_letter(job.id, "delivery limit exceeded").await {
                    tracing::error!(error = %err, job = job.id, "embedded queue: cannot dead-letter");
                }
            });
            return None;
        }
        Some(Delivery {
            queue: task,
            payload: job.payload.into_bytes(),
            reply_to: Some(LOCAL.into()),
            retries: (job.attempts - 1).max(0) as u32,
            redelivered: job.attempts > 1,
            acker: Acker::Embedded {
                job_id: job.id,
                embedded: Arc::clone(self),
            },
        })
    }

    /// Deletes the jobs of a committed batch in one statement.
    pub async fn ack_many(&self, job_ids: &[i64]) -> Result<u64, BrokerError> {
        if job_ids.is_empty() {
            return Ok(0);
        }
        let result = queue_job::Entity::delete_many()
            .filter(queue_job::Column::Id.is_in(job_ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    pub async fn ack(&self, job_id: i64) -> Result<bool, BrokerError> {
        let result = queue_job::Entity::delete_by_id(job_id).exec(&self.db).await?;
        Ok(result.rows_affected == 1)
    }

    /// Moves the job into `dead_letters`, in one transaction.
    pub async fn dead_letter(&self, job_id: i64, reason: &str) -> Result<(), BrokerError> {
        let txn = self.db.begin().await?;
        if let Some(job) = queue_job::Entity::find_by_id(job_id).one(&txn).await? {
            let attempts = (job.attempts - 1).max(0);
            crate::store::dead_letters::keep(
                &txn,
                &job.queue,
                &job.message_id,
                job.payload.as_bytes(),
                reason,
                attempts,
            )
            .await?;
            queue_job::Entity::delete_by_id(job_id).exec(&txn).await?;
        }
        txn.commit().await?;
        tracing::error!(job = job_id, reason, "embedded queue: command dead-lettered");
        Ok(())
    }

    /// Like [`Self::retry_later`], but this delivery does not count as an attempt.
    pub async fn retry_later_uncounted(&self, job_id: i64, delay: Duration) -> Result<(), BrokerError> {
        queue_job::Entity::update_many()
            .col_expr(
                queue_job::Column::Attempts,
                Expr::col(queue_job::Column::Attempts).sub(1),
            )
            .filter(queue_job::Column::Id.eq(job_id))
            .exec(&self.db)
            .await?;
        self.retry_later(job_id, delay).await
    }

    pub async fn retry_later(&self, job_id: i64, delay: Duration) -> Result<(), BrokerError> {
        queue_job::Entity::update_many()
            .col_expr(
                queue_job::Column::AvailableAt,
                Expr::value(now_ms() + delay.as_millis() as i64),
            )
            .col_expr(queue_job::Column::LockedUntil, Expr::value(0i64))
            .filter(queue_job::Column::Id.eq(job_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
