//! Batched apply: the commands a worker holds are applied in one transaction, each in
//! its own savepoint so a refused or failing command leaves the others untouched, with
//! their events, deliveries and `processed_commands` records written in one statement
//! each and one commit (one fsync) for all. Exactly-once holds as for a single command:
//! the records commit with the changes, and an id already recorded is answered from
//! its record.

use std::collections::HashMap;

use kefu_common::domain::command::Envelope;
use kefu_common::domain::events::DomainEvent;
use kefu_common::domain::outcome::Outcome;
use kefu_common::infra::metrics::CommandResult;
use kefu_common::store::entity::processed_command;
use kefu_common::{now_ms, store};
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};

use crate::commands::{self, Refusal, Rules};
use crate::consumer::ExecuteError;
use crate::{faults, Recorded};

/// What became of one command of a committed batch.
pub enum Settled {
    /// Applied, refused, or found already applied: answer and acknowledge.
    Answered(Outcome, CommandResult),
    /// The database failed on this command alone (its savepoint is rolled back): it is
    /// retried like a failed single command.
    Failed(ExecuteError),
}

/// A committed batch: one settlement per command, in order, and what the commit
/// recorded for after it.
pub struct Committed {
    pub settled: Vec<Settled>,
    pub recorded: Recorded,
}

/// Applies `envelopes` (distinct ids) in one transaction. An error means nothing was
/// committed: the caller applies them one by one instead (which also sorts out a
/// concurrent duplicate on another worker).
pub async fn apply_batch(
    db: &DatabaseConnection,
    envelopes: &[&Envelope],
    pause_before_commit_ms: u64,
    rules: &Rules,
) -> Result<Committed, ExecuteError> {
    let ids: Vec<String> = envelopes.iter().map(|e| e.id.to_string()).collect();
    let rules = &rules.for_transaction();
    let txn = db.begin().await?;
    let mut done: HashMap<String, processed_command::Model> = store::processed_among(&txn, &ids)
        .await?
        .into_iter()
        .map(|record| (record.id.clone(), record))
        .collect();
    let mut settled = Vec::with_capacity(envelopes.len());
    let mut records = Vec::with_capacity(envelopes.len());
    let mut events: Vec<DomainEvent> = Vec::new();
    for (envelope, id) in envelopes.iter().zip(&ids) {
        if let Some(record) = done.remove(id) {
            tracing::info!(command_id = %id, "duplicate command; answering the stored outcome");
            let outcome = crate::consumer::stored(record)?;
            settled.push(Settled::Answered(outcome, CommandResult::Duplicate));
            continue;
        }
        let savepoint = txn.begin().await?;
        let (outcome, result) = match commands::apply(&savepoint, &envelope.command, rules).await {
            Ok(applied) => {
                savepoint.commit().await?;
                events.extend(applied.events);
                (Outcome::Ok { body: applied.reply }, CommandResult::Applied)
            }
            Err(Refusal::Rule(failure)) => {
                savepoint.rollback().await?;
                (Outcome::Failed(failure), CommandResult::Refused)
            }
            Err(Refusal::Db(err)) => {
                savepoint.rollback().await?;
                tracing::warn!(command_id = %id, command = envelope.command.name(), error = %err, "command failed inside its batch; the others go on");
                settled.push(Settled::Failed(ExecuteError::Db(err)));
                continue;
            }
        };
        records.push(processed_command::ActiveModel {
            id: Set(id.clone()),
            outcome: Set(outcome.to_json()),
            created_at: Set(now_ms()),
        });
        settled.push(Settled::Answered(outcome, result));
    }
    let recorded = crate::record_effects(&txn, &events, rules).await?;
    if !records.is_empty() {
        processed_command::Entity::insert_many(records)
            .exec_without_returning(&txn)
            .await?;
    }
    faults::pause(pause_before_commit_ms, "commit").await;
    txn.commit().await?;
    Ok(Committed { settled, recorded })
}
