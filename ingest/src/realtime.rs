//! Server-Sent Events. Each ingest follows the event stream (on RabbitMQ a temporary
//! queue bound to `<prefix>.events`, so a client on any ingest sees what any worker
//! wrote; with the embedded broker the outbox table) into one bounded broadcast ring.
//! A client's stream filters it; its memory is the ring's, shared: a client that falls
//! a whole ring behind is sent `event: resume` and disconnected, to come back with
//! `Last-Event-ID`, which replays from the outbox (kept `KEFU_EVENTS_RETENTION_SECS`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use kefu_common::broker::Broker;
use kefu_common::entity::outbox_event;
use kefu_common::events::{MessageFacts, QuestionFacts};
use kefu_common::im::message::push_payload;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// One event as the streams need it.
#[derive(Debug)]
pub struct FeedEvent {
    /// The CloudEvent id: the SSE `id`, and what `Last-Event-ID` names.
    pub id: String,
    pub event_type: String,
    pub question: Option<QuestionFacts>,
    pub message: Option<MessageFacts>,
    /// The app's identify (the CloudEvent data's).
    pub identify: String,
}

impl FeedEvent {
    /// From a CloudEvent (JSON); `None` for events the streams do not carry.
    pub fn parse(body: &[u8]) -> Option<FeedEvent> {
        let ce: Value = serde_json::from_slice(body).ok()?;
        let event_type = ce["type"].as_str()?.to_owned();
        if !(event_type.starts_with("kefu.question.") || event_type.starts_with("kefu.message.")) {
            return None;
        }
        let data = &ce["data"];
        Some(FeedEvent {
            id: ce["id"].as_str()?.to_owned(),
            event_type,
            question: serde_json::from_value(data["question"].clone()).ok(),
            message: serde_json::from_value(data["message"].clone()).ok(),
            identify: data["identify"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// Who a stream is for.
#[derive(Debug, Clone)]
pub enum Audience {
    /// A bound agent: new waiting questions of its apps, and the messages and state
    /// changes of the questions it serves (or just left).
    Agent { serv_id: String, apps: Vec<i64> },
    /// A user: the messages and state changes of their own questions.
    User { app_id: i64, user_id: String },
}

impl Audience {
    /// The SSE event for this audience, if any: `question` for a new waiting question,
    /// `message` (the origin's push payload) for a message or notification.
    fn event_for(&self, e: &FeedEvent) -> Option<Event> {
        let q = e.question.as_ref()?;
        let data = match (self, &e.message) {
            (Audience::Agent { serv_id, .. }, Some(m))
                if q.serv_id.as_deref() == Some(serv_id) || (m.sender_type == 2 && &m.sender == serv_id) =>
            {
                ("message", push_payload(&q.question_id, m))
            }
            (Audience::Agent { apps, .. }, None)
                if e.event_type == "kefu.question.created" && apps.contains(&q.app_id) =>
            {
                (
                    "question",
                    json!({
                        "push_type": "service",
                        "question_id": q.question_id,
                        "identify": e.identify,
                        "user_id": q.user_id,
                        "title": q.title,
                        "status": q.status,
                        "timestamp": q.created_at as f64 / 1000.0,
                    }),
                )
            }
            (Audience::User { app_id, user_id }, Some(m)) if q.app_id == *app_id && &q.user_id == user_id => {
                ("message", push_payload(&q.question_id, m))
            }
            _ => return None,
        };
        Some(Event::default().id(&e.id).event(data.0).data(data.1.to_string()))
    }
}

/// The ingest's shared ring of events.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<FeedEvent>>,
    /// Streams end when the ingest stops (graceful shutdown waits for them).
    pub stop: CancellationToken,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Hub {
            tx,
            stop: CancellationToken::new(),
        }
    }

    /// Follows the event stream until `cancel`, reconnecting as needed.
    pub fn start(&self, db: DatabaseConnection, broker: Broker, poll: Duration, cancel: CancellationToken) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            match broker {
                Broker::Rabbit(rabbit) => loop {
                    match rabbit.subscribe_events("#").await {
                        Ok(mut events) => loop {
                            tokio::select! {
                                _ = cancel.cancelled() => return,
                                next = events.next() => match next {
                                    Some(body) => {
                                        if let Some(e) = FeedEvent::parse(&body) {
                                            let _ = tx.send(Arc::new(e));
                                        }
                                    }
                                    None => break,
                                }
                            }
                        },
                        Err(err) => tracing::warn!(error = %err, "SSE feed: cannot follow the events; retrying"),
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                },
                Broker::Embedded(_) => {
                    let mut after = outbox_event::Entity::find()
                        .order_by_desc(outbox_event::Column::Position)
                        .one(&db)
                        .await
                        .ok()
                        .flatten()
                        .map_or(0, |e| e.position);
                    loop {
                        match outbox_event::Entity::find()
                            .filter(outbox_event::Column::Position.gt(after))
                            .order_by_asc(outbox_event::Column::Position)
                            .limit(500)
                            .all(&db)
                            .await
                        {
                            Ok(rows) => {
                                for row in rows {
                                    after = row.position;
                                    if let Some(e) = FeedEvent::parse(row.payload.as_bytes()) {
                                        let _ = tx.send(Arc::new(e));
                                    }
                                }
                            }
                            Err(err) => tracing::warn!(error = %err, "SSE feed: cannot read the outbox"),
                        }
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(poll) => {}
                        }
                    }
                }
            }
        });
    }

