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
use kefu_common::domain::events::{MessageFacts, QuestionFacts};
use kefu_common::domain::{SenderType, SessionDigest};
use kefu_common::infra::broker::Broker;
use kefu_common::store::entity::outbox_event;
use kefu_common::store::im::message::push_payload;
use kefu_common::{now_ms, store};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::handover::Handover;
pub use crate::stream_slots::StreamCaps;
use crate::stream_slots::{Slot, Slots};
use crate::ApiError;

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
    /// Access ended for what it names (`kefu.access.revoked`, `kefu.agent.unbound`).
    pub access: Option<AccessChange>,
    /// The agent an offer or a transfer is for, with what it is told.
    pub handover: Option<Handover>,
}

/// Whose access changed: streams it may concern re-check their session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub app_id: i64,
    pub user_id: Option<String>,
    pub serv_id: Option<String>,
}

/// Not an event: this ingest's feed was interrupted (its broker node was lost) and is
/// back. What was committed meanwhile never reached its streams, so each is told to
/// resume: it reconnects with `Last-Event-ID` and the outbox replays the gap.
const FEED_RESUMED: &str = "kefu.internal.feed_resumed";

impl FeedEvent {
    fn feed_resumed() -> FeedEvent {
        FeedEvent {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: FEED_RESUMED.to_owned(),
            question: None,
            message: None,
            identify: String::new(),
            access: None,
            handover: None,
        }
    }
}

/// Event types after which streams re-check their access.
const ACCESS_EVENTS: [&str; 2] = ["kefu.access.revoked", "kefu.agent.unbound"];

