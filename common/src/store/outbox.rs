//! The transactional outbox: domain events are inserted in the transaction of their
//! change; a relay publishes them afterwards (at least once, with the same id).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

use crate::domain::events::DomainEvent;
use crate::now_ms;
use crate::store::entity::{app, outbox_event};

/// Writes the events as CloudEvents into `outbox_events`, inside the caller's
/// transaction. Answers each event's CloudEvent (same order), for the deliveries that
/// carry it.
pub async fn write(txn: &impl ConnectionTrait, events: &[DomainEvent]) -> Result<Vec<serde_json::Value>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut written = Vec::with_capacity(events.len());
    let mut identifies: HashMap<i64, String> = HashMap::new();
    let now = now_ms();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let app_id = event.app_id();
        if !identifies.contains_key(&app_id) {
            let identify = app::Entity::find_by_id(app_id)
                .one(txn)
                .await?
                .map(|a| a.identify)
                .unwrap_or_default();
            identifies.insert(app_id, identify);
        }
        let id = Uuid::new_v4();
        let payload = event.cloud_event(id, now, &identifies[&app_id]);
        written.push(payload.clone());
        rows.push(outbox_event::ActiveModel {
            event_id: Set(id.to_string()),
            event_type: Set(event.event_type().to_owned()),
            subject: Set(event.subject()),
            payload: Set(payload.to_string()),
            created_at: Set(now),
            claimed_until: Set(None),
            published_at: Set(None),
            ..Default::default()
        });
    }
    outbox_event::Entity::insert_many(rows).exec(txn).await?;
    Ok(written)
}
