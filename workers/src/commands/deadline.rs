//! A question's deadline firing (the sweep's per-question step).

use kefu_common::domain::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::QuestionStatus;
use kefu_common::store::entity::question;
use kefu_common::store::timeouts;
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, DbErr};

use super::transitions::{self, DeadlineStep};
use super::writes::{countdown, insert_message, load, notification, update_of};
use super::Rules;

/// Fires a question's deadline if it is due at `now`, inside `txn` (which holds the
/// question's lock from `load`): the state change, its notification and the events.
/// The durations are read again first: a changed or switched-off timeout moves or
/// drops the deadline instead. Answers the events (none when nothing fired).
pub async fn fire_deadline(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    now: i64,
) -> Result<Vec<DomainEvent>, DbErr> {
    let Some(mut q) = load(txn, id).await? else {
        return Ok(Vec::new());
    };
    let kind = match transitions::deadline_step(q.status, q.due_kind, q.due_at, now) {
        DeadlineStep::Nothing => return Ok(Vec::new()),
        DeadlineStep::Stale => {
            countdown(update_of(&q.id), None, None, now).exec(txn).await?;
            return Ok(Vec::new());
        }
        DeadlineStep::Due(kind) => kind,
    };
    let Some(anchor) = q.due_anchor else {
        return Ok(Vec::new());
    };
    let due = timeouts::of_app(txn, q.app_id, &rules.timeouts)
        .await?
        .due(kind, anchor);
    if !transitions::still_due(due, now) {
        // Lengthened or switched off since it was scheduled.
        update_of(&q.id)
            .col_expr(question::Column::DueAt, Expr::value(due))
            .exec(txn)
            .await?;
        return Ok(Vec::new());
    }
    let update = update_of(&q.id)
        .col_expr(question::Column::Status, Expr::value(QuestionStatus::Finished))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::TimedOutAt, Expr::value(now));
    countdown(update, None, None, now).exec(txn).await?;
    q.status = QuestionStatus::Finished;
    q.timed_out_at = Some(now);
    let facts = QuestionFacts::from(&q);
    let (action, event) = transitions::fired(kind, facts.clone());
    let (sender, sender_type) = transitions::deadline_sender(q.serv_id.as_deref(), &q.user_id);
    let note = notification(&q, &rules.ids.next_id(), &sender, sender_type, action);
    insert_message(txn, &note).await?;
    Ok(vec![
        event,
        DomainEvent::MessageCreated {
            question: facts,
            message: MessageFacts::new(&note, &rules.media_base),
        },
    ])
}
