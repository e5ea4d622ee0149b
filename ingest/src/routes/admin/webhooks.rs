//! `/admin/v1/apps/<app>/webhooks`, `/admin/v1/webhooks/<id>/…`: webhook endpoints.

use super::*;
use crate::views::Answer;

/// A new webhook endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where the CloudEvents are POSTed (http or https).
    url: Url,
    /// Event-type patterns: `kefu.question.*`, `kefu.message.created`, `#` for all.
    #[schema(min_items = 1, max_items = 50)]
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    #[serde(flatten)]
    endpoint: kefu_common::store::webhooks::EndpointView,
}

#[derive(Serialize, ToSchema)]
pub struct WebhooksAnswer {
    endpoints: Vec<kefu_common::store::webhooks::EndpointView>,
}

/// Creates a webhook endpoint of the app; answers it with its `whsec_` secret (shown
/// only now and on rotation).
#[utoipa::path(post, path = "/admin/v1/apps/{app}/webhooks", operation_id = "admin_webhook_create", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((WebhookRequest = "application/json"))),
    responses((status = 200, description = "The endpoint, with its secret", body = Answer<WebhookAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<WebhookRequest>,
) -> Result<Json<Answer<WebhookAnswer>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    if req.events.is_empty() || req.events.len() > 50 {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "events",
            "give 1 to 50 patterns",
        ));
    }
    let events = req
        .events
        .iter()
        .map(|e| kefu_common::store::webhooks::event_pattern(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "events", e.0))?;
    let endpoint = kefu_common::store::webhooks::create(&state.db, app.app_id, req.url.as_str(), &events).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), endpoint = %endpoint.id, "admin: webhook endpoint created");
    Ok(Answer::ok(WebhookAnswer { endpoint }))
}

/// The app's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/webhooks", operation_id = "admin_webhooks", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The endpoints", body = Answer<WebhooksAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<WebhooksAnswer>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    let endpoints = kefu_common::store::webhooks::list(&state.db, Some(app.app_id)).await?;
    Ok(Answer::ok(WebhooksAnswer { endpoints }))
}

/// What an operator does to a webhook endpoint.
#[derive(Debug, Clone, Copy)]
enum WebhookChange {
    Disable,
    Enable,
    RotateSecret,
}

async fn webhook_change(
    state: &AppState,
    id: &str,
    change: WebhookChange,
) -> Result<Json<Answer<WebhookAnswer>>, ApiError> {
    use kefu_common::store::webhooks;
    let changed = match change {
        WebhookChange::Disable => webhooks::set_disabled(&state.db, id, true).await?,
        WebhookChange::Enable => webhooks::set_disabled(&state.db, id, false).await?,
        WebhookChange::RotateSecret => webhooks::rotate_secret(&state.db, id).await?,
    };
    let endpoint = changed.ok_or_else(|| ApiError::field(ErrorCode::NotFound, "id", "no such webhook endpoint"))?;
    tracing::info!(endpoint = %endpoint.id, ?change, "admin: webhook endpoint changed");
    Ok(Answer::ok(WebhookAnswer { endpoint }))
}

/// Stops sending to a webhook endpoint.
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/disable", operation_id = "admin_webhook_disable", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint", body = Answer<WebhookAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Answer<WebhookAnswer>>, ApiError> {
    webhook_change(&state, &id, WebhookChange::Disable).await
}

/// Sends to a disabled webhook endpoint again.
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/enable", operation_id = "admin_webhook_enable", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint", body = Answer<WebhookAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Answer<WebhookAnswer>>, ApiError> {
    webhook_change(&state, &id, WebhookChange::Enable).await
}

/// A new signing secret for a webhook endpoint (answered; the old one stops at once).
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/rotate_secret", operation_id = "admin_webhook_rotate_secret", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint, with its new secret", body = Answer<WebhookAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Answer<WebhookAnswer>>, ApiError> {
    webhook_change(&state, &id, WebhookChange::RotateSecret).await
}
