//! The read side: lists are answered straight from the database.

use axum::extract::State;
use axum::Json;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::{Identify, Page, QuestionStatus, ServId, UserId};
use kefu_common::store::entity::question;
use kefu_common::store::{self, QuestionFilter};

use crate::auth::Caller;
use crate::input::{PathParam, Valid};
use crate::requests::{MessagesQuery, QuestionsQuery, WaitingQuery};
use crate::views::{self, AgentQuestions, Messages, UserQuestions, UserTasks, UserWaits};
use crate::{ApiError, AppState};

const OK: u16 = 200;

/// Narrows `app_ids` to the app named by the optional `identify` filter.
pub(crate) async fn filter_identify(
    state: &AppState,
    identify: Option<&Identify>,
    app_ids: Vec<i64>,
) -> Result<Vec<i64>, ApiError> {
    let Some(identify) = identify else {
        return Ok(app_ids);
    };
    Ok(match store::app_by_identify(&state.db, identify.as_str()).await? {
        Some(app) if app_ids.contains(&app.id) => vec![app.id],
        _ => Vec::new(),
    })
}

/// The apps the bound agent serves, narrowed to `identify` when one is given.
pub(crate) async fn agent_apps(
    state: &AppState,
    caller: &Caller,
    identify: Option<&Identify>,
) -> Result<Vec<i64>, ApiError> {
    let serv_id = caller.bound_agent()?;
    filter_identify(state, identify, store::agent_app_ids(&state.db, &serv_id).await?).await
}

async fn agent_questions(
    state: &AppState,
    identify: Option<&Identify>,
    page: &Page,
    serv_id: &str,
    mut filter: QuestionFilter,
) -> Result<Json<AgentQuestions>, ApiError> {
    filter.app_ids = filter_identify(state, identify, store::agent_app_ids(&state.db, serv_id).await?).await?;
    let questions = store::questions(&state.db, &filter, page).await?;
    let users = store::users_of(&state.db, &questions).await?;
    let apps = store::apps_of(&state.db, &questions).await?;
    let fallback = state.config.default_avatar();
    Ok(Json(AgentQuestions {
        status: OK,
        questions: questions
            .iter()
            .map(|q| views::agent_question(q, &users, &apps, &fallback))
            .collect(),
    }))
}

/// Waiting questions of the apps the bound agent serves (客服获取'待解决'用户问题列表).
#[utoipa::path(get, path = "/v1/question/list", operation_id = "question_list", tag = "lists",
    params(WaitingQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Waiting questions", body = AgentQuestions), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn waiting(
    State(state): State<AppState>,
    caller: Caller,
    Valid(query): Valid<WaitingQuery>,
) -> Result<Json<AgentQuestions>, ApiError> {
    let serv_id = caller.bound_agent()?;
    let filter = QuestionFilter {
        statuses: vec![QuestionStatus::Waiting],
        labels: query
            .label
            .as_ref()
            .map(|l| l.0.iter().map(|l| l.to_string()).collect())
            .unwrap_or_default(),
        ..Default::default()
    };
    agent_questions(&state, query.identify.as_ref(), &query.page(), &serv_id, filter).await
}

/// Questions this agent is serving (客服'解决中'问题列表).
#[utoipa::path(get, path = "/v1/serv/{serv_id}/tasks", operation_id = "serv_tasks", tag = "lists",
    params(("serv_id" = ServId, Path, description = "客服账号: the agent the session is bound to"),
        QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Questions being served", body = AgentQuestions), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn serv_tasks(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<AgentQuestions>, ApiError> {
    own_questions(&state, &caller, &serv_id, &query, QuestionStatus::Serving).await
}

