//! Webhook and push deliveries (`kefu_common::store::webhooks`) on the `http-deliveries` task
//! queue: one task per delivery, so a slow or failing receiver holds up only its own.
//! A send claims its row (`next_attempt_at` pushed past the send's timeout), so two
//! tasks for one delivery never send at once. Non-2xx answers and transport errors are
//! retried after the queue's schedule (kept in the row); out of retries the row is
//! failed and the task dead-lettered. A re-driven task finds its row failed and starts
//! the schedule again.

use std::sync::Arc;
use std::time::Duration;

use kefu_common::domain::secret::ExposeSecret;
use kefu_common::domain::tasks::HttpTask;
use kefu_common::domain::{Channel, DeliveryState};
use kefu_common::infra::broker::TaskQueue;
use kefu_common::now_ms;
use kefu_common::store::entity::{app_push_endpoint, http_delivery, webhook_endpoint};
use kefu_common::store::webhooks::{sign, QUEUE};
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio_util::sync::CancellationToken;

use crate::tasks::{run_tasks, wait_until_needed, TaskError};
use crate::Worker;

pub fn task_queue(worker: &Worker) -> TaskQueue {
    worker.config.task_queue(QUEUE)
}

/// After a commit that recorded deliveries: a task each (best effort; the sweeper
/// picks up what a crash in between left behind).
pub async fn trigger(worker: &Worker, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    worker.http_wakeup.notify_one();
    if let Err(err) = kefu_common::store::webhooks::enqueue(&worker.broker, &task_queue(worker), ids).await {
        tracing::warn!(error = %err, "could not enqueue webhook deliveries; the sweeper will");
    }
}

async fn in_use(worker: &Worker) -> Result<bool, DbErr> {
    Ok(webhook_endpoint::Entity::find().one(&worker.db).await?.is_some()
        || app_push_endpoint::Entity::find().one(&worker.db).await?.is_some())
}

/// Runs the deliveries until `cancel`; nothing is declared on the broker until some
/// app has a webhook or push endpoint.
pub async fn run(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_secs(worker.config.im_sweep_secs.max(1));
    if !wait_until_needed(&worker.http_wakeup, every, &cancel, "webhook deliveries", || {
        in_use(&worker)
    })
    .await
    {
        return;
    }
    let timeout = Duration::from_millis(worker.config.webhook_timeout_ms.max(1));
    let http = match reqwest::Client::builder()
        .connect_timeout(timeout / 3)
        .timeout(timeout)
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "no HTTP client: webhook deliveries are off");
            return;
        }
    };
    let sweeper = tokio::spawn(sweep(worker.clone(), cancel.clone()));
    let queue = Arc::new(task_queue(&worker));
    let sender = Arc::new((worker.clone(), http));
    let handler = move |payload: Vec<u8>| {
        let sender = Arc::clone(&sender);
        async move {
            let task = HttpTask::from_bytes(&payload).map_err(|e| TaskError::Fail(format!("unreadable task: {e}")))?;
            let HttpTask::DeliverV1 { id } = task;
            deliver(&sender.0, &sender.1, &id).await
        }
    };
    run_tasks(worker, queue, handler, cancel).await;
    let _ = sweeper.await;
}

