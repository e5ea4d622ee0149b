//! Prometheus metrics (`prometheus-client`): one registry per process, held by the
//! ingest's state and the workers, never global. The ingest serves them on `/metrics`;
//! a worker-only process on `KEFU_METRICS_ADDR`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template (`/v1/question/{question_id}/serve`), never the raw
    /// path: bounded cardinality and no ids.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: String,
    /// `applied`, `refused`, `duplicate`, `retried` or `dead_lettered`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub queue: String,
    /// `done`, `retried`, `dead_lettered`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `commands`, or a task queue (`im-deliveries`, `http-deliveries`).
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// `im` (Tencent IM send_msg), later also push and webhooks.
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub channel: String,
    /// `delivered`, `retried`, `failed`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApplyLabels {
    pub command: String,
}

/// What a command came to, for the counters.
#[derive(Debug, Clone, Copy)]
pub enum CommandResult {
    Applied,
    Refused,
    Duplicate,
    Retried,
    DeadLettered,
}

impl CommandResult {
    fn as_str(self) -> &'static str {
        match self {
            CommandResult::Applied => "applied",
            CommandResult::Refused => "refused",
            CommandResult::Duplicate => "duplicate",
            CommandResult::Retried => "retried",
            CommandResult::DeadLettered => "dead_lettered",
        }
    }
}

fn latency() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    commands: Family<CommandLabels, Counter>,
    apply_duration: Family<ApplyLabels, Histogram, fn() -> Histogram>,
    command_batch_size: Histogram,
    tasks: Family<TaskLabels, Counter>,
    deadlines_fired: Counter,
    delivery_attempts: Family<ChannelLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    deliveries_in_flight: Family<ChannelLabels, Gauge<i64>>,
    delivery_duration: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    queue_ready: Family<QueueLabels, Gauge<i64>>,
    queue_consumers: Family<QueueLabels, Gauge<i64>>,
    broker_up: Gauge<i64>,
    // Scrapes served, so a scrape of an idle process still shows life.
    scrapes: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kefu");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            http_duration.clone(),
        );
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "commands",
            "Commands handled by the workers: applied, refused, duplicate, retried, dead_lettered",
            commands.clone(),
        );
        let apply_duration =
            Family::<ApplyLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "command_apply_duration_seconds",
            "Time to apply one command and commit it",
            apply_duration.clone(),
        );
        // 1 … 256 commands.
        let command_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "command_batch_size",
            "Commands applied together in one transaction (a batch of one is a lone command)",
            command_batch_size.clone(),
        );
        let tasks = Family::<TaskLabels, Counter>::default();
        registry.register(
            "tasks",
            "Tasks of the task queues by queue and result: done, retried, dead_lettered",
            tasks.clone(),
        );
        let deadlines_fired = Counter::default();
        registry.register(
            "deadlines_fired",
            "Question deadlines fired by this worker's sweeps (timeouts and end confirmations)",
            deadlines_fired.clone(),
        );
        let delivery_attempts = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Outbound delivery attempts (HTTP calls) by channel",
            delivery_attempts.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Outbound delivery attempts by channel and result: delivered, retried, failed",
            deliveries.clone(),
        );
        let deliveries_in_flight = Family::<ChannelLabels, Gauge<i64>>::default();
        registry.register(
            "deliveries_in_flight",
            "Outbound deliveries being sent now, by channel",
            deliveries_in_flight.clone(),
        );
        let delivery_duration =
            Family::<ChannelLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "delivery_duration_seconds",
            "Time of one outbound delivery attempt, by channel",
            delivery_duration.clone(),
        );
        let queue_ready = Family::<QueueLabels, Gauge<i64>>::default();
        registry.register(
            "queue_ready",
            "Messages waiting in each queue: commands and each task queue (read at scrape time; what an autoscaler acts on)",
            queue_ready.clone(),
        );
        let queue_consumers = Family::<QueueLabels, Gauge<i64>>::default();
        registry.register(
            "queue_consumers",
            "Consumers of each queue (RabbitMQ: all processes; embedded: this one's; read at scrape time)",
            queue_consumers.clone(),
        );
        let broker_up = Gauge::default();
        registry.register(
            "broker_up",
            "1 when the last scrape reached the broker",
            broker_up.clone(),
        );
        let scrapes = Counter::default();
        registry.register("metrics_scrapes", "Scrapes of this endpoint", scrapes.clone());
        Self {
            registry,
            http_requests,
            http_duration,
            commands,
            apply_duration,
            command_batch_size,
            tasks,
            deadlines_fired,
            delivery_attempts,
            deliveries,
            deliveries_in_flight,
            delivery_duration,
            queue_ready,
            queue_consumers,
            broker_up,
            scrapes,
        }
    }

    pub fn http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.http_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    pub fn command(&self, command: &str, result: CommandResult) {
        self.commands
            .get_or_create(&CommandLabels {
                command: command.to_owned(),
                result: result.as_str().to_owned(),
            })
            .inc();
    }

    pub fn task(&self, queue: &str, result: &str) {
        self.tasks
            .get_or_create(&TaskLabels {
                queue: queue.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// A transaction of the command consumer committed `n` commands.
    pub fn command_batch(&self, n: usize) {
        self.command_batch_size.observe(n as f64);
    }

    pub fn deadlines_fired(&self, n: u64) {
        self.deadlines_fired.inc_by(n);
    }

    /// One delivery attempt begins; the guard ends it (in flight until dropped).
    pub fn delivery_started(&self, channel: &str) -> InFlight {
        let labels = ChannelLabels {
            channel: channel.to_owned(),
        };
        self.delivery_attempts.get_or_create(&labels).inc();
        let gauge = self.deliveries_in_flight.get_or_create(&labels).clone();
        gauge.inc();
        InFlight {
            gauge,
            started: std::time::Instant::now(),
        }
    }

    /// How a delivery attempt ended: `delivered`, `retried` or `failed`.
    pub fn delivery_ended(&self, channel: &str, result: &str, attempt: InFlight) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.delivery_duration
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .observe(attempt.started.elapsed().as_secs_f64());
    }

    pub fn applied_in(&self, command: &str, elapsed: Duration) {
        self.apply_duration
            .get_or_create(&ApplyLabels {
                command: command.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Text exposition (OpenMetrics), after reading the queue through `probe`.
    pub async fn render(&self, broker: &crate::infra::broker::Broker) -> String {
        match tokio::time::timeout(Duration::from_secs(2), broker.probe_queues()).await {
            Ok(Ok(queues)) => {
                for (queue, stats) in queues {
                    let labels = QueueLabels { queue };
                    self.queue_ready.get_or_create(&labels).set(stats.ready as i64);
                    self.queue_consumers
                        .get_or_create(&labels)
                        .set(stats.consumers.unwrap_or(0) as i64);
                }
                self.broker_up.set(1);
            }
            _ => {
                self.broker_up.set(0);
            }
        }
        self.scrapes.inc();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A delivery attempt in flight; dropping it takes it off the gauge.
pub struct InFlight {
    gauge: Gauge<i64>,
    started: std::time::Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
