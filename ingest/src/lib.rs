//! The ingest tier: authenticate, validate, publish a command, answer.

mod auth;
mod console;
mod dispatch;
mod error;
mod handover;
mod input;
mod limits;
mod media;
pub mod openapi;
pub mod realtime;
mod requests;
mod routes;
mod server;
mod stream_slots;
pub mod views;

use std::sync::Arc;

use axum::Router;
use kefu_common::domain::ids::IdGen;
use kefu_common::infra::broker::Broker;
use kefu_common::infra::config::Config;
use kefu_common::infra::media::{MediaError, MediaStore};
use kefu_common::infra::metrics::Metrics;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// Everything a handler needs, passed as axum `State`.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub media: MediaStore,
    pub broker: Broker,
    pub config: Arc<Config>,
    pub ids: Arc<IdGen>,
    pub limits: Arc<limits::Limits>,
    /// HTML templates, auto-escaping (`.html`).
    pub templates: Arc<minijinja::Environment<'static>>,
    /// This process's metrics (shared with its workers under `kefu serve`).
    pub metrics: Arc<Metrics>,
    /// The events SSE clients are fed from.
    pub hub: realtime::Hub,
    /// `KEFU_TRUSTED_PROXIES`, parsed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, broker: Broker, config: Arc<Config>) -> Result<Self, MediaError> {
        let hub = realtime::Hub::new(config.sse_buffer);
        Ok(Self {
            trusted_proxies: Arc::new(config.trusted_proxy_nets()),
            media: MediaStore::from_config(&config)?,
            limits: Arc::new(limits::Limits::from_config(&config)),
            db,
            broker,
            config,
            ids: Arc::new(IdGen::default()),
            templates: Arc::new(templates()),
            metrics: Arc::new(Metrics::new()),
            hub,
        })
    }

    /// Shares a registry with the workers of the same process.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// The HTML templates, compiled into the binary.
fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.add_template("user.html", include_str!("../templates/user.html"))
        .expect("user.html is a valid template");
    env.add_template("landing.html", include_str!("../templates/landing.html"))
        .expect("landing.html is a valid template");
    env
}

pub fn router(state: AppState) -> Router {
    routes::router(&state).with_state(state)
}

/// Serves until `cancel`, then drains in-flight requests.
pub async fn serve(listener: TcpListener, state: AppState, cancel: CancellationToken) -> std::io::Result<()> {
    state.broker.start_reply_listener(cancel.clone());
    let (limits, stop, db) = (Arc::clone(&state.limits), cancel.clone(), state.db.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {
                    limits.prune();
                    let policy = limits.logins.policy;
                    if let Err(err) = kefu_common::store::login_locks::prune(&db, &policy, kefu_common::now_ms()).await {
                        tracing::warn!(error = %err, "could not prune forgotten login failures");
                    }
                }
            }
        }
    });
    state.hub.start(state.broker.clone(), cancel.clone());
    let (hub_stop, stopping) = (state.hub.stop.clone(), cancel.clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        hub_stop.cancel();
    });
    tracing::info!(addr = %listener.local_addr()?, broker = state.broker.kind(), "ingest listening");
    let limits = server::ServerLimits {
        header_read_timeout: std::time::Duration::from_millis(state.config.header_read_timeout_ms),
        max_connections: state.config.max_connections,
    };
    server::serve(listener, router(state), limits, cancel).await
}