/// Re-enqueues pending deliveries overdue by a sweep interval (a task lost between a
/// commit and its publish); a backoff in progress is never cut short.
async fn sweep(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_secs(worker.config.im_sweep_secs.max(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let stale = now_ms() - every.as_millis() as i64;
        match http_delivery::Entity::find()
            .select_only()
            .column(http_delivery::Column::Id)
            .filter(http_delivery::Column::State.eq(DeliveryState::Pending))
            .filter(http_delivery::Column::NextAttemptAt.lt(stale))
            .limit(1000)
            .into_tuple::<String>()
            .all(&worker.db)
            .await
        {
            Ok(ids) => trigger(&worker, &ids).await,
            Err(err) => tracing::warn!(error = %err, "webhook sweeper could not read; will try again"),
        }
    }
}

#[tracing::instrument(skip(worker, http))]
async fn deliver(worker: &Worker, http: &reqwest::Client, id: &str) -> Result<(), TaskError> {
    let db = &worker.db;
    let retry_db = |e: DbErr| TaskError::Retry(format!("database: {e}"));
    let now = now_ms();
    let claim_until = now + worker.config.webhook_timeout_ms as i64 + 5_000;
    // Claim it: a pending one that is due, or a failed one (re-driven: the schedule
    // starts again).
    let claimed = http_delivery::Entity::update_many()
        .col_expr(http_delivery::Column::NextAttemptAt, Expr::value(claim_until))
        .col_expr(
            http_delivery::Column::Attempts,
            CaseStatement::new()
                .case(http_delivery::Column::State.eq(DeliveryState::Failed), 0)
                .finally(Expr::col(http_delivery::Column::Attempts))
                .into(),
        )
        .col_expr(http_delivery::Column::State, Expr::value(DeliveryState::Pending))
        .filter(http_delivery::Column::Id.eq(id))
        .filter(
            http_delivery::Column::State
                .eq(DeliveryState::Failed)
                .or(http_delivery::Column::State
                    .eq(DeliveryState::Pending)
                    .and(http_delivery::Column::NextAttemptAt.lte(now))),
        )
        .exec(db)
        .await
        .map_err(retry_db)?;
    if claimed.rows_affected == 0 {
        // Delivered, gone, in its backoff (its retry task waits in a delay queue), or
        // being sent by another worker.
        return Ok(());
    }
    let row = http_delivery::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(retry_db)?
        .ok_or_else(|| TaskError::Fail("the delivery is gone".into()))?;
    let target = match row.channel {
        Channel::Push => app_push_endpoint::Entity::find_by_id(row.app_id)
            .one(db)
            .await
            .map_err(retry_db)?
            .map(|p| (p.url, p.secret)),
        Channel::Webhook => webhook_endpoint::Entity::find_by_id(row.endpoint_id.clone())
            .one(db)
            .await
            .map_err(retry_db)?
            .filter(|e| e.disabled_at.is_none())
            .map(|e| (e.url, e.secret)),
    };
    let outcome = match target {
        None => Err((false, "the endpoint is gone or disabled".to_owned())),
        Some((url, secret)) => {
            let secret = secret.expose_secret();
            let attempt = worker.metrics.delivery_started(row.channel.into());
            let sent = send(http, &url, secret, &row).await;
            let result = match &sent {
                Ok(()) => "delivered",
                Err(_) => "retried",
            };
            worker.metrics.delivery_ended(row.channel.into(), result, attempt);
            sent.map_err(|e| (true, e))
        }
    };
    let schedule = task_queue(worker).retry;
    let attempts = row.attempts + 1;
    let update = http_delivery::Entity::update_many()
        .col_expr(http_delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(http_delivery::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(http_delivery::Column::Id.eq(id));
    match outcome {
        Ok(()) => {
            update
                .col_expr(http_delivery::Column::State, Expr::value(DeliveryState::Delivered))
                .col_expr(http_delivery::Column::LastError, Expr::value(Option::<String>::None))
                .exec(db)
                .await
                .map_err(retry_db)?;
            Ok(())
        }
        Err((retriable, error)) => match retriable.then(|| schedule.delay(row.attempts.max(0) as u32)).flatten() {
            Some((level_ms, wait)) => {
                update
                    .col_expr(http_delivery::Column::LastError, Expr::value(error.clone()))
                    .col_expr(
                        http_delivery::Column::NextAttemptAt,
                        Expr::value(now_ms() + wait.as_millis() as i64),
                    )
                    .exec(db)
                    .await
                    .map_err(retry_db)?;
                Err(TaskError::RetryAfter {
                    level_ms,
                    wait,
                    reason: error,
                })
            }
            None => {
                let reason = format!("gave up after {attempts} attempts; last: {error}");
                tracing::error!(channel = %row.channel, endpoint = %row.endpoint_id, %reason, "delivery failed");
                update
                    .col_expr(http_delivery::Column::State, Expr::value(DeliveryState::Failed))
                    .col_expr(http_delivery::Column::LastError, Expr::value(reason.clone()))
                    .exec(db)
                    .await
                    .map_err(retry_db)?;
                Err(TaskError::Fail(reason))
            }
        },
    }
}

/// One signed POST; `Err` says why it did not count as delivered.
async fn send(http: &reqwest::Client, url: &str, secret: &str, row: &http_delivery::Model) -> Result<(), String> {
    let timestamp = now_ms() / 1000;
    let signature = sign(secret, &row.message_id, timestamp, &row.payload)
        .ok_or_else(|| "the endpoint's secret is not base64".to_owned())?;
    let sent = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &row.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(row.payload.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
        Err(err) if err.is_timeout() => Err("timed out".into()),
        Err(err) => Err(format!("transport: {err}")),
    }
}
