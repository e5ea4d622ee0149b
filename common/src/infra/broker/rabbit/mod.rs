//! RabbitMQ backend (lapin).
//!
//! Topology, declared idempotently on every (re)connect, for prefix `P`:
//! - exchange `P.commands` (direct) → quorum queue `P.commands` (routing key `command`),
//!   with `x-dead-letter-exchange=P.dlx`, `x-dead-letter-strategy=at-least-once`,
//!   `x-overflow=reject-publish`, `x-delivery-limit` and `x-max-length`;
//! - exchange `P.dlx` (fanout) → quorum queue `P.commands.dead`;
//! - one quorum delay queue per retry-schedule step, `P.commands.retry.<ms>`, whose
//!   messages expire back into `P.commands` at least once (fixed TTL per queue, so no
//!   head-of-line blocking);
//! - per ingest process, an exclusive server-named reply queue.
//!
//! Reconnecting: every operation is bounded by `broker_timeout`; a failed publish drops
//! the channel, reconnects and re-publishes the same message id until the deadline
//! (workers de-duplicate). Consumers end their stream when the connection is lost and
//! the worker loop calls `consume` again, which reconnects and re-declares.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::stream::{BoxStream, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Acker, BrokerError, Delivery, Replies, TaskQueue};

mod consume;
mod topology;

/// A message of the dead-letter queue.
pub struct DeadMessage {
    pub message_id: String,
    pub payload: Vec<u8>,
    /// RabbitMQ's `x-first-death-reason`: `rejected` (given up by a worker) or
    /// `delivery_limit` (it crashed workers).
    pub reason: String,
    /// Scheduled retries it had.
    pub retries: i32,
    acker: lapin::Acker,
    rabbit: Arc<Rabbit>,
}

impl DeadMessage {
    pub async fn ack(&self) -> Result<bool, BrokerError> {
        self.rabbit.ack(&self.acker).await
    }
}
use crate::infra::config::Config;
use crate::infra::retry::Backoff;

const ROUTING_KEY: &str = "command";
const RETRIES_HEADER: &str = "x-kefu-retries";

pub struct Rabbit {
    /// The nodes to try, in order (`KEFU_AMQP_URL`, comma-separated).
    urls: Vec<String>,
    /// The node of the live connection (or the one to try first).
    node: AtomicUsize,
    prefix: String,
    timeout: Duration,
    prefetch: u16,
    delivery_limit: u32,
    queue_max_length: u32,
    schedule_ms: Vec<u64>,
    conn: Mutex<Option<Arc<Connection>>>,
    /// Confirm-mode channels publishes are spread over: RabbitMQ serializes the confirms
    /// of one channel, so several in flight keep the queue's writes batched.
    publishers: Vec<Mutex<Option<Channel>>>,
    next_publisher: AtomicUsize,
    reply_queue: RwLock<Option<String>>,
    replies: Replies,
    /// Task queues declared so far, declared again after every reconnect.
    tasks: RwLock<Vec<TaskQueue>>,
}

/// `host:port` of an AMQP URL, without its credentials (for logs and `/ready`).
fn node_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// How long refusals (nacks) of one publish are retried before the queue counts as full.
const NACK_GRACE: Duration = Duration::from_millis(1_000);

async fn bounded<T, E: Into<BrokerError>>(
    timeout: Duration,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, BrokerError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(BrokerError::Timeout(what)),
    }
}

fn str_arg(table: &mut FieldTable, key: &str, value: &str) {
    table.insert(key.into(), AMQPValue::LongString(value.into()));
}

fn int_arg(table: &mut FieldTable, key: &str, value: i64) {
    table.insert(key.into(), AMQPValue::LongLongInt(value));
}

/// A quorum delay queue whose messages expire (at least once) into `exchange` /
/// `routing_key` after `ms` (or their own shorter expiration).
fn delay_queue_args(ms: u64, exchange: &str, routing_key: &str) -> FieldTable {
    let mut args = FieldTable::default();
    str_arg(&mut args, "x-queue-type", "quorum");
    str_arg(&mut args, "x-dead-letter-strategy", "at-least-once");
    str_arg(&mut args, "x-overflow", "reject-publish");
    int_arg(&mut args, "x-message-ttl", ms as i64);
    str_arg(&mut args, "x-dead-letter-exchange", exchange);
    str_arg(&mut args, "x-dead-letter-routing-key", routing_key);
    args
}

