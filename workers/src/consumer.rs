//! The command consumer: at-least-once delivery made exactly-once in effect by the
//! `processed_commands` table, written in the same transaction as the change. Ready
//! commands are applied in batches (`batch`); a lone one, or a batch that could not
//! commit, one by one here.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kefu_common::domain::command::Envelope;
use kefu_common::domain::outcome::Outcome;
use kefu_common::infra::broker::{ack_all, Delivery};
use kefu_common::infra::metrics::CommandResult;
use kefu_common::infra::retry::Backoff;
use kefu_common::store::db::{is_unavailable, is_unique_violation};
use kefu_common::store::entity::processed_command;
use kefu_common::{now_ms, store};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set, TransactionTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::{Committed, Settled};
use crate::commands::{self, Refusal, Rules};
use crate::{faults, Recorded, Worker};

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("stored outcome of {id} is unreadable: {source}")]
    StoredOutcome { id: String, source: serde_json::Error },
}

/// Consumes until `cancel`, reconnecting whenever the delivery stream ends. The
/// commands that are ready are taken `command_batch` at a time and applied as one
/// transaction; `prefetch / command_batch` batches are in flight at once.
pub async fn run_consumer(worker: Worker, cancel: CancellationToken) {
    let mut backoff = Backoff::reconnect();
    let batch = usize::from(worker.config.command_batch.min(worker.config.prefetch)).max(1);
    let in_flight = (usize::from(worker.config.prefetch) / batch).max(1);
    while !cancel.is_cancelled() {
        match worker.broker.consume().await {
            Ok(stream) => {
                backoff.reset();
                let handled = stream
                    .take_until(cancel.cancelled())
                    .ready_chunks(batch)
                    .for_each_concurrent(in_flight, |deliveries| handle_batch(&worker, deliveries));
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

/// A parsed delivery.
struct Received {
    delivery: Delivery,
    envelope: Envelope,
}

/// Parses; an unparseable delivery is dead-lettered here and yields nothing.
async fn parse(worker: &Worker, delivery: Delivery) -> Option<Received> {
    match Envelope::from_bytes(&delivery.payload) {
        Ok(envelope) => Some(Received { delivery, envelope }),
        Err(err) => {
            tracing::error!(error = %err, "unparseable command; dead-lettering it");
            worker.metrics.command("unparseable", CommandResult::DeadLettered);
            if let Err(err) = delivery.dead_letter(&format!("unparseable: {err}")).await {
                tracing::error!(error = %err, "could not dead-letter; it will be redelivered");
            }
            None
        }
    }
}

#[tracing::instrument(skip_all, fields(size = deliveries.len()))]
async fn handle_batch(worker: &Worker, deliveries: Vec<Delivery>) {
    let mut batch: Vec<Received> = Vec::with_capacity(deliveries.len());
    let mut again: Vec<Received> = Vec::new();
    for delivery in deliveries {
        if let Some(received) = parse(worker, delivery).await {
            // The same id twice in one batch (a redelivery): the second after the first
            // commits, when it is answered from the record.
            if batch.iter().any(|b| b.envelope.id == received.envelope.id) {
                again.push(received);
            } else {
                batch.push(received);
            }
        }
    }
    if batch.len() > 1 {
        let started = Instant::now();
        let envelopes: Vec<&Envelope> = batch.iter().map(|r| &r.envelope).collect();
        let pause = worker.config.worker_pause_before_commit_ms;
        match crate::batch::apply_batch(&worker.db, &envelopes, pause, &worker.rules).await {
            Ok(committed) => settle(worker, batch, committed, started).await,
            Err(err) => {
                tracing::warn!(error = %err, "batch not committed; applying its commands one by one");
                for received in batch {
                    handle(worker, received).await;
                }
            }
        }
    } else {
        for received in batch {
            handle(worker, received).await;
        }
    }
    for received in again {
        handle(worker, received).await;
    }
}

/// After a commit (of a batch, or of a lone command): answer each, acknowledge them
/// together, retry the failed ones, then the delivery tasks (the replies do not wait
/// for those).
async fn settle(worker: &Worker, batch: Vec<Received>, committed: Committed, started: Instant) {
    let alone = batch.len() == 1;
    let elapsed = started.elapsed();
    let mut applied = false;
    let mut answered: Vec<&Delivery> = Vec::with_capacity(batch.len());
    if committed.settled.iter().any(|s| matches!(s, Settled::Answered(..))) {
        faults::pause(worker.config.worker_pause_before_ack_ms, "ack").await;
    }
    for (received, settled) in batch.iter().zip(committed.settled) {
        let name = received.envelope.command.name();
        match settled {
            Settled::Answered(outcome, result) => {
                applied |= matches!(result, CommandResult::Applied);
                worker.metrics.applied_in(name, elapsed);
                worker.metrics.command(name, result);
                reply(worker, received, &outcome).await;
                answered.push(&received.delivery);
            }
            Settled::Failed(err) => {
                // A lone command runs in its own span already.
                let span = if alone {
                    tracing::Span::current()
                } else {
                    command_span(&received.envelope, &received.delivery)
                };
                retry_or_dead_letter(worker, &received.delivery, name, err)
                    .instrument(span)
                    .await;
            }
        }
    }
    if answered.is_empty() {
        return;
    }
    ack_all(&answered).await;
    worker.metrics.command_batch(answered.len());
    tracing::debug!(commands = answered.len(), "applied and acknowledged");
    if applied {
        worker.relay_wakeup.notify_one();
    }
    crate::after_commit(worker, &committed.recorded).await;
}

fn command_span(envelope: &Envelope, delivery: &Delivery) -> tracing::Span {
    tracing::info_span!(
        "command",
        command_id = %envelope.id,
        command = envelope.command.name(),
        request_id = envelope.request_id.as_deref().unwrap_or(""),
        retries = delivery.retries,
        redelivered = delivery.redelivered,
    )
}

async fn reply(worker: &Worker, received: &Received, outcome: &Outcome) {
    if let Some(reply_to) = &received.delivery.reply_to {
        worker
            .broker
            .send_reply(
                reply_to,
                &received.envelope.id.to_string(),
                outcome.to_json().into_bytes(),
            )
            .await;
    }
}

/// One command alone, in its own transaction.
async fn handle(worker: &Worker, received: Received) {
    let span = command_span(&received.envelope, &received.delivery);
    handle_alone(worker, received).instrument(span).await
}

async fn handle_alone(worker: &Worker, received: Received) {
    let pause = worker.config.worker_pause_before_commit_ms;
    let started = Instant::now();
    let committed = match execute(&worker.db, &received.envelope, pause, &worker.rules).await {
        Ok((outcome, result, recorded)) => Committed {
            settled: vec![Settled::Answered(outcome, result)],
            recorded,
        },
        Err(err) => Committed {
            settled: vec![Settled::Failed(err)],
            recorded: Recorded::default(),
        },
    };
    settle(worker, vec![received], committed, started).await
}

/// A command that failed internally: waits for an unreachable database without
/// counting, otherwise is retried on the schedule and dead-lettered after it.
async fn retry_or_dead_letter(worker: &Worker, delivery: &Delivery, name: &'static str, err: ExecuteError) {
    match err {
        ExecuteError::Db(err) if is_unavailable(&err) => {
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
        err => {
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
    let rules = &rules.for_transaction();
    let txn = db.begin().await?;
    let mut recorded = Recorded::default();
    let (outcome, txn) = match commands::apply(&txn, &envelope.command, rules).await {
        Ok(applied) => {
            recorded = crate::record_effects(&txn, &applied.events, rules).await?;
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

pub(crate) fn stored(done: processed_command::Model) -> Result<Outcome, ExecuteError> {
    serde_json::from_str(&done.outcome).map_err(|source| ExecuteError::StoredOutcome { id: done.id, source })
}
