//! Task queues other than the commands': each kind (IM deliveries, webhooks, timeouts …)
//! declares its `TaskQueue` (own queue, prefetch, retry policy, dead letters) and runs a
//! handler over it here. The handler tells retriable failures from permanent ones;
//! retries wait in delay queues, never in a worker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kefu_common::infra::broker::{Delivery, TaskQueue};
use kefu_common::infra::retry::Backoff;
use tokio_util::sync::CancellationToken;

use crate::Worker;

/// How a task failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Worth another try (a timeout, a 5xx, a rate limit, the database away).
    #[error("retriable: {0}")]
    Retry(String),
    /// Worth another try after exactly this wait (the handler keeps the schedule, e.g.
    /// per delivery row): `level_ms` names the delay queue, `wait` ≤ it.
    #[error("retriable after {wait:?}: {reason}")]
    RetryAfter {
        level_ms: u64,
        wait: Duration,
        reason: String,
    },
    /// Trying again cannot help: dead-lettered at once.
    #[error("permanent: {0}")]
    Fail(String),
}

/// Waits until `in_use` answers true — looked at now, whenever `wakeup` rings and every
/// `every` — so a task queue is declared only once something needs it. False when
/// cancelled first.
pub async fn wait_until_needed<F, Fut>(
    wakeup: &tokio::sync::Notify,
    every: Duration,
    cancel: &CancellationToken,
    what: &str,
    in_use: F,
) -> bool
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, sea_orm::DbErr>>,
{
    loop {
        match in_use().await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(err) => tracing::debug!(error = %err, what, "cannot tell yet whether it is needed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Declares `queue`, keeps its dead letters in the database, and runs `handle` over its
/// tasks until `cancel`, reconnecting as needed.
pub async fn run_tasks<H, F>(worker: Worker, queue: Arc<TaskQueue>, handle: H, cancel: CancellationToken)
where
    H: Fn(Vec<u8>) -> F + Send + Sync,
    F: Future<Output = Result<(), TaskError>> + Send,
{
    // Declared before its dead-letter keeper starts consuming the dead queue (the loop
    // below declares again after any reconnect).
    if let Err(err) = worker.broker.declare_tasks(&queue).await {
        tracing::warn!(queue = %queue.name, error = %err, "cannot declare the task queue yet; retrying");
    }
    let keeper = tokio::spawn(crate::dead_keeper::run_keeper_of(
        worker.clone(),
        queue.name.clone(),
        cancel.clone(),
    ));
    let mut backoff = Backoff::reconnect();
    while !cancel.is_cancelled() {
        let consumed = match worker.broker.declare_tasks(&queue).await {
            Ok(()) => worker.broker.consume_tasks(&queue).await,
            Err(err) => Err(err),
        };
        match consumed {
            Ok(stream) => {
                backoff.reset();
                stream
                    .take_until(cancel.cancelled())
                    .for_each_concurrent(usize::from(queue.prefetch), |d| one(&worker, &queue, &handle, d))
                    .await;
            }
            Err(err) => tracing::warn!(queue = %queue.name, error = %err, "cannot consume the task queue; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    let _ = keeper.await;
}

#[tracing::instrument(skip_all, fields(queue = %queue.name, retries = delivery.retries))]
async fn one<H, F>(worker: &Worker, queue: &TaskQueue, handle: &H, delivery: Delivery)
where
    H: Fn(Vec<u8>) -> F,
    F: Future<Output = Result<(), TaskError>>,
{
    let result = handle(delivery.payload.clone()).await;
    let settled = match &result {
        Ok(()) => {
            worker.metrics.task(&queue.name, "done");
            delivery.ack().await.map(|_| ())
        }
        Err(TaskError::Retry(reason)) => match delivery.retry_or_give_up(reason).await {
            Ok(true) => {
                worker.metrics.task(&queue.name, "retried");
                tracing::warn!(%reason, "task failed; retrying after its queue's delay");
                Ok(())
            }
            Ok(false) => {
                worker.metrics.task(&queue.name, "dead_lettered");
                tracing::error!(%reason, "task out of retries; dead-lettered");
                Ok(())
            }
            Err(err) => Err(err),
        },
        Err(TaskError::RetryAfter { level_ms, wait, reason }) => {
            worker.metrics.task(&queue.name, "retried");
            tracing::warn!(%reason, ?wait, "task failed; retrying after its own delay");
            delivery.retry_task_after(*level_ms, *wait).await
        }
        Err(TaskError::Fail(reason)) => {
            worker.metrics.task(&queue.name, "dead_lettered");
            tracing::error!(%reason, "task failed permanently; dead-lettered");
            delivery.dead_letter(reason).await
        }
    };
    if let Err(err) = settled {
        tracing::error!(error = %err, "could not settle the task; returning it to the queue");
        if let Err(err) = delivery.requeue().await {
            tracing::error!(error = %err, "could not return it either; it comes back when the channel closes");
        }
    }
}
