//! Which messages go to the IM: every agent message and every notification of a
//! question whose app has IM settings. Recorded as `im_deliveries` rows in the message's
//! own transaction, so none is lost; the `im-deliveries` task queue sends them.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;

use crate::infra::broker::{Broker, BrokerError, TaskQueue};

use crate::domain::events::DomainEvent;
use crate::domain::tasks::ImTask;
use crate::domain::{DeliveryState, MessageType, SenderType};
use crate::now_ms;
use crate::store::entity::im_delivery;
use crate::store::settings_cache::SettingsOf;

/// The task queue's name.
pub const QUEUE: &str = "im-deliveries";

/// Records the deliveries of these events (one statement); `settings` holds their apps'.
/// Answers the questions that now have one.
pub async fn record(
    txn: &impl ConnectionTrait,
    events: &[DomainEvent],
    settings: &SettingsOf,
) -> Result<Vec<String>, DbErr> {
    let mut questions = Vec::new();
    let mut rows = Vec::new();
    let now = now_ms();
    for event in events {
        let DomainEvent::MessageCreated { question, message } = event else {
            continue;
        };
        if message.sender_type != SenderType::Agent && message.msg_type != MessageType::Notification {
            continue;
        }
        let app_id = question.app_id;
        if !settings.get(&app_id).is_some_and(|s| s.has_im) {
            continue;
        }
        rows.push(im_delivery::ActiveModel {
            message_id: Set(message.message_id.clone()),
            question_id: Set(question.question_id.clone()),
            app_id: Set(app_id),
            seq: Set(question.sequence),
            state: Set(DeliveryState::Pending),
            attempts: Set(0),
            last_error: Set(None),
            lease_until: Set(0),
            next_attempt_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
        });
        if !questions.contains(&question.question_id) {
            questions.push(question.question_id.clone());
        }
    }
    if !rows.is_empty() {
        im_delivery::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(questions)
}

/// One task per question to the `im-deliveries` queue (declared on first use).
pub async fn enqueue(broker: &Broker, queue: &TaskQueue, questions: &[String]) -> Result<(), BrokerError> {
    for q in questions {
        let task = ImTask::DeliverQuestionV1 { question_id: q.clone() };
        let id = uuid::Uuid::new_v4().to_string();
        broker.publish_task(queue, &id, &task.to_bytes()).await?;
    }
    Ok(())
}

/// The deliveries of these messages, by message id (for message lists).
pub async fn of_messages(
    db: &impl ConnectionTrait,
    message_ids: Vec<String>,
) -> Result<HashMap<String, im_delivery::Model>, DbErr> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(im_delivery::Entity::find()
        .filter(im_delivery::Column::MessageId.is_in(message_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.message_id.clone(), d))
        .collect())
}

/// A delivery as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub message_id: String,
    pub question_id: String,
    pub app_id: i64,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

pub async fn list(
    db: &impl ConnectionTrait,
    failed_only: bool,
    app_id: Option<i64>,
) -> Result<Vec<DeliveryView>, DbErr> {
    let mut select = im_delivery::Entity::find().order_by_asc(im_delivery::Column::UpdatedAt);
    if failed_only {
        select = select.filter(im_delivery::Column::State.eq(DeliveryState::Failed));
    }
    if let Some(app_id) = app_id {
        select = select.filter(im_delivery::Column::AppId.eq(app_id));
    }
    Ok(select
        .all(db)
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            message_id: d.message_id,
            question_id: d.question_id,
            app_id: d.app_id,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error,
            updated_at: d.updated_at / 1000,
        })
        .collect())
}

/// Puts failed deliveries back to pending (one, or all of an app) and enqueues their
/// questions. Answers how many. The attempt count starts again, so a re-driven
/// delivery gets the whole retry schedule; its last error stays until it is sent.
pub async fn redrive(
    db: &impl ConnectionTrait,
    broker: &Broker,
    queue: &TaskQueue,
    message_id: Option<&str>,
    app_id: Option<i64>,
) -> Result<u64, BrokerError> {
    let mut select = im_delivery::Entity::find().filter(im_delivery::Column::State.eq(DeliveryState::Failed));
    if let Some(id) = message_id {
        select = select.filter(im_delivery::Column::MessageId.eq(id));
    }
    if let Some(app_id) = app_id {
        select = select.filter(im_delivery::Column::AppId.eq(app_id));
    }
    let rows = select.all(db).await?;
    let mut questions: Vec<String> = Vec::new();
    for row in &rows {
        im_delivery::Entity::update_many()
            .col_expr(im_delivery::Column::State, Expr::value(DeliveryState::Pending))
            .col_expr(im_delivery::Column::LeaseUntil, Expr::value(0i64))
            .col_expr(im_delivery::Column::Attempts, Expr::value(0))
            .col_expr(im_delivery::Column::NextAttemptAt, Expr::value(0i64))
            .col_expr(im_delivery::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(im_delivery::Column::MessageId.eq(row.message_id.as_str()))
            .exec(db)
            .await?;
        if !questions.contains(&row.question_id) {
            questions.push(row.question_id.clone());
        }
    }
    enqueue(broker, queue, &questions).await?;
    Ok(rows.len() as u64)
}