    /// A client's stream: the events after `last_event_id` (from the outbox), then live
    /// ones, with heartbeats.
    pub async fn stream(
        &self,
        db: &DatabaseConnection,
        audience: Audience,
        last_event_id: Option<String>,
        replay_max: u64,
        heartbeat: Duration,
    ) -> Result<Response, sea_orm::DbErr> {
        // Subscribe first: nothing committed meanwhile falls between replay and live.
        let rx = self.tx.subscribe();
        let mut replay = Vec::new();
        let mut seen = HashSet::new();
        if let Some(last) = last_event_id {
            let from = outbox_event::Entity::find()
                .filter(outbox_event::Column::EventId.eq(last.as_str()))
                .one(db)
                .await?;
            match from {
                Some(from) => {
                    let rows = outbox_event::Entity::find()
                        .filter(outbox_event::Column::Position.gt(from.position))
                        .order_by_asc(outbox_event::Column::Position)
                        .limit(replay_max + 1)
                        .all(db)
                        .await?;
                    if rows.len() as u64 > replay_max {
                        replay.push(
                            Event::default()
                                .event("reset")
                                .data(r#"{"reason":"too far behind; reload"}"#),
                        );
                    } else {
                        for row in rows {
                            if let Some(e) = FeedEvent::parse(row.payload.as_bytes()) {
                                seen.insert(e.id.clone());
                                replay.extend(audience.event_for(&e));
                            }
                        }
                    }
                }
                None => replay.push(
                    Event::default()
                        .event("reset")
                        .data(r#"{"reason":"Last-Event-ID is unknown or past the retention window; reload"}"#),
                ),
            }
        }
        let live = stream::unfold(
            (rx, audience, seen, false),
            |(mut rx, audience, seen, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match rx.recv().await {
                        Ok(e) => {
                            if seen.contains(&e.id) {
                                continue;
                            }
                            if let Some(event) = audience.event_for(&e) {
                                return Some((event, (rx, audience, seen, false)));
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::info!(missed, "SSE client too slow; told to resume");
                            let event = Event::default()
                                .event("resume")
                                .data(r#"{"reason":"too slow; reconnect with Last-Event-ID"}"#);
                            return Some((event, (rx, audience, seen, true)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        );
        let all: BoxStream<'static, Result<Event, Infallible>> = stream::iter(replay)
            .chain(live)
            .map(Ok)
            .take_until(self.stop.clone().cancelled_owned())
            .boxed();
        Ok(Sse::new(all)
            .keep_alive(KeepAlive::new().interval(heartbeat))
            .into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn message_event(i: usize) -> FeedEvent {
        FeedEvent {
            id: format!("event-{i}"),
            event_type: "kefu.message.created".into(),
            question: Some(QuestionFacts {
                question_id: "q1".into(),
                app_id: 1,
                user_id: "u1".into(),
                title: String::new(),
                status: 2,
                serv_id: Some("alice".into()),
                sequence: i as i64,
                created_at: 0,
            }),
            message: Some(MessageFacts {
                message_id: format!("m{i}"),
                sender: "alice".into(),
                sender_type: 2,
                msg_type: 3,
                text: Some(format!("text {i}")),
                action: None,
                image_url: None,
                audio_url: None,
                audio_len: None,
                timestamp: 0,
                exclude_from_timeout: false,
            }),
            identify: "com.example.shop".into(),
        }
    }

    /// A client that does not keep up with a ring of 4 is told to resume, then its
    /// stream ends: its memory never grows past the shared ring.
    #[tokio::test]
    async fn a_slow_client_is_told_to_resume_and_cut_off() {
        let hub = Hub::new(4);
        let user = Audience::User {
            app_id: 1,
            user_id: "u1".into(),
        };
        let response = hub
            .stream(
                &DatabaseConnection::Disconnected,
                user,
                None,
                10,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        for i in 0..10 {
            hub.tx.send(Arc::new(message_event(i))).unwrap();
        }
        let body = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
            .await
            .expect("the stream ends")
            .unwrap()
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(body.starts_with("event: resume"), "{body}");
        assert!(!body.contains("text 0"), "{body}");
    }

    /// A client that keeps up gets every event meant for it, in order, and none other.
    #[tokio::test]
    async fn a_client_gets_its_events_in_order() {
        let hub = Hub::new(16);
        let other = Audience::User {
            app_id: 1,
            user_id: "u2".into(),
        };
        let mine = Audience::User {
            app_id: 1,
            user_id: "u1".into(),
        };
        let db = DatabaseConnection::Disconnected;
        let heartbeat = Duration::from_secs(60);
        let theirs = hub.stream(&db, other, None, 10, heartbeat).await.unwrap();
        let response = hub.stream(&db, mine, None, 10, heartbeat).await.unwrap();
        for i in 0..3 {
            hub.tx.send(Arc::new(message_event(i))).unwrap();
        }
        let stop = hub.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.cancel();
        });
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        let texts: Vec<&str> = body.matches("text ").collect();
        assert_eq!(texts.len(), 3, "{body}");
        assert!(body.find("text 0") < body.find("text 1") && body.find("text 1") < body.find("text 2"));
        let body = theirs.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty(), "{}", String::from_utf8_lossy(&body));
    }
}
