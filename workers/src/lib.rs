//! Workers: consume commands, apply them in one database transaction (with their events
//! in the outbox), answer, then ack; relay the outbox to `kefu.events`.

mod batch;
pub mod commands;
mod consumer;
mod dead_keeper;
mod faults;
pub mod http_delivery;
pub mod im_delivery;
mod janitor;
mod media_gc;
mod metrics_http;
pub mod relay;
mod router;
pub mod tasks;
pub mod timeouts;

use consumer::run_consumer;
use janitor::run_janitor;
pub use media_gc::collect_unreferenced_media;
pub use metrics_http::serve_metrics;

use std::sync::Arc;

use kefu_common::infra::broker::Broker;
use kefu_common::infra::config::Config;
use kefu_common::infra::metrics::Metrics;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Worker {
    pub db: DatabaseConnection,
    pub broker: Broker,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Rung after a commit that wrote events, so the relay publishes at once instead of
    /// at its next poll.
    pub relay_wakeup: Arc<tokio::sync::Notify>,
    /// Rung when a commit recorded IM deliveries (the IM queue starts on first use).
    pub im_wakeup: Arc<tokio::sync::Notify>,
    /// Rung when a commit recorded webhook or push deliveries (likewise).
    pub http_wakeup: Arc<tokio::sync::Notify>,
    /// What applying commands needs from the configuration.
    pub rules: Arc<commands::Rules>,
}

impl Worker {
    pub fn new(db: DatabaseConnection, broker: Broker, config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        Self {
            rules: Arc::new(commands::Rules::from_config(&config)),
            db,
            broker,
            config,
            metrics,
            relay_wakeup: Arc::default(),
            im_wakeup: Arc::default(),
            http_wakeup: Arc::default(),
        }
    }
}

/// What a transaction recorded for after its commit: the questions with new IM
/// deliveries, and the new webhook and push deliveries.
#[derive(Debug, Default)]
pub struct Recorded {
    pub im_questions: Vec<String>,
    pub http: Vec<String>,
}

impl Recorded {
    pub fn extend(&mut self, other: Recorded) {
        for q in other.im_questions {
            if !self.im_questions.contains(&q) {
                self.im_questions.push(q);
            }
        }
        self.http.extend(other.http);
    }
}

/// Writes the events to the outbox and records their IM, webhook and push deliveries,
/// all in the caller's transaction, with the apps' settings as `rules` checked them.
pub async fn record_effects(
    txn: &impl sea_orm::ConnectionTrait,
    events: &[kefu_common::domain::events::DomainEvent],
    rules: &commands::Rules,
) -> Result<Recorded, sea_orm::DbErr> {
    use kefu_common::store::{im, outbox, settings_cache, webhooks};
    if events.is_empty() {
        return Ok(Recorded::default());
    }
    let apps = settings_cache::distinct_apps(events.iter().map(|e| e.app_id()));
    let settings = rules.settings_of(txn, &apps).await?;
    let cloud = outbox::write(txn, events, &settings).await?;
    Ok(Recorded {
        im_questions: im::deliveries::record(txn, events, &settings).await?,
        http: webhooks::record(txn, events, &cloud, &settings).await?,
    })
}

/// After the commit: the delivery tasks (best effort; the sweepers pick up the rest).
pub async fn after_commit(worker: &Worker, recorded: &Recorded) {
    im_delivery::trigger(worker, &recorded.im_questions).await;
    http_delivery::trigger(worker, &recorded.http).await;
}

/// Runs the command consumer and the janitor until `cancel`.
pub async fn run(worker: Worker, cancel: CancellationToken) {
    faults::warn_if_ignored(&worker.config);
    let janitor = tokio::spawn(run_janitor(worker.clone(), cancel.clone()));
    let keeper = tokio::spawn(dead_keeper::run_dead_keeper(worker.clone(), cancel.clone()));
    let im = tokio::spawn(im_delivery::run(worker.clone(), cancel.clone()));
    let deadlines = tokio::spawn(timeouts::run_timeouts(worker.clone(), cancel.clone()));
    let http = tokio::spawn(http_delivery::run(worker.clone(), cancel.clone()));
    let router = tokio::spawn(router::run_router(worker.clone(), cancel.clone()));
    let relay = worker
        .config
        .relay
        .then(|| tokio::spawn(relay::run_relay(worker.clone(), cancel.clone())));
    run_consumer(worker, cancel).await;
    let _ = janitor.await;
    let _ = keeper.await;
    let _ = im.await;
    let _ = deadlines.await;
    let _ = http.await;
    let _ = router.await;
    if let Some(relay) = relay {
        let _ = relay.await;
    }
}
