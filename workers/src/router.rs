//! The routing sweep: every `KEFU_ROUTING_SWEEP_MS` each worker gives out what the
//! commands' own routing left waiting in apps with automatic routing: offers that ran
//! out pass to the next agent, and questions that waited while no agent had room (a
//! deadline freed one, a session expired, a worker died mid-assignment) find one. Each
//! app is routed in its own transaction; rows are taken as the commands take them, so
//! any number of workers sweep at once.

use std::time::Duration;

use sea_orm::{DbErr, TransactionTrait};
use tokio_util::sync::CancellationToken;

use crate::commands::routing;
use crate::Worker;

pub async fn run_router(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_millis(worker.config.routing_sweep_ms.max(1));
    loop {
        match sweep(&worker).await {
            Ok(0) => {}
            Ok(events) => tracing::debug!(events, "routing sweep gave out questions"),
            Err(err) => tracing::warn!(error = %err, "routing sweep failed; the next one retries"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One pass over the apps with automatic routing and waiting questions; answers how
/// many events it wrote.
#[tracing::instrument(skip_all)]
pub async fn sweep(worker: &Worker) -> Result<usize, DbErr> {
    let apps = {
        let txn = worker.db.begin().await?;
        let apps = routing::apps_waiting(&txn).await?;
        txn.commit().await?;
        apps
    };
    let mut written = 0;
    for app_id in apps {
        let txn = worker.db.begin().await?;
        let rules = worker.rules.for_transaction();
        let events = routing::route_app(&txn, &rules, app_id, routing::PASS_LIMIT).await?;
        let recorded = crate::record_effects(&txn, &events, &rules).await?;
        txn.commit().await?;
        if !events.is_empty() {
            written += events.len();
            worker.relay_wakeup.notify_one();
            crate::after_commit(worker, &recorded).await;
        }
    }
    Ok(written)
}
