//! The broker abstraction: commands go in with a confirm, come out to workers as
//! deliveries that are acknowledged after the database commit, and outcomes travel back
//! to the waiting ingest as replies matched by correlation id.
//!
//! Two backends: RabbitMQ (`KEFU_AMQP_URL=amqp://…`) and the embedded queue, a table in
//! the database (the default), with the same guarantees.

mod embedded;
mod rabbit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::BoxStream;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::infra::config::Config;

pub use embedded::Embedded;
pub use rabbit::{DeadMessage, Rabbit};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("broker timed out during {0}")]
    Timeout(&'static str),
    /// The broker refused the message (a full queue with `reject-publish`).
    #[error("broker refused the message: {0}")]
    Rejected(String),
    /// A mandatory publish found no queue.
    #[error("message was unroutable: {0}")]
    Unroutable(String),
}

impl From<lapin::Error> for BrokerError {
    fn from(err: lapin::Error) -> Self {
        BrokerError::Unavailable(err.to_string())
    }
}

impl From<sea_orm::DbErr> for BrokerError {
    fn from(err: sea_orm::DbErr) -> Self {
        BrokerError::Unavailable(err.to_string())
    }
}

/// The command queue's name (its dead letters are kept under it too).
pub const COMMANDS: &str = "commands";

/// Ingest-side table of requests waiting for their outcome.
#[derive(Debug, Default)]
pub struct Replies {
    pending: Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>,
}

impl Replies {
    pub fn register(&self, correlation_id: &str) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("replies lock")
            .insert(correlation_id.to_owned(), tx);
        rx
    }

    pub fn complete(&self, correlation_id: &str, body: Vec<u8>) {
        if let Some(tx) = self.pending.lock().expect("replies lock").remove(correlation_id) {
            let _ = tx.send(body);
        }
    }

    pub fn forget(&self, correlation_id: &str) {
        self.pending.lock().expect("replies lock").remove(correlation_id);
    }
}

/// A named task queue: its own queue, prefetch, retry policy (delay queues) and
/// dead-letter queue. Commands have theirs (`commands`); other task kinds declare one
/// each (`Broker::declare_tasks`).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskQueue {
    /// `[a-z0-9-]+`: the RabbitMQ queues are `<prefix>.<name>`, `<prefix>.<name>.retry.<ms>`
    /// and `<prefix>.<name>.dead`; the embedded queue's `queue` column.
    pub name: String,
    /// Tasks a worker holds at once.
    pub prefetch: u16,
    pub retry: crate::infra::retry::RetryPolicy,
}

/// The command queue as the broker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Commands waiting for a worker.
    pub ready: u64,
    /// Workers consuming (RabbitMQ only).
    pub consumers: Option<u64>,
}

/// The broker, whichever backend is behind it: callers see one set of operations and
/// never the backend. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Rabbit(Arc<Rabbit>),
    Embedded(Arc<Embedded>),
}

impl Broker {
    /// Connects (RabbitMQ: declares the topology) according to `KEFU_AMQP_URL`.
    pub async fn connect(config: &Config, db: DatabaseConnection) -> Result<Self, BrokerError> {
        let backend = match &config.amqp_url {
            Some(url) => Backend::Rabbit(Arc::new(Rabbit::connect(url, config).await?)),
            None => Backend::Embedded(Arc::new(Embedded::new(db, config))),
        };
        Ok(Broker { backend })
    }

