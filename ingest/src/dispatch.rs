//! Publishing a command and answering: by default wait for the worker's outcome (reply
//! over the broker, or the stored outcome as fallback); with `Prefer: respond-async`
//! answer 202 once the broker confirmed. `Idempotency-Key` makes retries safe.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_common::domain::command::{idempotent_command_id, Command, Envelope};
use kefu_common::domain::outcome::{ErrorCode, Outcome};
use kefu_common::store::db::is_unique_violation;
use kefu_common::store::entity::idempotency_key;
use kefu_common::{now_ms, store};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::failure_response;
use crate::input::RawInput;
use crate::{ApiError, AppState};

/// The stored outcome is read after `POLL`, then at doubling intervals up to `MAX_POLL`:
/// the reply is the way answers come; polling is the backstop for a lost one, and must
/// not add load to a database that is already behind.
const POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_millis(2000);
const MAX_KEY_LEN: usize = 255;

/// Where a request's idempotency key comes from.
pub enum Key<'a> {
    /// The client's optional `Idempotency-Key` header.
    Header,
    /// A key the call carries itself: the signature of a signed request, so replaying
    /// the same signed request answers the first outcome instead of acting again.
    Implicit(&'a str),
    /// Like `Implicit`, but one key for the whole scope whatever the path (a
    /// leave-message signature is accepted once per app, under `v1` and `v1.0` alike).
    Scoped(&'a str),
}

/// `scope` keeps one client's idempotency keys apart from another's (the session, or
/// the app for signed calls). `assigned` are the ids chosen here, returned on 202.
pub async fn dispatch(
    state: &AppState,
    input: &RawInput,
    scope: &str,
    command: Command,
    assigned: Map<String, Value>,
) -> Result<Response, ApiError> {
    dispatch_keyed(state, input, scope, Key::Header, command, assigned).await
}

pub async fn dispatch_keyed(
    state: &AppState,
    input: &RawInput,
    scope: &str,
    key: Key<'_>,
    command: Command,
    assigned: Map<String, Value>,
) -> Result<Response, ApiError> {
    Ok(render(submit(state, input, scope, key, command, assigned).await?))
}

/// What became of a published command.
pub enum Answer {
    /// Applied (or refused): its outcome.
    Done(Outcome),
    /// Durably queued, not yet answered; `asked` when the client asked for that
    /// (`Prefer: respond-async`), else the outcome was too slow or unreadable.
    Queued { assigned: Map<String, Value>, asked: bool },
}

pub struct Submitted {
    /// The command id (`request_id`).
    pub id: Uuid,
    pub answer: Answer,
}

/// Publishes a command (once per idempotency key) and waits for its outcome unless the
/// client asked not to. The caller renders the answer in its API's style.
#[tracing::instrument(skip_all, fields(command = command.name(), command_id))]
pub async fn submit(
    state: &AppState,
    input: &RawInput,
    scope: &str,
    key: Key<'_>,
    command: Command,
    assigned: Map<String, Value>,
) -> Result<Submitted, ApiError> {
    // A signed call's fingerprint covers only what its signature covers: the body.
    let body_only = !matches!(key, Key::Header);
    let per_path = !matches!(key, Key::Scoped(_));
    let key = match key {
        Key::Header => idempotency_key(input)?,
        Key::Implicit(key) | Key::Scoped(key) => Some(key),
    };
    let request_id = input.header("x-request-id").map(str::to_owned);
    let (envelope, assigned) = match key {
        None => (
            Envelope::new(Uuid::new_v4(), command).with_request_id(request_id),
            assigned,
        ),
        Some(key) => {
            let id = if per_path {
                idempotent_command_id(&format!("{scope}\n{}\n{}", input.method, input.path), key)
            } else {
                idempotent_command_id(scope, key)
            };
            let envelope = Envelope::new(id, command).with_request_id(request_id);
            match remember_key(state, input, body_only, envelope, assigned).await? {
                Remembered::Publish(envelope, assigned) => (envelope, assigned),
                Remembered::Done(outcome) => {
                    return Ok(Submitted {
                        id,
                        answer: Answer::Done(outcome),
                    })
                }
            }
        }
    };
    let id = envelope.id;
    tracing::Span::current().record("command_id", tracing::field::display(id));

    let respond_async = input
        .header("prefer")
        .is_some_and(|p| p.split(',').any(|t| t.trim().eq_ignore_ascii_case("respond-async")));
    let correlation = id.to_string();
    let replies = state.broker.replies();
    // Released on every path, including this future being dropped (client gone).
    let slot = (!respond_async).then(|| ReplySlot {
        rx: Some(replies.register(&correlation)),
        replies,
        correlation: correlation.clone(),
    });
    state
        .broker
        .publish_command(&correlation, &envelope.to_bytes(), !respond_async)
        .await?;
    let queued = |assigned, asked| Submitted {
        id,
        answer: Answer::Queued { assigned, asked },
    };
    let Some(mut slot) = slot else {
        return Ok(queued(assigned, true));
    };
    Ok(match wait_outcome(state, &correlation, &mut slot).await {
        Ok(Some(outcome)) => Submitted {
            id,
            answer: Answer::Done(outcome),
        },
        Ok(None) => {
            tracing::warn!("no outcome within the reply timeout; answering 202 (the command is queued)");
            queued(assigned, false)
        }
        Err(err) => {
            // The command is confirmed by the broker: it will be applied. Never turn
            // that into an error the client would retry as if nothing happened.
            tracing::warn!(error = %err, "could not read the outcome; answering 202 (the command is queued)");
            queued(assigned, false)
        }
    })
}

/// The `/v1` style: the outcome's body with `status` 200, or the spec's error body, or
/// 202 with the assigned ids.
pub fn render(submitted: Submitted) -> Response {
    let id = submitted.id;
    match submitted.answer {
        Answer::Done(outcome) => with_request_id(respond(outcome), id),
        Answer::Queued { assigned, asked } => {
            let mut response = accepted(id, assigned);
            if asked {
                response
                    .headers_mut()
                    .insert("preference-applied", HeaderValue::from_static("respond-async"));
            }
            response
        }
    }
}

/// A registered reply slot, forgotten when dropped.
struct ReplySlot<'a> {
    rx: Option<tokio::sync::oneshot::Receiver<Vec<u8>>>,
    replies: &'a kefu_common::infra::broker::Replies,
    correlation: String,
}

