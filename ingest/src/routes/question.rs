//! The question lifecycle: new, serve, quit, finish, reopen, send_text.

use axum::extract::State;
use axum::response::Response;
use kefu_common::domain::command::{Actor, Command};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::{SenderType, ServId, Title};
use kefu_common::store;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::dispatch::dispatch;
use crate::input::{Input, PathParam, Valid};
use crate::requests::{AgentAction, QuestionNew, Reopen, SendText};
use crate::{ApiError, AppState};

pub(crate) fn assigned(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
}

/// A user asks a question (客户提问问题).
#[utoipa::path(post, path = "/v1/question/new", operation_id = "question_new", tag = "questions",
    request_body(content(
        (QuestionNew = "application/json"),
        (QuestionNew = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The question is waiting", body = crate::views::QuestionCreated),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    params(crate::openapi::CommandHeaders),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn new(
    State(state): State<AppState>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<QuestionNew>,
) -> Result<Response, ApiError> {
    let (app_id, user_id) = caller.user_actor()?;
    let question_id = state.ids.next_id();
    let out = assigned(&[("question_id", question_id.as_str())]);
    let command = Command::QuestionCreateV1 {
        question_id,
        app_id,
        user_id,
        title: req.title.unwrap_or(Title::parse("").expect("empty title is valid")),
        labels: req.label.map(|l| l.0).unwrap_or_default(),
        im_session_id: req.session_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// serve, quit and finish: the session must be bound to `serv_id`.
async fn agent_transition(
    state: AppState,
    question_id: ObjectId,
    caller: Caller,
    input: Input,
    req: AgentAction,
    make: fn(ObjectId, ServId, ObjectId) -> Command,
) -> Result<Response, ApiError> {
    caller.require_agent(&req.serv_id, "serv_id")?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = make(question_id, req.serv_id, message_id);
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// The agent actions (serve, quit, finish, request_finish): one definition each of the
/// route, its documentation and the command it sends; the body is `agent_transition`.
macro_rules! agent_action {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $operation:literal, $done:literal, $command:ident) => {
        $(#[doc = $doc])*
        #[utoipa::path(post, path = $path, operation_id = $operation, tag = "questions",
            params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
            request_body(content(
                (AgentAction = "application/json"),
                (AgentAction = "application/x-www-form-urlencoded"),
            )),
            responses(
                (status = 200, description = $done, body = crate::views::MessageCreated),
                (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
                crate::openapi::Errors,
            ),
            security(("session" = []), ("bearer" = [])))]
        #[tracing::instrument(skip_all, fields(question_id = %id))]
        pub async fn $name(
            State(state): State<AppState>,
            PathParam(id): PathParam<ObjectId>,
            caller: Caller,
            input: Input,
            Valid(req): Valid<AgentAction>,
        ) -> Result<Response, ApiError> {
            agent_transition(state, id, caller, input, req, |question_id, serv_id, message_id| {
                Command::$command {
                    question_id,
                    serv_id,
                    message_id,
                }
            })
            .await
        }
    };
}

agent_action!(
    /// The agent starts serving a waiting question (开始回答用户问题): notification action 1.
    serve, "/v1/question/{question_id}/serve", "question_serve", "Serving; the notification's id", QuestionServeV1
);
agent_action!(
    /// The serving agent hands the question back to the waiting list (退出回答): action 2.
    quit, "/v1/question/{question_id}/quit", "question_quit", "Waiting again; the notification's id", QuestionQuitV1
);
agent_action!(
    /// The serving agent finishes the question (完成用户问题): action 4.
    finish, "/v1/question/{question_id}/finish", "question_finish", "Finished; the notification's id", QuestionFinishV1
);
agent_action!(
    /// The serving agent asks to end the question (客服请求结束处理): action 3. The question
    /// stays served; unless the user replies or reopens within the app's end-confirmation
    /// timeout (default 2 minutes), it finishes (action 4).
    request_finish, "/v1/question/{question_id}/request_finish", "question_request_finish",
    "Requested; the notification's id", QuestionRequestFinishV1
);

/// The user who asked reopens a finished question (客户重开问题): action 6; it goes back
/// to the agent who finished it.
#[utoipa::path(post, path = "/v1/question/{question_id}/reopen", operation_id = "question_reopen", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (Reopen = "application/json"),
        (Reopen = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Reopened; the notification's id", body = crate::views::MessageCreated),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn reopen(
    State(state): State<AppState>,
    PathParam(id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(_req): Valid<Reopen>,
) -> Result<Response, ApiError> {
    let actor = caller.user()?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = Command::QuestionReopenV1 {
        question_id: id,
        actor,
        message_id,
    };
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// A text message, as the user (sender_type 1; also while the question waits) or as
/// the serving agent (2) (发送问题聊天文字消息).
#[utoipa::path(post, path = "/v1/question/{question_id}/message/send_text", operation_id = "send_text", tag = "messages",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (SendText = "application/json"),
        (SendText = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Sent", body = crate::views::MessageCreated),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn send_text(
    State(state): State<AppState>,
    PathParam(id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<SendText>,
) -> Result<Response, ApiError> {
    let sender_type = req.sender_type.0;
    let actor = sender(&caller, sender_type, &req.sender)?;
    let message_id = state.ids.next_id();
    let out = assigned(&[("message_id", message_id.as_str())]);
    let command = Command::MessageSendTextV1 {
        question_id: id,
        message_id,
        actor,
        sender_type,
        text: req.text,
        exclude_from_timeout: req.exclude_from_timeout.unwrap_or_default().0,
    };
    dispatch(&state, &input, caller.token.as_str(), command, out).await
}

/// Before an upload is stored: the question exists where the actor can see it, and a
/// user writes only to their own (the worker checks again, with the question's state).
/// Another tenant's question answers as a missing one.
pub(crate) async fn may_write(state: &AppState, id: &ObjectId, actor: &Actor) -> Result<(), ApiError> {
    let missing = || ApiError::field(ErrorCode::UnknownQuestion, "question_id", "no such question");
    let q = store::question(&state.db, id.as_str()).await?.ok_or_else(missing)?;
    match actor {
        Actor::User { app_id, user_id } => {
            if *app_id != q.app_id {
                return Err(missing());
            }
            if user_id.as_str() != q.user_id {
                return Err(ApiError::field(
                    ErrorCode::NotQuestionOwner,
                    "question_id",
                    "only the user who asked may write as the user",
                ));
            }
        }
        Actor::Agent { serv_id } => {
            if !store::agent_app_ids(&state.db, serv_id.as_str())
                .await?
                .contains(&q.app_id)
            {
                return Err(missing());
            }
        }
    }
    Ok(())
}

/// The actor behind `sender` / `sender_type`: the session's own user, or the agent the
/// session is bound to.
pub(crate) fn sender(caller: &Caller, sender_type: SenderType, sender: &str) -> Result<Actor, ApiError> {
    match sender_type {
        SenderType::User => {
            if sender != caller.info.session.user_id {
                return Err(ApiError::field(
                    ErrorCode::Forbidden,
                    "sender",
                    "sender must be the session's user",
                ));
            }
            caller.user()
        }
        SenderType::Agent => {
            let serv_id = ServId::parse(sender)
                .map_err(|e| ApiError::field(ErrorCode::InvalidField, "sender", format!("sender {e}")))?;
            caller.require_agent(&serv_id, "sender")?;
            Ok(Actor::Agent { serv_id })
        }
    }
}
