//! Routing beyond the waiting list: an agent's presence, transfer, offers (accept,
//! decline), ratings and an agent's own figures.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use kefu_common::domain::command::Command;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::ServId;
use kefu_common::now_ms;
use kefu_common::store::figures::{self, AgentFigures};
use kefu_common::store::routing::{self as presence, PresenceView};
use serde_json::Map;

use crate::auth::Caller;
use crate::dispatch::dispatch;
use crate::input::{Input, PathParam, Valid};
use crate::requests::{AgentAction, Rate, StatsQuery, StatusChange, Transfer};
use crate::routes::question::assigned;
use crate::views::Answer;
use crate::{ApiError, AppState};

/// The default window of figures: the last seven days.
const DEFAULT_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// A bound agent says whether it is `online`, `busy`, `away` or `offline`. Only an
/// online agent is given questions automatically (apps with `auto` routing); coming
/// online gives it the oldest waiting ones up to its capacity. Event
/// `kefu.agent.status_changed`.
#[utoipa::path(post, path = "/v1/serv/{serv_id}/status", operation_id = "serv_status_set", tag = "agents",
    params(("serv_id" = ServId, Path, description = "客服账号: the agent the session is bound to"),
        crate::openapi::CommandHeaders),
    request_body(content(
        (StatusChange = "application/json"),
        (StatusChange = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Set", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn set_status(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<StatusChange>,
) -> Result<Response, ApiError> {
    caller.require_agent(&serv_id, "serv_id")?;
    let command = Command::AgentStatusSetV1 {
        serv_id,
        status: req.status.0,
        app_id: caller.info.session.app_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, Map::new()).await
}

/// An agent's presence (any bound agent of the same apps may ask, and the agent itself):
/// `offline` whenever none of its devices is bound with a live session.
#[utoipa::path(get, path = "/v1/serv/{serv_id}/status", operation_id = "serv_status", tag = "agents",
    params(("serv_id" = ServId, Path, description = "客服账号"), crate::openapi::SessionQuery),
    responses((status = 200, description = "The agent's presence", body = Answer<PresenceView>), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn status(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
) -> Result<Json<Answer<PresenceView>>, ApiError> {
    let me = caller.bound_agent()?;
    if me != serv_id.as_str() {
        let mine = kefu_common::store::agent_app_ids(&state.db, &me).await?;
        let theirs = kefu_common::store::agent_app_ids(&state.db, serv_id.as_str()).await?;
        if !mine.iter().any(|a| theirs.contains(a)) {
            return Err(ApiError::field(
                ErrorCode::UnknownAgent,
                "serv_id",
                "no agent with this serv_id in the apps this agent serves",
            ));
        }
    }
    let view = presence::presence(&state.db, serv_id.as_str())
        .await?
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownAgent, "serv_id", "no agent with this serv_id"))?;
    Ok(Answer::ok(view))
}

/// The serving agent hands the question to another agent of its app who has room
/// (转接): the question stays served, by `to_serv_id`; a notification with action 7 for
/// both sides; the `note` only for the next agent (`kefu.question.transferred`, and its
/// SSE `event: transferred`).
#[utoipa::path(post, path = "/v1/question/{question_id}/transfer", operation_id = "question_transfer", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (Transfer = "application/json"),
        (Transfer = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Transferred; the notification's id", body = crate::views::MessageCreated),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %question_id))]
pub async fn transfer(
    State(state): State<AppState>,
    PathParam(question_id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<Transfer>,
) -> Result<Response, ApiError> {
    caller.require_agent(&req.serv_id, "serv_id")?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = Command::QuestionTransferV1 {
        question_id,
        serv_id: req.serv_id,
        to_serv_id: req.to_serv_id,
        note: req.note,
        message_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// The question's user rates it once it is finished: `score` 1–5 and an optional
/// `comment` (`kefu.question.rated`). A second rating answers 30026.
#[utoipa::path(post, path = "/v1/question/{question_id}/rate", operation_id = "question_rate", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (Rate = "application/json"),
        (Rate = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Rated", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %question_id))]
pub async fn rate(
    State(state): State<AppState>,
    PathParam(question_id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<Rate>,
) -> Result<Response, ApiError> {
    let command = Command::QuestionRateV1 {
        question_id,
        actor: caller.user()?,
        score: req.score.0,
        comment: req.comment,
    };
    dispatch(&state, &input, caller.token.as_str(), command, Map::new()).await
}

/// The agent a question is offered to (offer mode) takes it: served, action 1.
#[utoipa::path(post, path = "/v1/question/{question_id}/accept", operation_id = "question_accept", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (AgentAction = "application/json"),
        (AgentAction = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Serving; the notification's id", body = crate::views::MessageCreated),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %question_id))]
pub async fn accept(
    State(state): State<AppState>,
    PathParam(question_id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<AgentAction>,
) -> Result<Response, ApiError> {
    caller.require_agent(&req.serv_id, "serv_id")?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = Command::QuestionAcceptV1 {
        question_id,
        serv_id: req.serv_id,
        message_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// The agent a question is offered to passes: it is offered to the next agent with room.
#[utoipa::path(post, path = "/v1/question/{question_id}/decline", operation_id = "question_decline", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (AgentAction = "application/json"),
        (AgentAction = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Declined", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %question_id))]
pub async fn decline(
    State(state): State<AppState>,
    PathParam(question_id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<AgentAction>,
) -> Result<Response, ApiError> {
    caller.require_agent(&req.serv_id, "serv_id")?;
    let command = Command::QuestionDeclineV1 {
        question_id,
        serv_id: req.serv_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, Map::new()).await
}

/// The agent's own figures since `since` (default 7 days back): questions served and
/// finished, first-response time (p50, p90, seconds), its ratings.
#[utoipa::path(get, path = "/v1/serv/{serv_id}/stats", operation_id = "serv_stats", tag = "agents",
    params(("serv_id" = ServId, Path, description = "客服账号: the agent the session is bound to"),
        StatsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "The agent's figures", body = Answer<AgentFigures>), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn stats(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
    Valid(query): Valid<StatsQuery>,
) -> Result<Json<Answer<AgentFigures>>, ApiError> {
    caller.require_agent(&serv_id, "serv_id")?;
    let since = query.since.map_or(now_ms() - DEFAULT_WINDOW_MS, |s| s.ms());
    Ok(Answer::ok(
        figures::agent_stats(&state.db, serv_id.as_str(), since).await?,
    ))
}