    /// The RabbitMQ node this process is connected to (`host:port`); none when embedded.
    pub fn node(&self) -> Option<String> {
        match &self.backend {
            Backend::Rabbit(r) => Some(r.node()),
            Backend::Embedded(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Rabbit(_) => "rabbitmq",
            Backend::Embedded(_) => "embedded",
        }
    }

    pub fn replies(&self) -> &Replies {
        match &self.backend {
            Backend::Rabbit(r) => r.replies(),
            Backend::Embedded(e) => e.replies(),
        }
    }

    /// Starts receiving replies for this process's requests (RabbitMQ: an exclusive reply
    /// queue, re-created after reconnects). Runs until `cancel`.
    pub fn start_reply_listener(&self, cancel: CancellationToken) {
        if let Backend::Rabbit(r) = &self.backend {
            tokio::spawn(Arc::clone(r).reply_listener(cancel));
        }
    }

    /// Publishes a command durably; returns once the broker has confirmed it.
    /// `want_reply`: ask the worker to send the outcome back to this process.
    pub async fn publish_command(&self, message_id: &str, payload: &[u8], want_reply: bool) -> Result<(), BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.publish_command(message_id, payload, want_reply).await,
            Backend::Embedded(e) => e.publish_command(message_id, payload).await,
        }
    }

    /// Opens a stream of deliveries for a worker. The stream ends when the connection is
    /// lost; the caller reconnects by calling this again.
    pub async fn consume(&self) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.consume().await,
            Backend::Embedded(e) => Arc::clone(e).consume().await,
        }
    }

    /// Sends a command's outcome to the ingest that waits for it (best effort: the
    /// ingest falls back to reading the stored outcome).
    pub async fn send_reply(&self, reply_to: &str, correlation_id: &str, body: Vec<u8>) {
        match &self.backend {
            Backend::Rabbit(r) => r.send_reply(reply_to, correlation_id, body).await,
            Backend::Embedded(e) => e.replies().complete(correlation_id, body),
        }
    }

    /// Publishes relayed events (RabbitMQ). The embedded backend has no exchange: there
    /// the outbox table itself is the event log (`kefu events tail`), so nothing is sent.
    pub async fn publish_events(&self, events: &[(&str, &str, &[u8])]) -> Result<bool, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.publish_events(events).await.map(|()| true),
            Backend::Embedded(_) => Ok(false),
        }
    }

    /// Declares a task queue (RabbitMQ: its queue, delay queues and dead-letter queue,
    /// again after every reconnect). Idempotent.
    pub async fn declare_tasks(&self, queue: &TaskQueue) -> Result<(), BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.declare_tasks(queue).await,
            Backend::Embedded(_) => Ok(()),
        }
    }

    /// Publishes a task (confirmed / committed before this returns), declaring its queue
    /// when the broker says it does not exist yet (task queues start on first use).
    pub async fn publish_task(&self, queue: &TaskQueue, id: &str, payload: &[u8]) -> Result<(), BrokerError> {
        match self.publish_to(&queue.name, id, payload).await {
            Err(BrokerError::Unroutable(_)) => {
                self.declare_tasks(queue).await?;
                self.publish_to(&queue.name, id, payload).await
            }
            sent => sent,
        }
    }

    /// Publishes to a task queue by name (a re-driven dead letter).
    pub async fn publish_to(&self, queue: &str, id: &str, payload: &[u8]) -> Result<(), BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.publish_task(queue, id, payload).await,
            Backend::Embedded(e) => e.publish(queue, id, payload).await,
        }
    }

    /// The tasks of one queue, as deliveries to acknowledge after their work is done.
    pub async fn consume_tasks(&self, queue: &Arc<TaskQueue>) -> Result<BoxStream<'static, Delivery>, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.consume_tasks(queue).await,
            Backend::Embedded(e) => Arc::clone(e).consume_queue(Some(Arc::clone(queue))).await,
        }
    }

    /// Reaches the broker and reads the command queue (readiness, metrics).
    pub async fn probe(&self) -> Result<QueueStats, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.probe().await,
            Backend::Embedded(e) => e.probe().await,
        }
    }

    /// The depth and consumers of the command queue and of each task queue declared so
    /// far (by name: `commands`, `im-deliveries`, `http-deliveries`).
    pub async fn probe_queues(&self) -> Result<Vec<(String, QueueStats)>, BrokerError> {
        let names = [crate::store::im::deliveries::QUEUE, crate::store::webhooks::QUEUE];
        match &self.backend {
            Backend::Rabbit(r) => r.probe_queues(&names).await,
            Backend::Embedded(e) => e.probe_queues(&names).await,
        }
    }

    /// Whether events leave through an exchange (RabbitMQ: the relay publishes the
    /// outbox). The embedded backend has none: its outbox table is the event log.
    pub fn relays_events(&self) -> bool {
        matches!(self.backend, Backend::Rabbit(_))
    }

    /// The events committed from now on whose type matches the topic `pattern`, as
    /// CloudEvent bodies: a temporary queue on the events exchange (RabbitMQ), or the
    /// outbox polled (embedded). The stream ends when the connection is lost.
    pub async fn subscribe_events(&self, pattern: &str) -> Result<BoxStream<'static, Vec<u8>>, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => r.subscribe_events(pattern).await,
            Backend::Embedded(e) => e.tail_events(pattern).await,
        }
    }

    /// The dead letters of one queue (`commands` or a task queue's name), to keep in
    /// the database (RabbitMQ). `None`: the embedded queue writes them there itself.
    pub async fn consume_dead_letters(
        &self,
        queue: &str,
    ) -> Result<Option<BoxStream<'static, DeadMessage>>, BrokerError> {
        match &self.backend {
            Backend::Rabbit(r) => {
                let dead_queue = if queue == COMMANDS {
                    r.dead_queue()
                } else {
                    r.task_dead_queue(queue)
                };
                r.consume_dead_of(dead_queue).await.map(Some)
            }
            Backend::Embedded(_) => Ok(None),
        }
    }

    /// Best-effort, bounded shutdown.
    pub async fn close(&self) {
        if let Backend::Rabbit(r) = &self.backend {
            r.close().await;
        }
    }
}

enum Acker {
    Rabbit {
        acker: lapin::Acker,
        rabbit: Arc<Rabbit>,
        headers: Option<lapin::types::FieldTable>,
    },
    Embedded {
        job_id: i64,
        embedded: Arc<Embedded>,
    },
}