/// Questions this agent finished (its '已解决' list), newest first by default.
#[utoipa::path(get, path = "/v1/serv/{serv_id}/overs", operation_id = "serv_overs", tag = "lists",
    params(("serv_id" = ServId, Path, description = "客服账号: the agent the session is bound to"),
        QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Questions the agent finished", body = AgentQuestions), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(serv_id = %serv_id))]
pub async fn serv_overs(
    State(state): State<AppState>,
    PathParam(serv_id): PathParam<ServId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<AgentQuestions>, ApiError> {
    own_questions(&state, &caller, &serv_id, &query, QuestionStatus::Finished).await
}

/// The questions of this status the agent (the session's) serves or served last.
async fn own_questions(
    state: &AppState,
    caller: &Caller,
    serv_id: &ServId,
    query: &QuestionsQuery,
    status: QuestionStatus,
) -> Result<Json<AgentQuestions>, ApiError> {
    caller.require_agent(serv_id, "serv_id")?;
    let filter = QuestionFilter {
        statuses: vec![status],
        serv_id: Some(serv_id.to_string()),
        ..Default::default()
    };
    agent_questions(state, query.identify.as_ref(), &query.page(), serv_id.as_str(), filter).await
}

/// The apps in which the caller may see `user_id`'s questions: the user's own app, or
/// the apps of the bound agent in which that user exists.
async fn user_scope(state: &AppState, caller: &Caller, user_id: &UserId) -> Result<Vec<i64>, ApiError> {
    if caller.info.session.user_id == user_id.as_str() {
        return Ok(vec![caller.info.session.app_id]);
    }
    let Some(serv_id) = &caller.info.serv_id else {
        if caller.info.disabled_agent.is_some() {
            return Err(ApiError::field(
                ErrorCode::AgentDisabled,
                "session",
                "this agent account is disabled",
            ));
        }
        return Err(ApiError::field(
            ErrorCode::Forbidden,
            "user_id",
            "a user may only list their own questions",
        ));
    };
    let apps = store::apps_with_user(
        &state.db,
        &store::agent_app_ids(&state.db, serv_id).await?,
        user_id.as_str(),
    )
    .await?;
    if apps.is_empty() {
        return Err(ApiError::field(
            ErrorCode::UnknownUser,
            "user_id",
            "no such user in the apps this agent serves",
        ));
    }
    Ok(apps)
}

async fn user_list(
    state: &AppState,
    user_id: &UserId,
    caller: &Caller,
    query: &QuestionsQuery,
    statuses: Vec<QuestionStatus>,
) -> Result<Vec<question::Model>, ApiError> {
    let app_ids = filter_identify(
        state,
        query.identify.as_ref(),
        user_scope(state, caller, user_id).await?,
    )
    .await?;
    let filter = QuestionFilter {
        app_ids,
        statuses,
        user_id: Some(user_id.to_string()),
        ..Default::default()
    };
    Ok(store::questions(&state.db, &filter, &query.page()).await?)
}

/// The user's questions no agent has started (用户'待解决'问题列表).
#[utoipa::path(get, path = "/v1/user/{user_id}/waits", operation_id = "user_waits", tag = "lists",
    params(crate::openapi::UserIdPath, QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Waiting questions", body = UserWaits), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn user_waits(
    State(state): State<AppState>,
    PathParam(user_id): PathParam<UserId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<UserWaits>, ApiError> {
    let questions = user_list(&state, &user_id, &caller, &query, vec![QuestionStatus::Waiting]).await?;
    Ok(Json(UserWaits {
        status: OK,
        questions: questions.iter().map(views::user_wait).collect(),
    }))
}

/// The user's questions an agent is serving (用户'解决中'问题列表).
#[utoipa::path(get, path = "/v1/user/{user_id}/tasks", operation_id = "user_tasks", tag = "lists",
    params(crate::openapi::UserIdPath, QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Questions being served", body = UserTasks), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn user_tasks(
    State(state): State<AppState>,
    PathParam(user_id): PathParam<UserId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<UserTasks>, ApiError> {
    let questions = user_list(&state, &user_id, &caller, &query, vec![QuestionStatus::Serving]).await?;
    Ok(Json(UserTasks {
        status: OK,
        questions: questions.iter().map(views::user_task).collect(),
    }))
}

/// The user's finished questions (用户'已解决'问题列表).
#[utoipa::path(get, path = "/v1/user/{user_id}/overs", operation_id = "user_overs", tag = "lists",
    params(crate::openapi::UserIdPath, QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Finished questions", body = UserTasks), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn user_overs(
    State(state): State<AppState>,
    PathParam(user_id): PathParam<UserId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<UserTasks>, ApiError> {
    let questions = user_list(&state, &user_id, &caller, &query, vec![QuestionStatus::Finished]).await?;
    Ok(Json(UserTasks {
        status: OK,
        questions: questions.iter().map(views::user_task).collect(),
    }))
}

/// All of the user's questions (用户所有问题列表).
#[utoipa::path(get, path = "/v1/user/{user_id}/alls", operation_id = "user_alls", tag = "lists",
    params(crate::openapi::UserIdPath, QuestionsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "All questions", body = UserQuestions), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn user_alls(
    State(state): State<AppState>,
    PathParam(user_id): PathParam<UserId>,
    caller: Caller,
    Valid(query): Valid<QuestionsQuery>,
) -> Result<Json<UserQuestions>, ApiError> {
    let questions = user_list(&state, &user_id, &caller, &query, vec![]).await?;
    Ok(Json(UserQuestions {
        status: OK,
        questions: questions.iter().map(views::user_question).collect(),
    }))
}

/// A question's messages (获取问题聊天消息), for the user who asked or an agent of the app.
#[utoipa::path(get, path = "/v1/question/{question_id}/message", operation_id = "question_messages", tag = "messages",
    params(crate::openapi::QuestionIdPath, MessagesQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Messages", body = Messages), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %question_id))]
pub async fn messages(
    State(state): State<AppState>,
    PathParam(question_id): PathParam<ObjectId>,
    caller: Caller,
    Valid(query): Valid<MessagesQuery>,
) -> Result<Json<Messages>, ApiError> {
    let question = store::question(&state.db, question_id.as_str())
        .await?
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownQuestion, "question_id", "no such question"))?;
    caller.may_read(&state, &question).await?;
    let messages = if filter_identify(&state, query.identify.as_ref(), vec![question.app_id])
        .await?
        .is_empty()
    {
        Vec::new()
    } else {
        store::messages(&state.db, question_id.as_str(), &query.page()).await?
    };
    let deliveries =
        kefu_common::store::im::deliveries::of_messages(&state.db, messages.iter().map(|m| m.id.clone()).collect())
            .await?;
    let media_base = state.config.media_base();
    Ok(Json(Messages {
        status: OK,
        messages: messages
            .iter()
            .map(|m| views::message(m, &media_base, deliveries.get(&m.id).map(views::Delivery::from)))
            .collect(),
    }))
}
