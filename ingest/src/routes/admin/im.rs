//! `/admin/v1/apps/<app>/im`: an app's Tencent IM settings.

use super::*;
use crate::views::Answer;

/// An app's IM settings.
#[derive(Deserialize, ToSchema)]
pub struct ImSettingsRequest {
    /// Default: https://console.tim.qq.com.
    #[serde(default)]
    base_url: Option<Url>,
    sdkappid: u32,
    identifier: kefu_common::domain::ImAccount,
    secret_key: kefu_common::domain::ImSecretKey,
    from_account: kefu_common::domain::ImAccount,
}

/// Sets the app's Tencent Cloud IM settings (agents' replies are then delivered to its
/// users' IM).
#[utoipa::path(put, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_set_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((ImSettingsRequest = "application/json"))),
    responses((status = 200, description = "The settings (never the key)", body = Answer<kefu_common::store::operators::ImSettingsView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<ImSettingsRequest>,
) -> Result<Json<Answer<kefu_common::store::operators::ImSettingsView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let settings = operators::ImSettings {
        base_url: req.base_url,
        sdkappid: req.sdkappid,
        identifier: req.identifier,
        secret_key: req.secret_key,
        from_account: req.from_account,
    };
    let im = operators::set_im(&state.db, &identify, settings).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: IM settings set");
    Ok(Answer::ok(im))
}

/// The app's IM settings (404 `not_found` when it has none).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The settings (never the key)", body = Answer<kefu_common::store::operators::ImSettingsView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<kefu_common::store::operators::ImSettingsView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    match operators::get_im(&state.db, &identify).await? {
        Some(im) => Ok(Answer::ok(im)),
        None => Err(ApiError::new(ErrorCode::NotFound, "this app has no IM settings")),
    }
}

/// Removes the app's IM settings: no more IM deliveries.
#[utoipa::path(delete, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_clear_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "Removed", body = crate::views::Done), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn clear_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    operators::clear_im(&state.db, &identify).await?;
    Ok(Json(serde_json::json!({ "status": 200 })))
}
