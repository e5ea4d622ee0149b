//! Who the agent is talking to (the user page) and where a waiting customer stands.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::QuestionStatus;
use kefu_common::store::entity::question;
use kefu_common::{now_ms, store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::input::{PathParam, Valid};
use crate::requests::UserPageQuery;
use crate::{ApiError, AppState};

/// Serves within this window set the estimate's pace.
const SERVE_WINDOW_MS: i64 = 3_600_000;
/// The estimate per question ahead when nobody was served within the window.
const DEFAULT_SERVE_SECS: u64 = 120;

#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub user_id: String,
    /// 用户名 (`未填` if none).
    pub user_name: String,
    /// 用户设备数: distinct devices of the user's sessions.
    pub device_count: u64,
    /// 用户组数: the groups the app sent with session/new.
    pub group_count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Position {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    /// 1 = next to be served.
    pub position: u64,
    /// Questions of the app waiting now.
    pub waiting: u64,
    /// Seconds, from the app's serve rate of the last hour.
    pub estimated_wait: u64,
}

/// The question, if the caller is its user or an agent of its app.
async fn visible_question(state: &AppState, caller: &Caller, id: &ObjectId) -> Result<question::Model, ApiError> {
    let q = store::question(&state.db, id.as_str())
        .await?
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownQuestion, "question_id", "no such question"))?;
    caller.may_read(state, &q).await?;
    Ok(q)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// The user behind a question (客服获取用户信息), for an agent of its app: an HTML page with
/// the user's name, device count and group count, or the same as JSON with
/// `Accept: application/json`.
#[utoipa::path(get, path = "/v1/user", operation_id = "user_page", tag = "users",
    params(UserPageQuery, crate::openapi::SessionQuery),
    responses(
        (status = 200, description = "The user page (HTML), or JSON when asked for", content(
            (UserInfo = "application/json"),
            (String = "text/html"),
        )),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %query.question_id))]
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Valid(query): Valid<UserPageQuery>,
) -> Result<Response, ApiError> {
    caller.bound_agent()?;
    let q = visible_question(&state, &caller, &query.question_id).await?;
    let user = store::user(&state.db, q.app_id, &q.user_id).await?.ok_or_else(|| {
        ApiError::field(
            ErrorCode::UnknownUser,
            "question_id",
            "the question's user does not exist",
        )
    })?;
    let groups: Vec<String> = user
        .groups
        .as_deref()
        .and_then(|g| serde_json::from_str(g).ok())
        .unwrap_or_default();
    let info = UserInfo {
        status: 200,
        user_id: user.user_id.clone(),
        user_name: if user.user_name.is_empty() {
            crate::views::NO_NAME.to_owned()
        } else {
            user.user_name.clone()
        },
        device_count: store::device_count(&state.db, q.app_id, &q.user_id).await?,
        group_count: groups.len() as u64,
    };
    if wants_json(&headers) {
        return Ok(Json(info).into_response());
    }
    let html = state
        .templates
        .get_template("user.html")
        .and_then(|t| t.render(minijinja::value::Serde(&info)))
        .map_err(|e| ApiError::Internal(format!("user page template: {e}")))?;
    let mut response = Html(html).into_response();
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(response)
}

/// A waiting question's place in the queue (排队接口), for its user or an agent of its app.
#[utoipa::path(get, path = "/v1/question/{question_id}/position", operation_id = "question_position", tag = "questions",
    params(crate::openapi::QuestionIdPath, crate::openapi::SessionQuery),
    responses((status = 200, description = "Its place", body = Position), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn position(
    State(state): State<AppState>,
    PathParam(id): PathParam<ObjectId>,
    caller: Caller,
) -> Result<Json<Position>, ApiError> {
    let q = visible_question(&state, &caller, &id).await?;
    match q.status {
        QuestionStatus::Waiting => {}
        QuestionStatus::Finished => return Err(ApiError::new(ErrorCode::QuestionFinished, "the question is finished")),
        QuestionStatus::Serving => {
            return Err(ApiError::new(
                ErrorCode::QuestionAlreadyServed,
                "the question is being served",
            ))
        }
    }
    let (position, waiting) = store::queue_position(&state.db, &q).await?;
    let served = store::served_since(&state.db, q.app_id, now_ms() - SERVE_WINDOW_MS).await?;
    // Agents online with room now take the first questions at once.
    let ahead = position.saturating_sub(store::routing::free_agents(&state.db, q.app_id).await?);
    let estimated_wait = if served == 0 {
        ahead * DEFAULT_SERVE_SECS
    } else {
        (ahead * (SERVE_WINDOW_MS as u64 / 1000)).div_ceil(served)
    };
    Ok(Json(Position {
        status: 200,
        position,
        waiting,
        estimated_wait,
    }))
}
