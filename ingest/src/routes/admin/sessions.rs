//! `/admin/v1/sessions/revoke`, `DELETE /admin/v1/sessions/<session>`: ending sessions.

use super::*;
use crate::views::Answer;

/// Ends sessions: one `session`; every session of a user (`identify` + `user_id`); or
/// every device binding of an agent (`serv_id`).
#[utoipa::path(post, path = "/admin/v1/sessions/revoke", operation_id = "admin_sessions_revoke", tag = "admin",
    request_body(content((RevokeRequest = "application/json"), (RevokeRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "How many ended", body = Answer<RevokedAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<RevokeRequest>,
) -> Result<Json<Answer<RevokedAnswer>>, ApiError> {
    let revoked = match (req.session, req.identify, req.user_id, req.serv_id) {
        (Some(session), None, None, None) => operators::revoke_session(&state.db, &session).await?,
        (None, Some(identify), Some(user_id), None) => {
            operators::revoke_user_sessions(&state.db, &identify, &user_id).await?
        }
        (None, None, None, Some(serv_id)) => operators::revoke_agent_bindings(&state.db, &serv_id).await?,
        _ => {
            return Err(ApiError::field(
                ErrorCode::MissingField,
                "session",
                "give session, or identify with user_id, or serv_id",
            ))
        }
    };
    tracing::info!(revoked, "admin: sessions revoked");
    Ok(Answer::ok(RevokedAnswer { revoked }))
}

/// Ends one session (and its binding).
#[utoipa::path(delete, path = "/admin/v1/sessions/{session}", operation_id = "admin_session_delete", tag = "admin",
    params(("session" = String, Path, description = "The 12-character session", pattern = "^[A-Za-z0-9]{12}$")),
    responses((status = 200, description = "How many ended (0 or 1)", body = Answer<RevokedAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn delete_session(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<RevokedAnswer>>, ApiError> {
    let token = SessionToken::parse(&raw)
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "session", format!("session {e}")))?;
    Ok(Answer::ok(RevokedAnswer {
        revoked: operators::revoke_session(&state.db, &token).await?,
    }))
}
