use axum::extract::{Path, State};
use axum::response::Response;
use kefu_common::command::{Actor, Command};
use kefu_common::domain::{Labels, SenderType, ServId, Text, Title};
use kefu_common::outcome::ErrorCode;
use serde_json::{json, Map, Value};

use crate::auth::{caller, require_agent, user_actor};
use crate::dispatch::dispatch;
use crate::params::{path_id, Params};
use crate::{ApiError, AppState};

fn assigned(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
}

/// POST /v1/question/new — a user asks.
#[tracing::instrument(skip_all)]
pub async fn new(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let info = caller(&state, &params).await?;
    let title = params
        .opt("title", Title::parse)?
        .unwrap_or(Title::parse("").expect("empty title is valid"));
    let labels = match params.opt_str_list("label")? {
        Some(raw) => {
            Labels::parse(raw).map_err(|e| ApiError::field(ErrorCode::InvalidField, "label", format!("label {e}")))?
        }
        None => Labels::default(),
    };
    let Actor::User { app_id, user_id } = user_actor(&info)? else {
        unreachable!("user_actor returns a user")
    };
    let question_id = state.ids.next_id();
    let out = assigned(&[("question_id", question_id.as_str())]);
    let command = Command::QuestionCreateV1 {
        question_id,
        app_id,
        user_id,
        title,
        labels,
    };
    dispatch(&state, &params, &info.session.session, command, out).await
}

/// serve, quit and finish: the session must be bound to `serv_id`.
async fn agent_transition(
    state: AppState,
    raw_id: String,
    params: Params,
    make: fn(kefu_common::ids::ObjectId, ServId, kefu_common::ids::ObjectId) -> Command,
) -> Result<Response, ApiError> {
    let question_id = path_id("question_id", &raw_id)?;
    let info = caller(&state, &params).await?;
    let serv_id = params.req("serv_id", ServId::parse)?;
    require_agent(&info, &serv_id, "serv_id")?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    dispatch(
        &state,
        &params,
        &info.session.session,
        make(question_id, serv_id, message_id),
        out,
    )
    .await
}

#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn serve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    agent_transition(state, id, params, |question_id, serv_id, message_id| {
        Command::QuestionServeV1 {
            question_id,
            serv_id,
            message_id,
        }
    })
    .await
}

#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn quit(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> Result<Response, ApiError> {
    agent_transition(state, id, params, |question_id, serv_id, message_id| {
        Command::QuestionQuitV1 {
            question_id,
            serv_id,
            message_id,
        }
    })
    .await
}

#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn finish(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    agent_transition(state, id, params, |question_id, serv_id, message_id| {
        Command::QuestionFinishV1 {
            question_id,
            serv_id,
            message_id,
        }
    })
    .await
}

/// POST /v1/question/<id>/reopen — the user who asked reopens a finished question.
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn reopen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let question_id = path_id("question_id", &id)?;
    let info = caller(&state, &params).await?;
    let actor = user_actor(&info)?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    dispatch(
        &state,
        &params,
        &info.session.session,
        Command::QuestionReopenV1 {
            question_id,
            actor,
            message_id,
        },
        out,
    )
    .await
}

/// POST /v1/question/<id>/message/send_text — as the user (1) or as the bound agent (2).
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn send_text(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let question_id = path_id("question_id", &id)?;
    let info = caller(&state, &params).await?;
    let sender = params.req_str("sender")?;
    let sender_type = SenderType::try_from(params.req_int("sender_type", i16::MIN as i64, i16::MAX as i64)? as i16)
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "sender_type", format!("sender_type {e}")))?;
    let text = params.req("text", Text::parse)?;
    let actor = match sender_type {
        SenderType::User => {
            if sender != info.session.user_id {
                return Err(ApiError::field(
                    ErrorCode::Forbidden,
                    "sender",
                    "sender must be the session's user",
                ));
            }
            user_actor(&info)?
        }
        SenderType::Agent => {
            let serv_id = ServId::parse(&sender)
                .map_err(|e| ApiError::field(ErrorCode::InvalidField, "sender", format!("sender {e}")))?;
            require_agent(&info, &serv_id, "sender")?;
            Actor::Agent { serv_id }
        }
    };
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = Command::MessageSendTextV1 {
        question_id,
        message_id,
        actor,
        sender_type,
        text,
    };
    dispatch(&state, &params, &info.session.session, command, out).await
}
