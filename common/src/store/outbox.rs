//! The transactional outbox: domain events are inserted in the transaction of their
//! change; a relay publishes them afterwards (at least once, with the same id).

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

use crate::domain::events::DomainEvent;
use crate::now_ms;
use crate::store::entity::outbox_event;
use crate::store::settings_cache::SettingsOf;

/// Writes the events as CloudEvents into `outbox_events` (one statement), inside the
/// caller's transaction; `settings` holds their apps' (for the `identify`). Answers each
/// event's CloudEvent (same order), for the deliveries that carry it.
pub async fn write(
    txn: &impl ConnectionTrait,
    events: &[DomainEvent],
    settings: &SettingsOf,
) -> Result<Vec<serde_json::Value>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut written = Vec::with_capacity(events.len());
    let now = now_ms();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let identify = settings.get(&event.app_id()).map_or("", |s| s.identify.as_str());
        let id = Uuid::new_v4();
        let payload = event.cloud_event(id, now, identify);
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
