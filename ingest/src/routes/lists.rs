//! The read side: lists are answered straight from the database.

use axum::extract::{Path, State};
use axum::Json;
use kefu_common::domain::{Identify, Label, ServId, UserId};
use kefu_common::outcome::ErrorCode;
use kefu_common::store::{self, QuestionFilter, SessionInfo};
use serde_json::{json, Value};

use crate::auth::{bound_agent, caller, require_agent};
use crate::params::{path_id, Params};
use crate::views::{self, UserList};
use crate::{ApiError, AppState};

/// Narrows `app_ids` to the app named by the optional `identify` filter.
async fn filter_identify(state: &AppState, params: &Params, app_ids: Vec<i64>) -> Result<Vec<i64>, ApiError> {
    let Some(identify) = params.opt("identify", Identify::parse)? else {
        return Ok(app_ids);
    };
    Ok(match store::app_by_identify(&state.db, identify.as_str()).await? {
        Some(app) if app_ids.contains(&app.id) => vec![app.id],
        _ => Vec::new(),
    })
}

fn list(key: &str, items: Vec<Value>) -> Json<Value> {
    Json(json!({ "status": 200, key: items }))
}

async fn agent_questions(
    state: &AppState,
    params: &Params,
    serv_id: &str,
    mut filter: QuestionFilter,
) -> Result<Json<Value>, ApiError> {
    let page = params.page("question_id")?;
    filter.app_ids = filter_identify(state, params, store::agent_app_ids(&state.db, serv_id).await?).await?;
    let questions = store::questions(&state.db, &filter, &page).await?;
    let users = store::users_of(&state.db, &questions).await?;
    Ok(list(
        "questions",
        questions.iter().map(|q| views::agent_question(q, &users)).collect(),
    ))
}

/// GET /v1/question/list — waiting questions of the apps the bound agent serves.
#[tracing::instrument(skip_all)]
pub async fn waiting(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    let info = caller(&state, &params).await?;
    let serv_id = bound_agent(&info)?;
    let label = params.opt("label", Label::parse)?.map(|l| l.to_string());
    let filter = QuestionFilter {
        statuses: vec![1],
        label,
        ..Default::default()
    };
    agent_questions(&state, &params, &serv_id, filter).await
}

/// GET /v1/serv/<serv_id>/tasks — questions this agent is serving.
#[tracing::instrument(skip_all, fields(serv_id = %raw))]
pub async fn serv_tasks(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let serv_id =
        ServId::parse(&raw).map_err(|e| ApiError::field(ErrorCode::InvalidField, "serv_id", format!("serv_id {e}")))?;
    let info = caller(&state, &params).await?;
    require_agent(&info, &serv_id, "serv_id")?;
    let filter = QuestionFilter {
        statuses: vec![2],
        serv_id: Some(serv_id.to_string()),
        ..Default::default()
    };
    agent_questions(&state, &params, serv_id.as_str(), filter).await
}

/// The apps in which the caller may see `user_id`'s questions: the user's own app, or
/// the apps of the bound agent.
async fn user_scope(state: &AppState, info: &SessionInfo, user_id: &UserId) -> Result<Vec<i64>, ApiError> {
    if info.session.user_id == user_id.as_str() {
        return Ok(vec![info.session.app_id]);
    }
    match &info.serv_id {
        Some(serv_id) => Ok(store::agent_app_ids(&state.db, serv_id).await?),
        None => Err(ApiError::field(
            ErrorCode::Forbidden,
            "user_id",
            "a user may only list their own questions",
        )),
    }
}

async fn user_list(state: AppState, raw: String, params: Params, kind: UserList) -> Result<Json<Value>, ApiError> {
    let user_id =
        UserId::parse(&raw).map_err(|e| ApiError::field(ErrorCode::InvalidField, "user_id", format!("user_id {e}")))?;
    let info = caller(&state, &params).await?;
    let page = params.page("question_id")?;
    let statuses = match kind {
        UserList::Waits => vec![1],
        UserList::Tasks => vec![2],
        UserList::Overs => vec![3],
        UserList::Alls => vec![],
    };
    let app_ids = filter_identify(&state, &params, user_scope(&state, &info, &user_id).await?).await?;
    let filter = QuestionFilter {
        app_ids,
        statuses,
        user_id: Some(user_id.to_string()),
        ..Default::default()
    };
    let questions = store::questions(&state.db, &filter, &page).await?;
    Ok(list(
        "questions",
        questions.iter().map(|q| views::user_question(q, kind)).collect(),
    ))
}

#[tracing::instrument(skip_all)]
pub async fn user_waits(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    user_list(state, raw, params, UserList::Waits).await
}

#[tracing::instrument(skip_all)]
pub async fn user_tasks(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    user_list(state, raw, params, UserList::Tasks).await
}

#[tracing::instrument(skip_all)]
pub async fn user_overs(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    user_list(state, raw, params, UserList::Overs).await
}

#[tracing::instrument(skip_all)]
pub async fn user_alls(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    user_list(state, raw, params, UserList::Alls).await
}

/// GET /v1/question/<id>/message — for the user who asked or an agent of the app.
#[tracing::instrument(skip_all, fields(question_id = %raw))]
pub async fn messages(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let question_id = path_id("question_id", &raw)?;
    let info = caller(&state, &params).await?;
    let page = params.page("message_id")?;
    let question = store::question(&state.db, question_id.as_str())
        .await?
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownQuestion, "question_id", "no such question"))?;
    let owner = info.session.app_id == question.app_id && info.session.user_id == question.user_id;
    let agent_apps = match &info.serv_id {
        Some(serv_id) if !owner => store::agent_app_ids(&state.db, serv_id).await?,
        _ => Vec::new(),
    };
    if !owner && !agent_apps.contains(&question.app_id) {
        return Err(ApiError::field(
            ErrorCode::Forbidden,
            "question_id",
            "not a question of this user or of the agent's apps",
        ));
    }
    if filter_identify(&state, &params, vec![question.app_id])
        .await?
        .is_empty()
    {
        return Ok(list("messages", Vec::new()));
    }
    let messages = store::messages(&state.db, question_id.as_str(), &page).await?;
    Ok(list("messages", messages.iter().map(views::message).collect()))
}
