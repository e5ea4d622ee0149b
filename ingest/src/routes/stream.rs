//! Server-Sent Events for agents and users (see `crate::realtime`).

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::{ServId, UserId};
use kefu_common::store;

use crate::auth::Caller;
use crate::input::PathParam;
use crate::realtime::{Audience, StreamCaps, StreamOpen, Viewer};
use crate::{ApiError, AppState};

fn last_event_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

async fn open(
    state: &AppState,
    caller: &Caller,
    audience: Audience,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let session = &caller.info.session;
    let open = StreamOpen {
        audience,
        viewer: Viewer {
            digest: caller.token.digest(),
            expires_at_ms: session.expires_at,
            app_id: session.app_id,
            user_id: session.user_id.clone(),
        },
        caps: StreamCaps {
            per_session: config.sse_max_per_session,
            per_user: config.sse_max_per_user,
        },
        last_event_id: last_event_id(headers),
        replay_max: config.sse_replay_max,
        heartbeat: Duration::from_secs(config.sse_heartbeat_secs),
        recheck: Duration::from_secs(config.sse_recheck_secs),
    };
    state.hub.stream(&state.db, open).await
}

/// A bound agent's live stream (`text/event-stream`): `event: question` for each new
/// waiting question of its apps, `event: message` (the origin's push payload) for the
/// messages and state changes of the questions it serves. Resume with `Last-Event-ID`;
/// `event: resume` means the client fell behind and must reconnect; `event: reset`
/// that the events after its `Last-Event-ID` are no longer kept (reload the lists).
#[utoipa::path(get, path = "/v1/serv/{serv_id}/stream", operation_id = "serv_stream", tag = "realtime",
    params(("serv_id" = ServId, Path, description = "客服账号: the agent the session is bound to"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received"),
        crate::openapi::SessionQuery),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn serv_stream(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require_agent(&serv_id, "serv_id")?;
    let apps = store::agent_app_ids(&state.db, serv_id.as_str()).await?;
    let audience = Audience::Agent {
        serv_id: serv_id.to_string(),
        apps,
    };
    open(&state, &caller, audience, &headers).await
}

/// A user's live stream (`text/event-stream`): `event: message` (the origin's push
/// payload) for the messages and state changes of the user's questions. Resume with
/// `Last-Event-ID`, as the agents' stream.
#[utoipa::path(get, path = "/v1/user/{user_id}/stream", operation_id = "user_stream", tag = "realtime",
    params(crate::openapi::UserIdPath,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received"),
        crate::openapi::SessionQuery),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn user_stream(
    State(state): State<AppState>,
    PathParam(user_id): PathParam<UserId>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (app_id, me) = caller.user_actor()?;
    if me != user_id {
        return Err(ApiError::field(
            ErrorCode::Forbidden,
            "user_id",
            "a user may only follow their own questions",
        ));
    }
    let audience = Audience::User {
        app_id,
        user_id: user_id.to_string(),
    };
    open(&state, &caller, audience, &headers).await
}
