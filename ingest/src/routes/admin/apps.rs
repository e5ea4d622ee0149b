//! `/admin/v1/apps[/<app>[/disable|enable|rotate_secret]]`: apps (tenants).

use super::*;
use crate::views::Answer;

/// Every app.
#[utoipa::path(get, path = "/admin/v1/apps", operation_id = "admin_apps", tag = "admin",
    responses((status = 200, description = "The apps", body = Answer<AppsAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn apps(State(state): State<AppState>, _: Admin) -> Result<Json<Answer<AppsAnswer>>, ApiError> {
    Ok(Answer::ok(AppsAnswer {
        apps: operators::list_apps(&state.db).await?,
    }))
}

/// Creates an app; the answer is the only time its secret is shown (but rotate_secret).
#[utoipa::path(post, path = "/admin/v1/apps", operation_id = "admin_app_create", tag = "admin",
    request_body(content((NewApp = "application/json"), (NewApp = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The app and its secret", body = Answer<AppWithSecret>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_app(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<NewApp>,
) -> Result<Json<Answer<AppWithSecret>>, ApiError> {
    let avatar = req.default_avatar_url.and_then(|u| u.0);
    let app = operators::create_app(&state.db, &req.identify, req.name.as_ref(), avatar.as_ref()).await?;
    tracing::info!(identify = %req.identify.as_str().escape_debug(), "admin: app created");
    Ok(Answer::ok(app))
}

/// One app, by `app_id` or identify.
#[utoipa::path(get, path = "/admin/v1/apps/{app}", operation_id = "admin_app", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = Answer<AppView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AppView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    Ok(app_answer(operators::get_app(&state.db, &identify).await?))
}

/// Changes an app: name, default avatar, disabled.
#[utoipa::path(patch, path = "/admin/v1/apps/{app}", operation_id = "admin_app_update", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((AppChanges = "application/json"), (AppChanges = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The app", body = Answer<AppView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn update_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AppChanges>,
) -> Result<Json<Answer<AppView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let avatar = req.default_avatar_url.map(|u| u.0);
    let mut view = operators::update_app(
        &state.db,
        &identify,
        req.name.as_ref(),
        avatar.as_ref().map(Option::as_ref),
    )
    .await?;
    if let Some(disabled) = req.disabled {
        view = operators::set_app_disabled(&state.db, &identify, disabled).await?;
    }
    if let Some(ask) = req.ask_rating {
        kefu_common::store::routing::set_ask_rating(&state.db, &identify, ask).await?;
        view.ask_rating = ask;
    }
    Ok(app_answer(view))
}

/// Disables an app: its sessions and signed calls answer 30018.
#[utoipa::path(post, path = "/admin/v1/apps/{app}/disable", operation_id = "admin_app_disable", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = Answer<AppView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AppView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: app disabled");
    Ok(app_answer(
        operators::set_app_disabled(&state.db, &identify, true).await?,
    ))
}

/// Enables a disabled app.
#[utoipa::path(post, path = "/admin/v1/apps/{app}/enable", operation_id = "admin_app_enable", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = Answer<AppView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AppView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    Ok(app_answer(
        operators::set_app_disabled(&state.db, &identify, false).await?,
    ))
}

/// A new signing secret (the old one is refused from now on).
#[utoipa::path(post, path = "/admin/v1/apps/{app}/rotate_secret", operation_id = "admin_app_rotate_secret", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app and its new secret", body = Answer<AppWithSecret>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AppWithSecret>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: app secret rotated");
    Ok(Answer::ok(operators::rotate_app_secret(&state.db, &identify).await?))
}