/// Acknowledges deliveries after their common commit: the embedded queue's jobs in one
/// statement (one write on SQLite), RabbitMQ's each on its channel. Not multiple-acks:
/// other batches of the same channel may still be uncommitted. A failed ack only means
/// a redelivery, which the de-duplication absorbs.
pub async fn ack_all(deliveries: &[&Delivery]) {
    let mut jobs: Vec<i64> = Vec::new();
    let mut embedded: Option<Arc<Embedded>> = None;
    for delivery in deliveries {
        match &delivery.acker {
            Acker::Embedded { job_id, embedded: e } => {
                jobs.push(*job_id);
                embedded.get_or_insert_with(|| Arc::clone(e));
            }
            Acker::Rabbit { .. } => match delivery.ack().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("ack not delivered (channel gone); the command will come again and be de-duplicated")
                }
                Err(err) => {
                    tracing::warn!(error = %err, "ack failed; the command will come again and be de-duplicated")
                }
            },
        }
    }
    if let Some(embedded) = embedded {
        if let Err(err) = embedded.ack_many(&jobs).await {
            tracing::warn!(error = %err, jobs = jobs.len(), "embedded queue: ack failed; the jobs come again and are de-duplicated");
        }
    }
}

/// One received command or task.
pub struct Delivery {
    pub payload: Vec<u8>,
    /// The task queue it came from (`None`: the command queue).
    pub queue: Option<Arc<TaskQueue>>,
    pub reply_to: Option<String>,
    /// Scheduled retries this command has had so far.
    pub retries: u32,
    pub redelivered: bool,
    acker: Acker,
}

impl Delivery {
    /// Acknowledges after the commit. `Ok(false)`: the broker will deliver it again
    /// (the channel it came on is gone), which the de-duplication absorbs.
    pub async fn ack(&self) -> Result<bool, BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, .. } => rabbit.ack(acker).await,
            Acker::Embedded { job_id, embedded } => embedded.ack(*job_id).await,
        }
    }

    /// Sends the command to the dead-letter queue (unparseable, or out of retries).
    pub async fn dead_letter(&self, reason: &str) -> Result<(), BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, .. } => rabbit.nack(acker, false).await,
            Acker::Embedded { job_id, embedded } => embedded.dead_letter(*job_id, reason).await,
        }
    }

    /// Returns the command to the queue at once (when re-scheduling failed), so it does
    /// not sit unacknowledged on a live channel.
    pub async fn requeue(&self) -> Result<(), BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, .. } => rabbit.nack(acker, true).await,
            Acker::Embedded { job_id, embedded } => embedded.retry_later(*job_id, Duration::ZERO).await,
        }
    }

    /// A task that failed in a way worth retrying: again after its queue's next delay
    /// (through a delay queue), or to its dead-letter queue once out of retries.
    /// `Ok(true)`: it will come again.
    pub async fn retry_or_give_up(&self, reason: &str) -> Result<bool, BrokerError> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("retry_or_give_up is for task queues".into()))?;
        let Some((level, wait)) = queue.retry.delay(self.retries) else {
            self.dead_letter(reason).await?;
            return Ok(false);
        };
        self.reschedule_task(queue, level, wait, true).await?;
        Ok(true)
    }

    /// A task again after `wait` through the delay queue of `level` (one of its queue's
    /// retry levels), for handlers that keep their own schedule (the embedded queue does
    /// not count it against the task's attempts).
    pub async fn retry_task_after(&self, level: u64, wait: Duration) -> Result<(), BrokerError> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| BrokerError::Unavailable("retry_task_after is for task queues".into()))?;
        self.reschedule_task(queue, level, wait, false).await
    }

    async fn reschedule_task(
        &self,
        queue: &TaskQueue,
        level: u64,
        wait: Duration,
        counted: bool,
    ) -> Result<(), BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, headers } => {
                rabbit
                    .retry_task(queue, &self.payload, headers.clone(), self.retries + 1, level, wait)
                    .await?;
                rabbit.ack(acker).await?;
            }
            Acker::Embedded { job_id, embedded } if counted => embedded.retry_later(*job_id, wait).await?,
            Acker::Embedded { job_id, embedded } => embedded.retry_later_uncounted(*job_id, wait).await?,
        }
        Ok(())
    }

    /// Schedules the command again after `delay` without counting this delivery against
    /// its retries: for failures that say nothing about the command (the database is
    /// unreachable), so an outage of any length dead-letters nothing.
    pub async fn retry_later_uncounted(&self, delay: Duration) -> Result<(), BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, headers } => {
                rabbit
                    .retry_later(&self.payload, headers.clone(), self.retries, delay)
                    .await?;
                rabbit.ack(acker).await.map(|_| ())
            }
            Acker::Embedded { job_id, embedded } => embedded.retry_later_uncounted(*job_id, delay).await,
        }
    }

    /// Schedules the command again after `delay` (the delay queue), then acknowledges
    /// this delivery.
    pub async fn retry_later(&self, delay: Duration) -> Result<(), BrokerError> {
        match &self.acker {
            Acker::Rabbit { acker, rabbit, headers } => {
                rabbit
                    .retry_later(&self.payload, headers.clone(), self.retries + 1, delay)
                    .await?;
                rabbit.ack(acker).await.map(|_| ())
            }
            Acker::Embedded { job_id, embedded } => embedded.retry_later(*job_id, delay).await,
        }
    }
}
