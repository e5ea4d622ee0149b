//! `/metrics` (and `/health`) of a process without the ingest, on `KEFU_METRICS_ADDR`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kefu_common::infra::broker::Broker;
use kefu_common::infra::metrics::{Metrics, CONTENT_TYPE as METRICS_TYPE};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    broker: Broker,
}

async fn scrape(State(s): State<Scrape>) -> impl IntoResponse {
    ([(CONTENT_TYPE, METRICS_TYPE)], s.metrics.render(&s.broker).await)
}

/// Serves until `cancel`.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    broker: Broker,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health", get(|| async { "ok" }))
        .with_state(Scrape { metrics, broker });
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}
