//! Operators' view of questions across apps and agents (`/admin/v1/questions`), and the
//! lifting of login locks (`/admin/v1/agents/<serv_id>/unlock`,
//! `/admin/v1/addresses/<address>/unlock`).

use crate::views::Answer;
use axum::extract::{Path, State};
use axum::Json;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::{Identify, ServId, UserId};
use kefu_common::store::operators::{self, AddressUnlocked};
use kefu_common::store::question_overview::{self, Filter, QuestionOverview};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::input::{PathParam, Valid};
use crate::requests::{EpochSecs, PageSize, StatusFilter};
use crate::routes::admin::{agent_answer, serv_key, Admin};
use crate::views::{self, Message};
use crate::{ApiError, AppState};
use kefu_common::store::operators::AgentView;

/// GET /admin/v1/questions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminQuestionsQuery {
    /// Only this app (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
    /// Only this status.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// Only questions this agent serves or last served.
    #[param(inline)]
    pub serv_id: Option<ServId>,
    /// Only this user's questions.
    #[param(inline)]
    pub user_id: Option<UserId>,
    /// Asked at or after (seconds since the epoch).
    #[param(inline)]
    pub since: Option<EpochSecs>,
    /// `next_cursor` of the previous page.
    #[param(inline)]
    pub cursor: Option<ObjectId>,
    #[param(inline)]
    pub num: Option<PageSize>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminQuestions {
    questions: Vec<QuestionOverview>,
    /// The cursor of the next page; `null` on the last one.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminQuestion {
    question: QuestionOverview,
    /// Its messages, oldest first (at most 1000).
    messages: Vec<Message>,
}

/// Questions of every app (or the filters'), newest first, cursor-paged.
#[utoipa::path(get, path = "/admin/v1/questions", operation_id = "admin_questions", tag = "admin",
    params(AdminQuestionsQuery),
    responses((status = 200, description = "Questions", body = Answer<AdminQuestions>), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all)]
pub async fn questions(
    State(state): State<AppState>,
    _: Admin,
    Valid(query): Valid<AdminQuestionsQuery>,
) -> Result<Json<Answer<AdminQuestions>>, ApiError> {
    let filter = Filter {
        identify: query.identify,
        status: query.status.map(|s| s.0),
        serv_id: query.serv_id,
        user_id: query.user_id,
        since_ms: query.since.map(|s| s.0 * 1000),
        cursor: query.cursor,
        num: query.num.map_or(kefu_common::domain::Page::DEFAULT_NUM, PageSize::get),
    };
    let page = question_overview::list(&state.db, &filter).await?;
    Ok(Answer::ok(AdminQuestions {
        questions: page.questions,
        next_cursor: page.next_cursor,
    }))
}

/// One question of any app, with its messages.
#[utoipa::path(get, path = "/admin/v1/questions/{question_id}", operation_id = "admin_question", tag = "admin",
    params(crate::openapi::QuestionIdPath),
    responses((status = 200, description = "The question", body = Answer<AdminQuestion>), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn question(
    State(state): State<AppState>,
    _: Admin,
    PathParam(id): PathParam<ObjectId>,
) -> Result<Json<Answer<AdminQuestion>>, ApiError> {
    let (question, messages) = question_overview::one(&state.db, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownQuestion, "no such question"))?;
    let deliveries =
        kefu_common::store::im::deliveries::of_messages(&state.db, messages.iter().map(|m| m.id.clone()).collect())
            .await?;
    let media_base = state.config.media_base();
    Ok(Answer::ok(AdminQuestion {
        question,
        messages: messages
            .iter()
            .map(|m| views::message(m, &media_base, deliveries.get(&m.id).map(views::Delivery::from)))
            .collect(),
    }))
}

/// Lifts the agent's login lock and forgets its failed logins.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/unlock", operation_id = "admin_agent_unlock", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent (`locked_until` null)", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn unlock_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    Ok(agent_answer(
        operators::unlock_agent(&state.db, &serv_key(&raw)?).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct AddressUnlockAnswer {
    #[serde(flatten)]
    unlocked: AddressUnlocked,
}

/// Lifts the login lock of a client address (IPv4 or IPv6) and forgets its failures.
#[utoipa::path(post, path = "/admin/v1/addresses/{address}/unlock", operation_id = "admin_address_unlock", tag = "admin",
    params(("address" = String, Path, description = "The client address")),
    responses((status = 200, description = "Whether a lock was lifted", body = Answer<AddressUnlockAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn unlock_address(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AddressUnlockAnswer>>, ApiError> {
    let address = raw.parse().map_err(|e| {
        ApiError::field(
            ErrorCode::InvalidField,
            "address",
            format!("address is not an IP address: {e}"),
        )
    })?;
    Ok(Answer::ok(AddressUnlockAnswer {
        unlocked: operators::unlock_address(&state.db, address).await?,
    }))
}
