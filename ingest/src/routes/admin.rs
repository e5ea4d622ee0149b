//! The operators' API under `/admin/v1`, behind `Authorization: Bearer <KEFU_ADMIN_TOKEN>`
//! (unset: off, every path answers 404). For now: leave messages, as agents see them but
//! across every app.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use kefu_common::command::Command;
use kefu_common::outcome::ErrorCode;
use kefu_common::store;
use serde_json::Map;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::dispatch::dispatch;
use crate::input::{Input, Valid};
use crate::routes::leave::{find_in, item, listed, LeaveMessageOne, LeaveMessages, LeaveMessagesQuery, TagRequest};
use crate::{ApiError, AppState};

/// An operator, by the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.config.admin_token else {
            return Err(ApiError::new(ErrorCode::NotFound, "no such endpoint (the admin API is off)"));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(Admin)
        } else {
            Err(ApiError::new(ErrorCode::BadAdminToken, "admin token missing or wrong"))
        }
    }
}

/// Leave messages of every app (or of `identify`).
#[utoipa::path(get, path = "/admin/v1/leavemessages", operation_id = "admin_leave_messages", tag = "admin",
    params(LeaveMessagesQuery),
    responses((status = 200, description = "Leave messages", body = LeaveMessages), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all)]
pub async fn leave_messages(
    State(state): State<AppState>,
    _: Admin,
    Valid(query): Valid<LeaveMessagesQuery>,
) -> Result<Json<LeaveMessages>, ApiError> {
    let apps = match &query.identify {
        Some(identify) => store::app_by_identify(&state.db, identify.as_str())
            .await?
            .map(|a| vec![a.id])
            .unwrap_or_default(),
        None => store::app_ids(&state.db).await?,
    };
    listed(&state, apps, &query).await.map(Json)
}

/// One leave message.
#[utoipa::path(get, path = "/admin/v1/leavemessage/{id}", operation_id = "admin_leave_message", tag = "admin",
    params(("id" = Uuid, Path, description = "The message's UUID")),
    responses((status = 200, description = "The message", body = LeaveMessageOne), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn leave_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<LeaveMessageOne>, ApiError> {
    let message = find_in(&state, None, &id).await?;
    Ok(Json(LeaveMessageOne {
        status: 200,
        leavemessage: item(message),
    }))
}

/// Sets or clears a leave message's tag.
#[utoipa::path(post, path = "/admin/v1/leavemessage/{id}/tag", operation_id = "admin_leave_message_tag", tag = "admin",
    params(("id" = Uuid, Path, description = "The message's UUID"), crate::openapi::CommandHeaders),
    request_body(content((TagRequest = "application/json"), (TagRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tagged", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("admin" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn tag_leave_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
    input: Input,
    Valid(req): Valid<TagRequest>,
) -> Result<Response, ApiError> {
    let message = find_in(&state, None, &id).await?;
    let id = Uuid::parse_str(&message.id).map_err(|e| ApiError::Internal(format!("stored leave message id: {e}")))?;
    let command = Command::LeaveMessageTagByAdminV1 { id, tag: req.tag };
    dispatch(&state, &input, "admin", command, Map::new()).await
}