impl Drop for ReplySlot<'_> {
    fn drop(&mut self) {
        self.replies.forget(&self.correlation);
    }
}

/// Waits for the worker's reply, falling back to the stored outcome (the reply may be
/// lost, e.g. across a broker restart). `None` when the reply timeout passed.
async fn wait_outcome(
    state: &AppState,
    correlation: &str,
    slot: &mut ReplySlot<'_>,
) -> Result<Option<Outcome>, ApiError> {
    let deadline = tokio::time::Instant::now() + state.config.reply_timeout();
    let mut poll = POLL;
    loop {
        let next_reply = async {
            match slot.rx.as_mut() {
                Some(rx) => rx.await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            body = next_reply => match body.and_then(|b| serde_json::from_slice::<Outcome>(&b).ok()) {
                Some(outcome) => return Ok(Some(outcome)),
                // The slot is gone (another request with this command id took it): from
                // now on the stored outcome alone answers.
                None => slot.rx = None,
            },
            _ = tokio::time::sleep(poll.min(deadline.saturating_duration_since(tokio::time::Instant::now()))) => {
                poll = (poll * 2).min(MAX_POLL);
                if let Some(done) = store::processed(&state.db, correlation).await? {
                    return Ok(Some(parse_outcome(&done.outcome)?));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
            }
        }
    }
}

fn idempotency_key(input: &RawInput) -> Result<Option<&str>, ApiError> {
    match input.header("idempotency-key") {
        Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => {
            Err(ApiError::field(
                ErrorCode::InvalidField,
                "Idempotency-Key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            ))
        }
        other => Ok(other),
    }
}

enum Remembered {
    /// Publish this envelope (the first attempt's, on a retry) and answer with these ids.
    Publish(Envelope, Map<String, Value>),
    /// Already applied: answer its outcome.
    Done(Outcome),
}

/// Records the key with its envelope before publishing, so a retry re-publishes the very
/// same command (same ids; the workers apply it once) instead of a new one.
async fn remember_key(
    state: &AppState,
    input: &RawInput,
    body_only: bool,
    envelope: Envelope,
    assigned: Map<String, Value>,
) -> Result<Remembered, ApiError> {
    let id = envelope.id.to_string();
    let fingerprint = input.fingerprint(body_only);
    let row = idempotency_key::ActiveModel {
        id: Set(id.clone()),
        fingerprint: Set(fingerprint.clone()),
        envelope: Set(String::from_utf8(envelope.to_bytes()).expect("JSON is UTF-8")),
        assigned: Set(Value::Object(assigned.clone()).to_string()),
        created_at: Set(now_ms()),
    };
    match row.insert(&state.db).await {
        Ok(_) => return Ok(Remembered::Publish(envelope, assigned)),
        Err(err) if is_unique_violation(&err) => {}
        Err(err) => return Err(err.into()),
    }
    let first = idempotency_key::Entity::find_by_id(id.clone())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("idempotency key {id} vanished")))?;
    if first.fingerprint != fingerprint {
        return Err(ApiError::field(
            ErrorCode::IdempotencyKeyReused,
            "Idempotency-Key",
            "this Idempotency-Key was used for a different request",
        ));
    }
    if let Some(done) = store::processed(&state.db, &id).await? {
        return Ok(Remembered::Done(parse_outcome(&done.outcome)?));
    }
    let envelope = Envelope::from_bytes(first.envelope.as_bytes())
        .map_err(|e| ApiError::Internal(format!("stored envelope {id}: {e}")))?;
    let assigned = match serde_json::from_str(&first.assigned) {
        Ok(Value::Object(map)) => map,
        _ => return Err(ApiError::Internal(format!("stored ids of {id} are unreadable"))),
    };
    tracing::info!(command_id = %id, "retry of an unfinished idempotent request; re-publishing the same command");
    Ok(Remembered::Publish(envelope, assigned))
}

fn parse_outcome(text: &str) -> Result<Outcome, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("stored outcome: {e}")))
}

fn respond(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Ok { body } => (StatusCode::OK, Json(Outcome::success_body(&body))).into_response(),
        Outcome::Failed(failure) => failure_response(&failure),
    }
}

fn accepted(id: Uuid, mut assigned: Map<String, Value>) -> Response {
    assigned.insert("status".into(), json!(202));
    assigned.insert("request_id".into(), json!(id.to_string()));
    with_request_id(
        (StatusCode::ACCEPTED, Json(Value::Object(assigned))).into_response(),
        id,
    )
}

/// The command id in `x-command-id` (`x-request-id` is the HTTP request's, from
/// tower-http, and follows the command into the worker's logs).
pub fn with_request_id(mut response: Response, id: Uuid) -> Response {
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-command-id", v);
    }
    response
}
