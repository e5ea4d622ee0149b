//! `/admin/v1/apps/<app>/push`: an app's push endpoint.

use super::*;
use crate::views::Answer;

/// The app's push endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Where the push payloads are POSTed (http or https), signed like webhooks.
    url: Url,
}

/// Sets the app's push endpoint (a new signing secret, answered once).
#[utoipa::path(put, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_set_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((PushRequest = "application/json"))),
    responses((status = 200, description = "The endpoint, with its secret", body = Answer<kefu_common::store::webhooks::PushView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<PushRequest>,
) -> Result<Json<Answer<kefu_common::store::webhooks::PushView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    let push = kefu_common::store::webhooks::set_push(&state.db, app.app_id, req.url.as_str()).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: push endpoint set");
    Ok(Answer::ok(push))
}

/// The app's push endpoint (404 `not_found` when it has none).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The endpoint (never the secret)", body = Answer<kefu_common::store::webhooks::PushView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<kefu_common::store::webhooks::PushView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    match kefu_common::store::webhooks::get_push(&state.db, app.app_id).await? {
        Some(push) => Ok(Answer::ok(push)),
        None => Err(ApiError::new(ErrorCode::NotFound, "this app has no push endpoint")),
    }
}

/// Removes the app's push endpoint.
#[utoipa::path(delete, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_clear_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "Removed", body = crate::views::Done), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn clear_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    kefu_common::store::webhooks::clear_push(&state.db, app.app_id).await?;
    Ok(Json(serde_json::json!({ "status": 200 })))
}
