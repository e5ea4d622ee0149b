//! Deadline firing, set-based: the sweep claims the due rows and hands them here whole,
//! so a batch costs one `UPDATE` of all the firing questions, one app-timeouts read per
//! app and one multi-row insert of the notifications (plus the caller's one outbox
//! write), instead of a dozen statements per question.

use kefu_common::domain::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::domain::QuestionStatus;
use kefu_common::store::entity::{message, question};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, UpdateMany};

use super::transitions::{self, DeadlineStep};
use super::writes::{countdown, notification, update_of};
use super::Rules;

/// What a batch of deadlines did.
#[derive(Debug, Default)]
pub struct Fired {
    /// Questions whose deadline fired.
    pub questions: u64,
    /// Their events: the question's and its notification's, for the outbox.
    pub events: Vec<DomainEvent>,
}

/// Fires the deadlines of `due` (rows claimed in `txn` at `now`): state changes, their
/// notifications and events. A row changed since its claim fails the batch (nothing
/// commits, the next sweep takes it again), so a deadline fires once. The durations
/// are read again first: a changed or switched-off timeout moves or drops the deadline
/// instead.
pub async fn fire_deadlines(
    txn: &DatabaseTransaction,
    rules: &Rules,
    due: Vec<question::Model>,
    now: i64,
) -> Result<Fired, DbErr> {
    let mut notes: Vec<message::Model> = Vec::new();
    let mut events = Vec::new();
    let mut firing: Vec<String> = Vec::new();
    for mut q in due {
        let kind = match transitions::deadline_step(q.status, q.due_kind, q.due_at, now) {
            DeadlineStep::Nothing => continue,
            DeadlineStep::Stale => {
                countdown(unchanged(&q), None, None, now).exec(txn).await?;
                continue;
            }
            DeadlineStep::Due(kind) => kind,
        };
        let Some(anchor) = q.due_anchor else {
            continue;
        };
        let app_timeouts = rules.timeouts_of(txn, q.app_id).await?;
        let due_at = app_timeouts.due(kind, anchor);
        if !transitions::still_due(due_at, now) {
            // Lengthened or switched off since it was scheduled.
            unchanged(&q)
                .col_expr(question::Column::DueAt, Expr::value(due_at))
                .exec(txn)
                .await?;
            continue;
        }
        firing.push(q.id.clone());
        q.seq += 1;
        q.status = QuestionStatus::Finished;
        q.timed_out_at = Some(now);
        q.updated_at = now;
        q.due_kind = None;
        q.due_anchor = None;
        q.due_at = None;
        let facts = QuestionFacts::from(&q);
        let (action, event) = transitions::fired(kind, facts.clone());
        let (sender, sender_type) = transitions::deadline_sender(q.serv_id.as_deref(), &q.user_id);
        let note = notification(&q, &rules.ids.next_id(), &sender, sender_type, action);
        events.push(event);
        events.push(DomainEvent::MessageCreated {
            question: facts,
            message: MessageFacts::new(&note, &rules.media_base),
        });
        notes.push(note);
    }
    if !firing.is_empty() {
        // One statement for every firing: they all become finished, timed out, with no
        // countdown. The claim holds their rows (or, on SQLite, the one writer does);
        // should one have changed anyway, nothing of the batch commits.
        let update = question::Entity::update_many()
            .col_expr(question::Column::Seq, Expr::col(question::Column::Seq).add(1))
            .col_expr(question::Column::Status, Expr::value(QuestionStatus::Finished))
            .col_expr(question::Column::UpdatedAt, Expr::value(now))
            .col_expr(question::Column::TimedOutAt, Expr::value(now))
            .filter(question::Column::Id.is_in(firing.iter().cloned()))
            .filter(question::Column::DueAt.lte(now));
        let fired = countdown(update, None, None, now).exec(txn).await?.rows_affected;
        if fired != firing.len() as u64 {
            return Err(DbErr::Custom(format!(
                "{} of {} due questions changed during the sweep; the batch is retried",
                firing.len() as u64 - fired,
                firing.len()
            )));
        }
    }
    if !notes.is_empty() {
        message::Entity::insert_many(notes.into_iter().map(message::ActiveModel::from))
            .exec_without_returning(txn)
            .await?;
    }
    Ok(Fired {
        questions: firing.len() as u64,
        events,
    })
}

/// An update of the question that applies only if nobody changed it since its claim.
fn unchanged(q: &question::Model) -> UpdateMany<question::Entity> {
    update_of(&q.id).filter(question::Column::Seq.eq(q.seq))
}
