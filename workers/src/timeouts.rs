//! The deadline sweep: every `KEFU_TIMEOUT_SWEEP_MS` each worker fires the questions
//! whose `due_at` has passed (an index range, never a scan), a batch per transaction
//! with a handful of statements. Rows are claimed `FOR UPDATE SKIP LOCKED` (PostgreSQL,
//! MariaDB/MySQL), so any number of workers share the work; the one update of a
//! batch's firings fails the batch if any of its rows changed since the claim, so a
//! deadline fires once even where locks cannot be skipped (SQLite runs one writer). A
//! worker that dies mid-batch commits nothing of it; the next sweep of any worker
//! fires it. A sweep runs at start, so deadlines that passed while no worker ran fire
//! at once.

use std::time::Duration;

use kefu_common::now_ms;
use kefu_common::store::entity::question;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::{commands, Worker};

pub async fn run_timeouts(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_millis(worker.config.timeout_sweep_ms.max(1));
    loop {
        match sweep(&worker).await {
            Ok(0) => {}
            Ok(fired) => tracing::info!(fired, "question deadlines fired"),
            Err(err) => tracing::warn!(error = %err, "deadline sweep failed; the next one retries"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Fires every deadline due now; answers how many fired. On PostgreSQL and MariaDB
/// `KEFU_TIMEOUT_PARALLEL` batches run at once, each on its own connection (their
/// claims skip each other's rows); SQLite has one writer, so one.
#[tracing::instrument(skip_all)]
pub async fn sweep(worker: &Worker) -> Result<u64, DbErr> {
    let skip_locked = worker.db.get_database_backend() != DbBackend::Sqlite;
    let parallel = if skip_locked {
        worker.config.timeout_parallel.max(1)
    } else {
        1
    };
    let runs = futures_util::future::join_all((0..parallel).map(|_| sweep_batches(worker, skip_locked))).await;
    let mut fired = 0;
    for run in runs {
        fired += run?;
    }
    Ok(fired)
}

/// Claims and fires batches until fewer than a batch are due: each batch is one claim
/// of whole rows, the firings (`commands::fire_deadlines`), one outbox write and one
/// commit.
async fn sweep_batches(worker: &Worker, skip_locked: bool) -> Result<u64, DbErr> {
    let batch = worker.config.timeout_batch.max(1);
    let mut fired = 0;
    loop {
        let now = now_ms();
        let txn = worker.db.begin().await?;
        let mut due = question::Entity::find()
            .filter(question::Column::DueAt.lte(now))
            .order_by_asc(question::Column::DueAt)
            .limit(batch);
        if skip_locked {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = due.all(&txn).await?;
        let claimed = rows.len() as u64;
        let rules = worker.rules.for_transaction();
        let fired_now = commands::fire_deadlines(&txn, &rules, rows, now).await?;
        let recorded = crate::record_effects(&txn, &fired_now.events, &rules).await?;
        if claimed > 0 {
            crate::faults::pause(worker.config.worker_pause_before_commit_ms, "committing a sweep batch").await;
        }
        txn.commit().await?;
        let fired_here = fired_now.questions;
        fired += fired_here;
        if fired_here > 0 {
            worker.metrics.deadlines_fired(fired_here);
            worker.relay_wakeup.notify_one();
            crate::after_commit(worker, &recorded).await;
        }
        if claimed < batch {
            return Ok(fired);
        }
    }
}
