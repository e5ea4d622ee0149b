//! `/admin/v1/leavemessages`, `/admin/v1/leavemessage/<id>[/tag]`: leave messages as agents see them, across every app.

use super::*;

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
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
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
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
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
