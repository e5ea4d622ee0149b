//! The statements the handlers share: the question's lock, its countdown, message rows
//! and the checks an operator may have changed since the ingest looked.

use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::{DueKind, MessageType, NotifyAction, SenderType};
use kefu_common::now_ms;
use kefu_common::store;
use kefu_common::store::entity::{agent_app, message, question};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, UpdateMany};

use super::Rules;

/// Takes the question's row lock by incrementing its sequence number, then reads it: the
/// transactions changing one question run one after the other, in the order of their
/// sequence numbers, and see each other's commits. A refusal rolls the increment back.
pub async fn load(txn: &DatabaseTransaction, id: &ObjectId) -> Result<Option<question::Model>, DbErr> {
    question::Entity::update_many()
        .col_expr(question::Column::Seq, Expr::col(question::Column::Seq).add(1))
        .filter(question::Column::Id.eq(id.as_str()))
        .exec(txn)
        .await?;
    store::question(txn, id.as_str()).await
}

/// An update of one question.
pub fn update_of(id: &str) -> UpdateMany<question::Entity> {
    question::Entity::update_many().filter(question::Column::Id.eq(id))
}

/// The question's countdown from now on: `None` stops it.
pub fn countdown(
    update: UpdateMany<question::Entity>,
    kind: Option<DueKind>,
    due_at: Option<i64>,
    now: i64,
) -> UpdateMany<question::Entity> {
    update
        .col_expr(question::Column::DueKind, Expr::value(kind))
        .col_expr(question::Column::DueAnchor, Expr::value(kind.map(|_| now)))
        .col_expr(question::Column::DueAt, Expr::value(due_at))
}

/// Starts a countdown of `kind` (or stops any, with `None`) for a question of `app_id`
/// at `now`, with the app's duration.
pub async fn restart(
    txn: &DatabaseTransaction,
    update: UpdateMany<question::Entity>,
    app_id: i64,
    kind: Option<DueKind>,
    rules: &Rules,
    now: i64,
) -> Result<UpdateMany<question::Entity>, DbErr> {
    let Some(kind) = kind else {
        return Ok(countdown(update, None, None, now));
    };
    let due = rules.timeouts_of(txn, app_id).await?.due(kind, now);
    Ok(countdown(update, Some(kind), due, now))
}

/// Inserts a message row as built (no read-back: the caller has the row).
pub async fn insert_message(txn: &DatabaseTransaction, row: &message::Model) -> Result<(), DbErr> {
    message::Entity::insert(message::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// A notification (serve, quit, finish…) of the question's current sequence number.
pub fn notification(
    q: &question::Model,
    message_id: &ObjectId,
    sender: &str,
    sender_type: SenderType,
    action: NotifyAction,
) -> message::Model {
    message::Model {
        id: message_id.to_string(),
        question_id: q.id.clone(),
        sender: sender.to_owned(),
        sender_type,
        msg_type: MessageType::Notification,
        text: None,
        action: Some(action),
        audio_url: None,
        audio_len: None,
        image_url: None,
        created_at: now_ms(),
        media_key: None,
        seq: q.seq,
        // Notifications never count towards the user-reply countdown.
        exclude_from_timeout: true,
    }
}

/// Whether the agent serves this (enabled) app. Checked by the ingest too; checked again
/// here because an operator may disable the app or take it from the agent in between.
pub async fn serves_app(txn: &DatabaseTransaction, serv_id: &str, app_id: i64) -> Result<bool, DbErr> {
    Ok(agent_app::Entity::find_by_id((serv_id.to_owned(), app_id))
        .one(txn)
        .await?
        .is_some()
        && !app_disabled(txn, app_id).await?)
}

pub async fn app_disabled(txn: &DatabaseTransaction, app_id: i64) -> Result<bool, DbErr> {
    Ok(store::app_by_id(txn, app_id)
        .await?
        .is_none_or(|a| a.disabled_at.is_some()))
}