impl FeedEvent {
    /// From a CloudEvent (JSON); `None` for events the streams do not carry.
    pub fn parse(body: &[u8]) -> Option<FeedEvent> {
        let ce: Value = serde_json::from_slice(body).ok()?;
        let event_type = ce["type"].as_str()?.to_owned();
        let access_event = ACCESS_EVENTS.contains(&event_type.as_str());
        if !(event_type.starts_with("kefu.question.") || event_type.starts_with("kefu.message.") || access_event) {
            return None;
        }
        let data = &ce["data"];
        let access = access_event.then(|| AccessChange {
            app_id: data["app_id"].as_i64().unwrap_or_default(),
            user_id: data["user_id"].as_str().map(str::to_owned),
            serv_id: data["serv_id"].as_str().map(str::to_owned),
        });
        Some(FeedEvent {
            access,
            handover: Handover::of(&event_type, data),
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
    /// Whether an access change may concern this stream (it then re-checks): its user,
    /// its agent, or (naming neither) its app.
    fn concerns(&self, c: &AccessChange) -> bool {
        let whole_app = c.user_id.is_none() && c.serv_id.is_none();
        match self {
            Audience::User { app_id, user_id } => {
                c.app_id == *app_id && (whole_app || c.user_id.as_deref() == Some(user_id))
            }
            Audience::Agent { serv_id, apps } => {
                c.serv_id.as_deref() == Some(serv_id) || (whole_app && apps.contains(&c.app_id))
            }
        }
    }

    /// The SSE event for this audience, if any: `question` for a new waiting question,
    /// `message` (the origin's push payload) for a message or notification.
    fn event_for(&self, e: &FeedEvent) -> Option<Event> {
        let q = e.question.as_ref()?;
        let data = match (self, &e.message) {
            (Audience::Agent { serv_id, .. }, Some(m))
                if q.serv_id.as_deref() == Some(serv_id)
                    || (m.sender_type == SenderType::Agent && &m.sender == serv_id) =>
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
            (Audience::Agent { serv_id, .. }, None) if e.handover.as_ref().is_some_and(|h| &h.serv_id == serv_id) => {
                let h = e.handover.as_ref()?;
                (h.event, h.data.clone())
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
    slots: Slots,
    /// Streams end when the ingest stops (graceful shutdown waits for them).
    pub stop: CancellationToken,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Hub {
            tx,
            slots: Slots::default(),
            stop: CancellationToken::new(),
        }
    }

    /// Follows the event stream until `cancel`, subscribing again whenever it ends.
    pub fn start(&self, broker: Broker, cancel: CancellationToken) {
        /// The pause before subscribing again after the stream ended or failed.
        const RESUBSCRIBE: Duration = Duration::from_secs(1);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            // Whether events may have passed while the feed was down.
            let mut gap = false;
            loop {
                match broker.subscribe_events("#").await {
                    Ok(mut events) => {
                        if std::mem::take(&mut gap) {
                            tracing::info!("SSE feed: following the events again; streams resume from the outbox");
                            let _ = tx.send(Arc::new(FeedEvent::feed_resumed()));
                        }
                        loop {
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
                        }
                        gap = true;
                    }
                    Err(err) => {
                        gap = true;
                        tracing::warn!(error = %err, "SSE feed: cannot follow the events; retrying");
                    }
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(RESUBSCRIBE) => {}
                }
            }
        });
    }

    /// A client's stream: the events after `last_event_id` (from the outbox), then live
    /// ones, with heartbeats, for as long as its session may see them.
    pub async fn stream(&self, db: &DatabaseConnection, open: StreamOpen) -> Result<Response, ApiError> {
        let slot = self.slots.take(&open.viewer, &open.caps)?;
        // Subscribe first: nothing committed meanwhile falls between replay and live.
        let rx = self.tx.subscribe();
        let mut replay = Vec::new();
        let mut seen = HashSet::new();
        if let Some(last) = &open.last_event_id {
            let from = outbox_event::Entity::find()
                .filter(outbox_event::Column::EventId.eq(last.as_str()))
                .one(db)
                .await?;
            match from {
                Some(from) => {
                    let rows = outbox_event::Entity::find()
                        .filter(outbox_event::Column::Position.gt(from.position))
                        .order_by_asc(outbox_event::Column::Position)
                        .limit(open.replay_max + 1)
                        .all(db)
                        .await?;
                    if rows.len() as u64 > open.replay_max {
                        replay.push(
                            Event::default()
                                .event("reset")
                                .data(r#"{"reason":"too far behind; reload"}"#),
                        );
                    } else {
                        for row in rows {
                            if let Some(e) = FeedEvent::parse(row.payload.as_bytes()) {
                                seen.insert(e.id.clone());
                                replay.extend(open.audience.event_for(&e));
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
        let heartbeat = open.heartbeat;
        let live = Live {
            rx,
            seen,
            done: false,
            db: db.clone(),
            next_check: tokio::time::Instant::now() + open.recheck,
            expires: open.viewer.expires_instant(),
            open,
            _slot: slot,
        };
        let live = stream::unfold(live, |mut live| async move {
            let event = live.next().await?;
            Some((event, live))
        });
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

/// Who follows a stream: the session (its digest and expiry) and its user.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub digest: SessionDigest,
    pub expires_at_ms: i64,
    pub app_id: i64,
    pub user_id: String,
}

impl Viewer {
    fn expires_instant(&self) -> tokio::time::Instant {
        let left = (self.expires_at_ms - now_ms()).max(0) as u64;
        tokio::time::Instant::now() + Duration::from_millis(left)
    }
}

/// What a new stream needs.
pub struct StreamOpen {
    pub audience: Audience,
    pub viewer: Viewer,
    pub caps: StreamCaps,
    pub last_event_id: Option<String>,
    pub replay_max: u64,
    pub heartbeat: Duration,
    /// The backstop: how often the stream re-checks its session by itself.
    pub recheck: Duration,
}

/// A live stream's state.
struct Live {
    rx: broadcast::Receiver<Arc<FeedEvent>>,
    seen: HashSet<String>,
    done: bool,
    db: DatabaseConnection,
    next_check: tokio::time::Instant,
    expires: tokio::time::Instant,
    open: StreamOpen,
    _slot: Slot,
}

impl Live {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(e) => {
                        if e.event_type == FEED_RESUMED {
                            self.done = true;
                            return Some(
                                Event::default()
                                    .event("resume")
                                    .data(r#"{"reason":"the event feed was interrupted; reconnect with Last-Event-ID"}"#),
                            );
                        }
                        if let Some(change) = &e.access {
                            // Ordered with the other events: nothing after the change
                            // reaches a stream that lost access.
                            if self.open.audience.concerns(change) && !self.allowed().await {
                                return self.revoked("access revoked");
                            }
                            continue;
                        }
                        if self.seen.contains(&e.id) {
                            continue;
                        }
                        if let Some(event) = self.open.audience.event_for(&e) {
                            return Some(event);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "SSE client too slow; told to resume");
                        self.done = true;
                        return Some(
                            Event::default()
                                .event("resume")
                                .data(r#"{"reason":"too slow; reconnect with Last-Event-ID"}"#),
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(self.next_check) => {
                    self.next_check = tokio::time::Instant::now() + self.open.recheck;
                    if !self.allowed().await {
                        return self.revoked("access revoked");
                    }
                }
                _ = tokio::time::sleep_until(self.expires) => return self.revoked("session expired"),
            }
        }
    }

    fn revoked(&mut self, reason: &str) -> Option<Event> {
        self.done = true;
        tracing::info!(reason, "SSE stream ended: its session may no longer see it");
        Some(
            Event::default()
                .event("revoked")
                .data(json!({ "reason": reason }).to_string()),
        )
    }

    /// Whether the session may still see this stream: it exists, has not expired, its
    /// app is enabled and (agents) it is still bound to this enabled agent. A database
    /// that cannot answer keeps the stream (an outage is no revocation).
    async fn allowed(&self) -> bool {
        match store::session(&self.db, &self.open.viewer.digest).await {
            Ok(Some(info)) => {
                info.session.expires_at > now_ms()
                    && !info.app_disabled
                    && match &self.open.audience {
                        Audience::Agent { serv_id, .. } => info.serv_id.as_deref() == Some(serv_id.as_str()),
                        Audience::User { .. } => true,
                    }
            }
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(error = %err, "SSE stream: cannot re-check its session; keeping it");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use kefu_common::domain::outcome::ErrorCode;
    use kefu_common::domain::SessionToken;

    fn message_event(i: usize) -> FeedEvent {
        FeedEvent {
            id: format!("event-{i}"),
            event_type: "kefu.message.created".into(),
            question: Some(QuestionFacts {
                question_id: "q1".into(),
                app_id: 1,
                user_id: "u1".into(),
                title: String::new(),
                status: kefu_common::domain::QuestionStatus::Serving,
                serv_id: Some("alice".into()),
                sequence: i as i64,
                created_at: 0,
            }),
            message: Some(MessageFacts {
                message_id: format!("m{i}"),
                sender: "alice".into(),
                sender_type: SenderType::Agent,
                msg_type: kefu_common::domain::MessageType::Text,
                text: Some(format!("text {i}")),
                action: None,
                image_url: None,
                audio_url: None,
                audio_len: None,
                timestamp: 0,
                exclude_from_timeout: false,
            }),
            identify: "com.example.shop".into(),
            access: None,
            handover: None,
        }
    }

    /// A stream of `user_id`'s session that needs no re-check while a test runs.
    fn opening(audience: Audience, user_id: &str) -> StreamOpen {
        StreamOpen {
            audience,
            viewer: Viewer {
                digest: SessionToken::parse("AAAAAAAAAAAA").unwrap().digest(),
                expires_at_ms: now_ms() + 3_600_000,
                app_id: 1,
                user_id: user_id.into(),
            },
            caps: StreamCaps {
                per_session: 5,
                per_user: 5,
            },
            last_event_id: None,
            replay_max: 10,
            heartbeat: Duration::from_secs(60),
            recheck: Duration::from_secs(3600),
        }
    }

    /// At most `per_session` streams of one session; a closed one gives its place back.
    #[tokio::test]
    async fn streams_per_session_are_capped() {
        let hub = Hub::new(4);
        let db = DatabaseConnection::Disconnected;
        let user = || Audience::User {
            app_id: 1,
            user_id: "u1".into(),
        };
        let mut open = Vec::new();
        for _ in 0..5 {
            open.push(hub.stream(&db, opening(user(), "u1")).await.unwrap());
        }
        let refused = hub.stream(&db, opening(user(), "u1")).await.unwrap_err();
        assert!(
            matches!(&refused, ApiError::Client(f) if f.code == ErrorCode::TooManyStreams),
            "{refused:?}"
        );
        drop(open.pop());
        assert!(hub.stream(&db, opening(user(), "u1")).await.is_ok());
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
            .stream(&DatabaseConnection::Disconnected, opening(user, "u1"))
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
        let theirs = hub.stream(&db, opening(other, "u2")).await.unwrap();
        let response = hub.stream(&db, opening(mine, "u1")).await.unwrap();
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
