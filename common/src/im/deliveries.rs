//! Which messages go to the IM: every agent message and every notification of a
//! question whose app has IM settings. Recorded as `im_deliveries` rows in the message's
//! own transaction, so none is lost; the `im-deliveries` task queue sends them.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};

use crate::entity::{app_im_settings, im_delivery};
use crate::events::DomainEvent;
use crate::now_ms;

/// The task queue's name.
pub const QUEUE: &str = "im-deliveries";

/// Records the deliveries of these events; answers the questions that now have one.
pub async fn record(txn: &impl ConnectionTrait, events: &[DomainEvent]) -> Result<Vec<String>, DbErr> {
    let mut has_im: HashMap<i64, bool> = HashMap::new();
    let mut questions = Vec::new();
    for event in events {
        let DomainEvent::MessageCreated { question, message } = event else {
            continue;
        };
        if message.sender_type != 2 && message.msg_type != 4 {
            continue;
        }
        let app_id = question.app_id;
        if !has_im.contains_key(&app_id) {
            let found = app_im_settings::Entity::find_by_id(app_id).one(txn).await?.is_some();
            has_im.insert(app_id, found);
        }
        if !has_im[&app_id] {
            continue;
        }
        let now = now_ms();
        im_delivery::ActiveModel {
            message_id: Set(message.message_id.clone()),
            question_id: Set(question.question_id.clone()),
            app_id: Set(app_id),
            seq: Set(question.sequence),
            state: Set("pending".into()),
            attempts: Set(0),
            last_error: Set(None),
            lease_until: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        if !questions.contains(&question.question_id) {
            questions.push(question.question_id.clone());
        }
    }
    Ok(questions)
}
