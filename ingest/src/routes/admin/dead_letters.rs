//! `/admin/v1/dead-letters[/redrive]`: what the queues gave up on.

use super::*;
use crate::views::Answer;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLettersQuery {
    /// Only this queue's (`commands`).
    #[serde(default)]
    queue: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLettersAnswer {
    dead_letters: Vec<kefu_common::store::dead_letters::DeadLetterView>,
}

/// `id`, or `queue` with `all: true`.
#[derive(Deserialize, ToSchema)]
pub struct RedriveRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RedrivenAnswer {
    redriven: u64,
}

/// Messages a queue gave up on, with reason and attempts.
#[utoipa::path(get, path = "/admin/v1/dead-letters", operation_id = "admin_dead_letters", tag = "admin",
    params(DeadLettersQuery),
    responses((status = 200, description = "The dead letters", body = Answer<DeadLettersAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    _: Admin,
    Valid(query): Valid<DeadLettersQuery>,
) -> Result<Json<Answer<DeadLettersAnswer>>, ApiError> {
    Ok(Answer::ok(DeadLettersAnswer {
        dead_letters: kefu_common::store::dead_letters::list(&state.db, query.queue.as_deref()).await?,
    }))
}

/// Puts dead letters back on their queue: one (`id`) or all (of `queue`) with `all`.
#[utoipa::path(post, path = "/admin/v1/dead-letters/redrive", operation_id = "admin_dead_letters_redrive", tag = "admin",
    request_body(content((RedriveRequest = "application/json"))),
    responses((status = 200, description = "How many went back", body = Answer<RedrivenAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn redrive(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<RedriveRequest>,
) -> Result<Json<Answer<RedrivenAnswer>>, ApiError> {
    use kefu_common::store::dead_letters::DeadLetterError;
    if req.id.is_none() && !req.all {
        return Err(ApiError::field(
            ErrorCode::MissingField,
            "id",
            "give id, or all: true (with an optional queue)",
        ));
    }
    let redriven = match kefu_common::store::dead_letters::redrive(
        &state.db,
        &state.broker,
        req.id.as_deref(),
        req.queue.as_deref(),
    )
    .await
    {
        Ok(n) => n,
        Err(DeadLetterError::Unknown(id)) => {
            return Err(ApiError::field(
                ErrorCode::NotFound,
                "id",
                format!("no dead letter {id}"),
            ))
        }
        Err(DeadLetterError::Db(err)) => return Err(err.into()),
        Err(DeadLetterError::Broker(err)) => return Err(ApiError::Broker(err)),
    };
    Ok(Answer::ok(RedrivenAnswer { redriven }))
}
