//! The command consumer: at-least-once delivery made exactly-once in effect by the
//! `processed_commands` table, written in the same transaction as the change.

use std::time::Duration;

use futures_util::StreamExt;
use kefu_common::domain::command::Envelope;
use kefu_common::domain::outcome::Outcome;
use kefu_common::infra::broker::Delivery;
use kefu_common::infra::metrics::CommandResult;
use kefu_common::infra::retry::Backoff;
use kefu_common::store::db::{is_unavailable, is_unique_violation};
use kefu_common::store::entity::processed_command;
use kefu_common::{now_ms, store};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set, TransactionTrait};
use tokio_util::sync::CancellationToken;

use crate::commands::{self, Refusal, Rules};
use crate::{faults, Recorded, Worker};

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("stored outcome of {id} is unreadable: {source}")]
    StoredOutcome { id: String, source: serde_json::Error },
}

/// Consumes until `cancel`, reconnecting whenever the delivery stream ends.
pub async fn run_consumer(worker: Worker, cancel: CancellationToken) {
    let mut backoff = Backoff::reconnect();
    let concurrency = usize::from(worker.config.prefetch);
    while !cancel.is_cancelled() {
        match worker.broker.consume().await {
            Ok(stream) => {
                backoff.reset();
                let handled = stream
                    .take_until(cancel.cancelled())
                    .for_each_concurrent(concurrency, |delivery| handle(&worker, delivery));
                handled.await;
                if !cancel.is_cancelled() {
                    tracing::warn!(broker = worker.broker.kind(), "delivery stream ended; reconnecting");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot consume commands; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    tracing::info!("consumer stopped");
}

#[tracing::instrument(skip_all, fields(command_id, command, request_id, retries = delivery.retries, redelivered = delivery.redelivered))]
async fn handle(worker: &Worker, delivery: Delivery) {
    let span = tracing::Span::current();
    let envelope = match Envelope::from_bytes(&delivery.payload) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::error!(error = %err, "unparseable command; dead-lettering it");
            worker.metrics.command("unparseable", CommandResult::DeadLettered);
            if let Err(err) = delivery.dead_letter(&format!("unparseable: {err}")).await {
                tracing::error!(error = %err, "could not dead-letter; it will be redelivered");
            }
            return;
        }
    };
    span.record("command_id", tracing::field::display(envelope.id));
    span.record("command", envelope.command.name());
    if let Some(request_id) = &envelope.request_id {
        span.record("request_id", request_id.as_str());
    }
    let name = envelope.command.name();

    let pause = worker.config.worker_pause_before_commit_ms;
    let started = std::time::Instant::now();
    match execute(&worker.db, &envelope, pause, &worker.rules).await {
        Ok((outcome, result, recorded)) => {
            crate::after_commit(worker, &recorded).await;
            if matches!(result, CommandResult::Applied) {
                worker.relay_wakeup.notify_one();
            }
            worker.metrics.applied_in(name, started.elapsed());
            worker.metrics.command(name, result);
            faults::pause(worker.config.worker_pause_before_ack_ms, "ack").await;
            if let Some(reply_to) = &delivery.reply_to {
                worker
                    .broker
                    .send_reply(reply_to, &envelope.id.to_string(), outcome.to_json().into_bytes())
                    .await;
            }
            match delivery.ack().await {
                Ok(true) => tracing::debug!("applied and acknowledged"),
                Ok(false) => {
                    tracing::warn!("ack not delivered (channel gone); the command will come again and be de-duplicated")
                }
                Err(err) => {
                    tracing::warn!(error = %err, "ack failed; the command will come again and be de-duplicated")
                }
            }
        }
        Err(ExecuteError::Db(err)) if is_unavailable(&err) => {
            // Nothing is wrong with the command: wait for the database as long as it takes.
            let delay = worker
                .config
                .retry_schedule()
                .first()
                .copied()
                .unwrap_or(Duration::from_secs(1));
            worker.metrics.command(name, CommandResult::Retried);
            tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, "database unreachable; the command waits (not counted as a retry)");
            if let Err(err) = delivery.retry_later_uncounted(delay).await {
                tracing::error!(error = %err, "could not re-schedule; returning it to the queue");
                if let Err(err) = delivery.requeue().await {
                    tracing::error!(error = %err, "could not return it either; it comes back when the channel closes");
                }
            }
        }
        Err(err) => {
            let schedule = worker.config.retry_schedule();
            let result = match schedule.get(delivery.retries as usize) {
                Some(delay) => {
                    worker.metrics.command(name, CommandResult::Retried);
                    tracing::error!(error = %err, delay_ms = delay.as_millis() as u64, "command failed; retrying later");
                    delivery.retry_later(*delay).await
                }
                None => {
                    worker.metrics.command(name, CommandResult::DeadLettered);
                    tracing::error!(error = %err, "command failed and is out of retries; dead-lettering it");
                    delivery.dead_letter(&err.to_string()).await
                }
            };
            if let Err(err) = result {
                tracing::error!(error = %err, "could not re-schedule; returning it to the queue");
                if let Err(err) = delivery.requeue().await {
                    tracing::error!(error = %err, "could not return it either; it comes back when the channel closes");
                }
            }
        }
    }
}

/// Applies a command once: a command id already in `processed_commands` returns the
/// stored outcome; otherwise the change and its record commit together. A refused
/// command changes nothing but its record.
pub async fn execute(
    db: &DatabaseConnection,
    envelope: &Envelope,
    pause_before_commit_ms: u64,
    rules: &Rules,
) -> Result<(Outcome, CommandResult, Recorded), ExecuteError> {
    let id = envelope.id.to_string();
    if let Some(done) = store::processed(db, &id).await? {
        tracing::info!("duplicate command; answering the stored outcome");
        return Ok((stored(done)?, CommandResult::Duplicate, Recorded::default()));
    }
    match apply_once(db, envelope, &id, pause_before_commit_ms, rules).await {
        Ok((outcome, recorded)) => {
            let result = match outcome {
                Outcome::Ok { .. } => CommandResult::Applied,
                Outcome::Failed(_) => CommandResult::Refused,
            };
            Ok((outcome, result, recorded))
        }
        Err(ExecuteError::Db(err)) if is_unique_violation(&err) => {
            // The same command applied concurrently elsewhere (a duplicate delivery): the
            // first commit's outcome stands.
            match store::processed(db, &id).await? {
                Some(done) => {
                    tracing::info!("duplicate command raced; answering the stored outcome");
                    Ok((stored(done)?, CommandResult::Duplicate, Recorded::default()))
                }
                None => Err(ExecuteError::Db(err)),
            }
        }
        Err(err) => Err(err),
    }
}

/// One attempt: the change, its events (the outbox) and its `processed_commands` record
/// in one transaction (a refusal records only the record). Dropping the transaction on
/// error rolls it back.
async fn apply_once(
    db: &DatabaseConnection,
    envelope: &Envelope,
    id: &str,
    pause_before_commit_ms: u64,
    rules: &Rules,
) -> Result<(Outcome, Recorded), ExecuteError> {
    let txn = db.begin().await?;
    let mut recorded = Recorded::default();
    let (outcome, txn) = match commands::apply(&txn, &envelope.command, rules).await {
        Ok(applied) => {
            recorded = crate::record_effects(&txn, &applied.events).await?;
            (Outcome::Ok { body: applied.reply }, txn)
        }
        Err(Refusal::Rule(failure)) => {
            txn.rollback().await?;
            (Outcome::Failed(failure), db.begin().await?)
        }
        Err(Refusal::Db(err)) => return Err(err.into()),
    };
    processed_command::ActiveModel {
        id: Set(id.to_owned()),
        outcome: Set(outcome.to_json()),
        created_at: Set(now_ms()),
    }
    .insert(&txn)
    .await?;
    faults::pause(pause_before_commit_ms, "commit").await;
    txn.commit().await?;
    Ok((outcome, recorded))
}

fn stored(done: processed_command::Model) -> Result<Outcome, ExecuteError> {
    serde_json::from_str(&done.outcome).map_err(|source| ExecuteError::StoredOutcome { id: done.id, source })
}
