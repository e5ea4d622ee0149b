//! Outbound signed HTTP: webhooks (CloudEvents to endpoints subscribed to event types)
//! and each app's push endpoint (the origin's push payload for a user or an agent).
//! Deliveries are rows written in the event's own transaction; the `http-deliveries`
//! task queue sends them, one task each, so one receiver's failures never hold up
//! another's. Signed as Standard Webhooks defines: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::events::{type_matches, DomainEvent};
use crate::domain::secret::{ExposeSecret, Secret};
use crate::domain::tasks::HttpTask;
use crate::domain::{Channel, DeliveryState, SenderType};
use crate::infra::broker::{Broker, BrokerError, TaskQueue};
use crate::now_ms;
use crate::store::entity::{app_push_endpoint, http_delivery, webhook_endpoint};
use crate::store::im::message::push_payload;
use crate::store::settings_cache::{touch, SettingsOf};

/// The task queue's name.
pub const QUEUE: &str = "http-deliveries";

/// An event-type pattern: dot-separated words of `[a-z0-9_]`, `*` (one word) or `#`
/// (any number), at most 100 characters.
pub fn event_pattern(raw: &str) -> Result<String, crate::domain::Invalid> {
    let raw = raw.trim();
    let word = |w: &str| {
        w == "*"
            || w == "#"
            || (!w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    };
    if !raw.is_empty() && raw.len() <= 100 && raw.split('.').all(word) {
        Ok(raw.to_owned())
    } else {
        Err(crate::domain::Invalid(format!(
            "{raw:?} is not an event-type pattern like kefu.question.* or #"
        )))
    }
}

/// A fresh signing secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let key: [u8; 24] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// The `webhook-signature` value for one send.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Who a push is for (the other side of a message, or the agent a question is offered
/// to), the key that makes its delivery id, and the payload.
fn push_recipient(event: &DomainEvent) -> Option<(Value, String, Value)> {
    if let DomainEvent::QuestionOffered {
        question,
        serv_id,
        expires_at,
    } = event
    {
        let payload = json!({
            "push_type": "offer",
            "question_id": question.question_id,
            "user_id": question.user_id,
            "title": question.title,
            "expires_at": *expires_at as f64 / 1000.0,
        });
        let key = format!("offer-{}-{expires_at}", question.question_id);
        return Some((json!({ "kind": "agent", "id": serv_id }), key, payload));
    }
    let DomainEvent::MessageCreated { question, message } = event else {
        return None;
    };
    let to = if message.sender_type == SenderType::Agent {
        json!({ "kind": "user", "id": question.user_id })
    } else {
        json!({ "kind": "agent", "id": question.serv_id.as_ref()? })
    };
    Some((
        to,
        message.message_id.clone(),
        push_payload(&question.question_id, message),
    ))
}

/// Records the webhook and push deliveries of these events (with their CloudEvents,
/// as `outbox::write` answered them) in one statement; `settings` holds their apps'.
/// Answers the new deliveries' ids.
pub async fn record(
    txn: &impl ConnectionTrait,
    events: &[DomainEvent],
    cloud: &[Value],
    settings: &SettingsOf,
) -> Result<Vec<String>, DbErr> {
    let mut ids = Vec::new();
    let mut deliveries = Vec::new();
    let now = now_ms();
    for (event, ce) in events.iter().zip(cloud) {
        let app_id = event.app_id();
        let Some(app) = settings.get(&app_id) else {
            continue;
        };
        let event_id = ce["id"].as_str().unwrap_or_default();
        let mut rows = Vec::new();
        for (hook_id, patterns) in &app.hooks {
            if patterns.iter().any(|p| type_matches(p, event.event_type())) {
                rows.push((Channel::Webhook, hook_id.clone(), event_id.to_owned(), ce.to_string()));
            }
        }
        if let (true, Some((to, message_id, payload))) = (app.has_push, push_recipient(event)) {
            let kind = to["kind"].as_str().unwrap_or_default().to_owned();
            let body = json!({ "to": to, "payload": payload }).to_string();
            rows.push((Channel::Push, "push".to_owned(), format!("{message_id}-{kind}"), body));
        }
        for (channel, endpoint_id, message_id, payload) in rows {
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            deliveries.push(http_delivery::ActiveModel {
                id: Set(id.clone()),
                app_id: Set(app_id),
                channel: Set(channel),
                endpoint_id: Set(endpoint_id),
                message_id: Set(message_id),
                payload: Set(payload),
                state: Set(DeliveryState::Pending),
                attempts: Set(0),
                last_error: Set(None),
                next_attempt_at: Set(now),
                created_at: Set(now),
                updated_at: Set(now),
            });
            ids.push(id);
        }
    }
    if !deliveries.is_empty() {
        http_delivery::Entity::insert_many(deliveries)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(ids)
}

/// One task per delivery (the queue declared on first use).
pub async fn enqueue(broker: &Broker, queue: &TaskQueue, ids: &[String]) -> Result<(), BrokerError> {
    for id in ids {
        let task = HttpTask::DeliverV1 { id: id.clone() };
        broker.publish_task(queue, id, &task.to_bytes()).await?;
    }
    Ok(())
}

/// A webhook endpoint as operators see it (its secret only when created or rotated).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointView {
    pub id: String,
    pub app_id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
}

pub fn view(e: &webhook_endpoint::Model, with_secret: bool) -> EndpointView {
    EndpointView {
        id: e.id.clone(),
        app_id: e.app_id,
        url: e.url.clone(),
        events: serde_json::from_str(&e.event_types).unwrap_or_default(),
        disabled: e.disabled_at.is_some(),
        secret: with_secret.then(|| e.secret.expose_secret().to_owned()),
        created_at: e.created_at / 1000,
    }
}

pub async fn create(
    db: &impl ConnectionTrait,
    app_id: i64,
    url: &str,
    events: &[String],
) -> Result<EndpointView, DbErr> {
    let row = webhook_endpoint::ActiveModel {
        id: Set(format!("ep_{}", uuid::Uuid::new_v4().simple())),
        app_id: Set(app_id),
        url: Set(url.to_owned()),
        event_types: Set(serde_json::to_string(events).expect("strings serialize")),
        secret: Set(Secret::new(new_secret())),
        disabled_at: Set(None),
        created_at: Set(now_ms()),
    }
    .insert(db)
    .await?;
    touch(db, app_id).await?;
    Ok(view(&row, true))
}

pub async fn list(db: &impl ConnectionTrait, app_id: Option<i64>) -> Result<Vec<EndpointView>, DbErr> {
    let mut select = webhook_endpoint::Entity::find().order_by_asc(webhook_endpoint::Column::CreatedAt);
    if let Some(app_id) = app_id {
        select = select.filter(webhook_endpoint::Column::AppId.eq(app_id));
    }
    Ok(select.all(db).await?.iter().map(|e| view(e, false)).collect())
}

/// Disables or enables an endpoint; `None` when there is no such endpoint.
pub async fn set_disabled(db: &impl ConnectionTrait, id: &str, disabled: bool) -> Result<Option<EndpointView>, DbErr> {
    let Some(row) = webhook_endpoint::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let app_id = row.app_id;
    let mut active: webhook_endpoint::ActiveModel = row.into();
    active.disabled_at = Set(disabled.then(now_ms));
    let saved = active.update(db).await?;
    touch(db, app_id).await?;
    Ok(Some(view(&saved, false)))
}

/// A new secret for an endpoint (the old one stops signing at once).
pub async fn rotate_secret(db: &impl ConnectionTrait, id: &str) -> Result<Option<EndpointView>, DbErr> {
    let Some(row) = webhook_endpoint::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let mut active: webhook_endpoint::ActiveModel = row.into();
    active.secret = Set(Secret::new(new_secret()));
    Ok(Some(view(&active.update(db).await?, true)))
}

/// An app's push endpoint as operators see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushView {
    pub app_id: i64,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Sets the app's push endpoint (a new secret each time).
pub async fn set_push(db: &impl ConnectionTrait, app_id: i64, url: &str) -> Result<PushView, DbErr> {
    app_push_endpoint::Entity::delete_by_id(app_id).exec(db).await?;
    let row = app_push_endpoint::ActiveModel {
        app_id: Set(app_id),
        url: Set(url.to_owned()),
        secret: Set(Secret::new(new_secret())),
        updated_at: Set(now_ms()),
    }
    .insert(db)
    .await?;
    touch(db, app_id).await?;
    Ok(PushView {
        app_id,
        url: row.url,
        secret: Some(row.secret.expose_secret().to_owned()),
    })
}

pub async fn get_push(db: &impl ConnectionTrait, app_id: i64) -> Result<Option<PushView>, DbErr> {
    Ok(app_push_endpoint::Entity::find_by_id(app_id)
        .one(db)
        .await?
        .map(|row| PushView {
            app_id,
            url: row.url,
            secret: None,
        }))
}

pub async fn clear_push(db: &impl ConnectionTrait, app_id: i64) -> Result<bool, DbErr> {
    let had = app_push_endpoint::Entity::delete_by_id(app_id)
        .exec(db)
        .await?
        .rows_affected
        == 1;
    touch(db, app_id).await?;
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signature_matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