impl Rabbit {
    pub async fn connect(url: &str, config: &Config) -> Result<Self, BrokerError> {
        let rabbit = Self {
            urls: url
                .split(',')
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect(),
            node: AtomicUsize::new(0),
            prefix: config.amqp_prefix.clone(),
            timeout: config.broker_timeout(),
            prefetch: config.prefetch,
            delivery_limit: config.delivery_limit,
            queue_max_length: config.queue_max_length,
            schedule_ms: config.retry_schedule_ms.clone(),
            conn: Mutex::new(None),
            tasks: RwLock::default(),
            publishers: (0..usize::from(config.amqp_publish_channels.max(1)))
                .map(|_| Mutex::new(None))
                .collect(),
            next_publisher: AtomicUsize::new(0),
            reply_queue: RwLock::new(None),
            replies: Replies::default(),
        };
        rabbit.connection().await?;
        Ok(rabbit)
    }

    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    pub fn commands_queue(&self) -> String {
        format!("{}.commands", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.commands.dead", self.prefix)
    }

    /// Reaches the broker (reconnecting if need be) and reads the command queue's depth
    /// and consumer count by a passive declare.
    pub async fn probe(&self) -> Result<super::QueueStats, BrokerError> {
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = bounded(
            self.timeout,
            "inspect the command queue",
            ch.queue_declare(self.commands_queue().into(), options, FieldTable::default()),
        )
        .await;
        let _ = bounded(self.timeout, "close channel", ch.close(200, "probed".into())).await;
        let queue = queue?;
        Ok(super::QueueStats {
            ready: u64::from(queue.message_count()),
            consumers: Some(u64::from(queue.consumer_count())),
        })
    }

    /// The command queue's and the task queues' depth and consumers, by passive
    /// declares on one channel each. A task queue not declared yet (workers declare one
    /// once it is needed) has nothing waiting and nobody consuming: 0 and 0.
    pub async fn probe_queues(&self, tasks: &[&str]) -> Result<Vec<(String, super::QueueStats)>, BrokerError> {
        let mut out = vec![("commands".to_owned(), self.probe().await?)];
        let conn = self.connection().await?;
        for name in tasks {
            let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
            let options = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let declared = bounded(
                self.timeout,
                "inspect a task queue",
                ch.queue_declare(self.task_queue(name).into(), options, FieldTable::default()),
            )
            .await;
            let stats = match declared {
                Ok(queue) => {
                    let _ = bounded(self.timeout, "close channel", ch.close(200, "probed".into())).await;
                    super::QueueStats {
                        ready: u64::from(queue.message_count()),
                        consumers: Some(u64::from(queue.consumer_count())),
                    }
                }
                Err(_) => super::QueueStats {
                    ready: 0,
                    consumers: Some(0),
                },
            };
            out.push(((*name).to_owned(), stats));
        }
        Ok(out)
    }

    fn retry_queue(&self, delay_ms: u64) -> String {
        format!("{}.commands.retry.{delay_ms}", self.prefix)
    }

    /// The live connection, or a new one with the topology declared.
    async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_ref() {
            if conn.status().connected() {
                return Ok(Arc::clone(conn));
            }
        }
        let conn = Arc::new(self.connect_any().await?);
        let channel = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        self.declare_topology(&channel).await?;
        let _ = bounded(self.timeout, "close channel", channel.close(200, "declared".into())).await;
        tracing::info!(prefix = %self.prefix, "connected to RabbitMQ and declared the topology");
        *guard = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Connects to the first node that answers, starting with the last one used; a lost
    /// node is left for the next (the callers retry with backoff).
    async fn connect_any(&self) -> Result<Connection, BrokerError> {
        let start = self.node.load(Ordering::Relaxed);
        let mut last = BrokerError::Unavailable("no RabbitMQ address".into());
        for k in 0..self.urls.len() {
            let i = (start + k) % self.urls.len();
            let props =
                ConnectionProperties::default().with_connection_name(format!("kefu-{}", std::process::id()).into());
            match bounded(self.timeout, "connect", Connection::connect(&self.urls[i], props)).await {
                Ok(conn) => {
                    if i != start {
                        tracing::warn!(node = %node_of(&self.urls[i]), "RabbitMQ: connected to another node");
                    }
                    self.node.store(i, Ordering::Relaxed);
                    return Ok(conn);
                }
                Err(err) => {
                    tracing::warn!(node = %node_of(&self.urls[i]), error = %err, "RabbitMQ: node unreachable");
                    last = err;
                }
            }
        }
        // The next attempt starts with the node after the one tried first.
        self.node.store((start + 1) % self.urls.len().max(1), Ordering::Relaxed);
        Err(last)
    }

    /// The node this process is connected to (or will try first): `host:port`.
    pub fn node(&self) -> String {
        node_of(&self.urls[self.node.load(Ordering::Relaxed) % self.urls.len().max(1)])
    }

    fn task_queue(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The dead-letter queue of a task queue.
    pub fn task_dead_queue(&self, name: &str) -> String {
        format!("{}.{name}.dead", self.prefix)
    }

    /// A task, confirmed, to its queue (through the default exchange).
    pub async fn publish_task(&self, queue: &str, id: &str, payload: &[u8]) -> Result<(), BrokerError> {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(id.into());
        self.publish_confirmed("", &self.task_queue(queue), payload, props)
            .await
    }

    /// A task again, through the delay queue of `level`, expiring after `wait` (≤ level).
    pub async fn retry_task(
        &self,
        task: &TaskQueue,
        payload: &[u8],
        headers: Option<FieldTable>,
        retries: u32,
        level: u64,
        wait: Duration,
    ) -> Result<(), BrokerError> {
        let queue = format!("{}.retry.{level}", self.task_queue(&task.name));
        self.publish_delayed(&queue, payload, headers, retries, Some(wait))
            .await
    }

    /// The one way a message goes back through a delay queue: its headers kept, the
    /// retry count set, and (for tasks) its own expiration within the queue's TTL.
    async fn publish_delayed(
        &self,
        queue: &str,
        payload: &[u8],
        headers: Option<FieldTable>,
        retries: u32,
        expiration: Option<Duration>,
    ) -> Result<(), BrokerError> {
        let mut headers = headers.unwrap_or_default();
        headers.insert(RETRIES_HEADER.into(), AMQPValue::LongLongInt(i64::from(retries)));
        let mut props = BasicProperties::default().with_delivery_mode(2).with_headers(headers);
        if let Some(wait) = expiration {
            props = props.with_expiration(wait.as_millis().to_string().into());
        }
        self.publish_confirmed("", queue, payload, props).await
    }

    /// The next publisher channel in turn (opened if need be), with its slot for
    /// [`Rabbit::drop_publisher`].
    async fn publisher_channel(&self) -> Result<(usize, Channel), BrokerError> {
        let slot = self.next_publisher.fetch_add(1, Ordering::Relaxed) % self.publishers.len();
        let mut guard = self.publishers[slot].lock().await;
        if let Some(ch) = guard.as_ref() {
            if ch.status().connected() {
                return Ok((slot, ch.clone()));
            }
        }
        let conn = self.connection().await?;
        let ch = bounded(self.timeout, "create channel", conn.create_channel()).await?;
        bounded(
            self.timeout,
            "confirm select",
            ch.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *guard = Some(ch.clone());
        Ok((slot, ch))
    }

    async fn drop_publisher(&self, slot: usize) {
        self.publishers[slot].lock().await.take();
    }

    /// One confirmed publish; `Rejected`/`Unroutable` are final answers of the broker.
    /// Any other error drops the channel it used, for the next try to open a fresh one.
    async fn publish_once(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        props: BasicProperties,
    ) -> Result<(), BrokerError> {
        let (slot, ch) = self.publisher_channel().await?;
        let result = self.confirmed_on(&ch, exchange, routing_key, payload, props).await;
        // A nack may come from a channel whose connection died without telling it yet:
        // the next attempt takes a new channel (and reconnects if need be).
        if matches!(&result, Err(e) if !matches!(e, BrokerError::Unroutable(_))) {
            self.drop_publisher(slot).await;
        }
        result
    }

    async fn confirmed_on(
        &self,
        ch: &Channel,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        props: BasicProperties,
    ) -> Result<(), BrokerError> {
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirm = bounded(
            self.timeout,
            "publish",
            ch.basic_publish(exchange.into(), routing_key.into(), options, payload, props),
        )
        .await?;
        match bounded(self.timeout, "publisher confirm", confirm).await? {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(BrokerError::Unroutable(returned.reply_text.to_string())),
            // Outstanding confirms of a lost connection resolve as nacks: unknown, not refused.
            Confirmation::Nack(_) if !ch.status().connected() => Err(BrokerError::Unavailable(
                "the connection was lost before the confirm".into(),
            )),
            Confirmation::Nack(_) => Err(BrokerError::Rejected(format!(
                "queue {routing_key} refused the message (full?)"
            ))),
            Confirmation::NotRequested => Err(BrokerError::Unavailable("publisher confirms are not enabled".into())),
        }
    }

    /// Publishes with confirm, reconnecting and re-publishing the same message until the
    /// deadline. A duplicate caused by an unknown outcome is absorbed by the workers.
    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        props: BasicProperties,
    ) -> Result<(), BrokerError> {
        let deadline = Instant::now() + self.timeout * 3;
        let mut backoff = Backoff::quick();
        let mut refused_since: Option<Instant> = None;
        loop {
            match self.publish_once(exchange, routing_key, payload, props.clone()).await {
                Ok(()) => return Ok(()),
                Err(err @ BrokerError::Unroutable(_)) => return Err(err),
                // A quorum queue also refuses while it elects a new leader (a node was
                // lost): only a refusal that lasts means the queue is full.
                Err(err @ BrokerError::Rejected(_)) => {
                    if refused_since.get_or_insert_with(Instant::now).elapsed() >= NACK_GRACE {
                        return Err(err);
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, routing_key, "publish failed; reconnecting to re-publish");
                    let delay = backoff.next_delay();
                    if Instant::now() + delay > deadline {
                        return Err(err);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// The topic exchange downstream systems bind to (`<prefix>.events`).
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Publishes a batch of CloudEvents (routing key, id, payload) to the events exchange
    /// and waits for every confirm. Not mandatory: an exchange nobody listens to yet drops
    /// them, as a topic does. On error the whole batch is for the caller to re-publish
    /// (same ids: at least once).
    pub async fn publish_events(&self, events: &[(&str, &str, &[u8])]) -> Result<(), BrokerError> {
        let (slot, ch) = self.publisher_channel().await?;
        let result = async {
            let exchange = self.events_exchange();
            let mut confirms = Vec::with_capacity(events.len());
            for (routing_key, id, payload) in events {
                let props = BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/cloudevents+json".into())
                    .with_message_id((*id).into())
                    .with_type((*routing_key).into());
                let confirm = bounded(
                    self.timeout,
                    "publish event",
                    ch.basic_publish(
                        exchange.as_str().into(),
                        (*routing_key).into(),
                        BasicPublishOptions::default(),
                        payload,
                        props,
                    ),
                )
                .await?;
                confirms.push(confirm);
            }
            for confirm in confirms {
                match bounded(self.timeout, "event confirm", confirm).await? {
                    Confirmation::Ack(_) => {}
                    Confirmation::Nack(_) => {
                        return Err(BrokerError::Rejected("the events exchange refused an event".into()))
                    }
                    Confirmation::NotRequested => {
                        return Err(BrokerError::Unavailable("publisher confirms are not enabled".into()))
                    }
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            self.drop_publisher(slot).await;
        }
        result
    }

    pub async fn publish_command(&self, message_id: &str, payload: &[u8], want_reply: bool) -> Result<(), BrokerError> {
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(message_id.into())
            .with_correlation_id(message_id.into());
        if want_reply {
            if let Some(queue) = self.reply_queue.read().expect("reply queue lock").clone() {
                props = props.with_reply_to(queue.into());
            }
        }
        self.publish_confirmed(&format!("{}.commands", self.prefix), ROUTING_KEY, payload, props)
            .await
    }

    pub async fn retry_later(
        &self,
        payload: &[u8],
        headers: Option<FieldTable>,
        retries: u32,
        delay: Duration,
    ) -> Result<(), BrokerError> {
        let ms = delay.as_millis() as u64;
        let queue = if self.schedule_ms.contains(&ms) {
            self.retry_queue(ms)
        } else {
            self.retry_queue(
                *self
                    .schedule_ms
                    .last()
                    .ok_or_else(|| BrokerError::Unavailable("no retry schedule".into()))?,
            )
        };
        self.publish_delayed(&queue, payload, headers, retries, None).await
    }

    pub async fn send_reply(&self, reply_to: &str, correlation_id: &str, body: Vec<u8>) {
        let props = BasicProperties::default().with_correlation_id(correlation_id.into());
        let result = async {
            let (_, ch) = self.publisher_channel().await?;
            // Not awaiting the confirm: a lost reply only makes the ingest read the outcome
            // from the database instead.
            bounded(
                self.timeout,
                "publish reply",
                ch.basic_publish("".into(), reply_to.into(), BasicPublishOptions::default(), &body, props),
            )
            .await?;
            Ok::<_, BrokerError>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, correlation_id, "could not send reply; the ingest will read the stored outcome");
        }
    }

    pub async fn ack(&self, acker: &lapin::Acker) -> Result<bool, BrokerError> {
        bounded(self.timeout, "ack", acker.ack(BasicAckOptions::default())).await
    }

    /// Negative ack: `requeue` returns it to the queue, otherwise it is dead-lettered.
    pub async fn nack(&self, acker: &lapin::Acker, requeue: bool) -> Result<(), BrokerError> {
        let options = BasicNackOptions {
            requeue,
            multiple: false,
        };
        bounded(self.timeout, "nack", acker.nack(options)).await.map(|_| ())
    }

    pub async fn close(&self) {
        if let Some(conn) = self.conn.lock().await.take() {
            let _ = tokio::time::timeout(self.timeout, conn.close(200, "shutdown".into())).await;
        }
    }
}
