//! Drains RabbitMQ's dead-letter queue into the `dead_letters` table, where operators
//! list and re-drive them. Insert first, then ack: a crash in between keeps it twice in
//! the queue's eyes, once in the table (the message id is the key).

use futures_util::StreamExt;
use kefu_common::infra::retry::Backoff;
use kefu_common::store::dead_letters::{keep, COMMANDS};
use tokio_util::sync::CancellationToken;

use crate::Worker;

pub async fn run_dead_keeper(worker: Worker, cancel: CancellationToken) {
    run_keeper_of(worker, COMMANDS.to_owned(), cancel).await;
}

/// The keeper of one queue's dead letters (`commands`, or a task queue's name).
pub async fn run_keeper_of(worker: Worker, queue: String, cancel: CancellationToken) {
    let mut backoff = Backoff::reconnect();
    while !cancel.is_cancelled() {
        match worker.broker.consume_dead_letters(&queue).await {
            // The embedded queue keeps its dead letters in the database itself.
            Ok(None) => return,
            Ok(Some(mut dead)) => {
                backoff.reset();
                loop {
                    let message = tokio::select! {
                        _ = cancel.cancelled() => return,
                        next = dead.next() => match next { Some(m) => m, None => break },
                    };
                    let kept = keep(
                        &worker.db,
                        &queue,
                        &message.message_id,
                        &message.payload,
                        &message.reason,
                        message.retries,
                    )
                    .await;
                    match kept {
                        Ok(()) => {
                            tracing::warn!(message_id = %message.message_id, reason = %message.reason, "dead letter kept for operators");
                            if let Err(err) = message.ack().await {
                                tracing::warn!(error = %err, "dead letter kept but not acked; it will be kept again (same key)");
                            }
                        }
                        // Not acked: it stays in the queue and comes back.
                        Err(err) => {
                            tracing::warn!(error = %err, "could not keep a dead letter; leaving it in the queue")
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot consume the dead-letter queue; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}
