//! `/admin/v1/apps/<app>/routing` (an app's routing) and `/admin/v1/apps/<app>/report`
//! (its figures).

use super::*;
use kefu_common::domain::RoutingMode;
use kefu_common::store::figures::{self, AppReport};
use kefu_common::store::routing::{self as routing_store, RoutingView, MAX_OFFER_SECS};

use crate::requests::ReportQuery;
use crate::routes::admin::timeouts::DurationField;

/// `manual` or `auto`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModeField {
    Manual,
    Auto,
}

/// An app's routing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRequest {
    mode: ModeField,
    /// In `auto`: offer each question for this long before passing it on (seconds, or
    /// `30s`, `2m`; at most an hour); absent or 0: questions are given at once.
    #[serde(default)]
    offer_timeout: Option<DurationField>,
}

/// Sets how the app's waiting questions reach agents: `manual` (agents pick them from
/// the waiting list, the default) or `auto` (given to an online agent with room, the
/// one idle longest; with `offer_timeout`, offered first).
#[utoipa::path(put, path = "/admin/v1/apps/{app}/routing", operation_id = "admin_app_set_routing", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((RoutingRequest = "application/json"))),
    responses((status = 200, description = "The app's routing now", body = Answer<RoutingView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_routing(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<RoutingRequest>,
) -> Result<Json<Answer<RoutingView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let offer = req.offer_timeout.map(|d| d.secs());
    if offer.is_some_and(|s| s > MAX_OFFER_SECS) {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "offer_timeout",
            format!("at most {MAX_OFFER_SECS} s"),
        ));
    }
    let mode = match req.mode {
        ModeField::Manual => RoutingMode::Manual,
        ModeField::Auto => RoutingMode::Auto,
    };
    let view = routing_store::set_routing(&state.db, &identify, mode, offer).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), ?view, "admin: routing set");
    Ok(Answer::ok(view))
}

/// The app's routing.
#[utoipa::path(get, path = "/admin/v1/apps/{app}/routing", operation_id = "admin_app_routing", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app's routing", body = Answer<RoutingView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_routing(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<RoutingView>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    Ok(Answer::ok(routing_store::get_routing(&state.db, &identify).await?))
}

/// The app's figures for the questions asked in `[since, until)` (default: the last 7
/// days): asked, served, finished, timed out, waiting and first-response times (p50,
/// p90, seconds), ratings (histogram and average), and the same per agent.
#[utoipa::path(get, path = "/admin/v1/apps/{app}/report", operation_id = "admin_app_report", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify"), ReportQuery),
    responses((status = 200, description = "The figures", body = Answer<AppReport>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn report(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(query): Valid<ReportQuery>,
) -> Result<Json<Answer<AppReport>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    let (since, until) = window(query.since.map(|s| s.ms()), query.until.map(|s| s.ms()));
    if since > until {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "since",
            "since is after until",
        ));
    }
    Ok(Answer::ok(
        figures::app_report(&state.db, app.app_id, &app.identify, since, until).await?,
    ))
}

/// A report's window in ms: the last 7 days unless given.
pub fn window(since: Option<i64>, until: Option<i64>) -> (i64, i64) {
    const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
    let until = until.unwrap_or_else(|| kefu_common::now_ms() + 1);
    (since.unwrap_or(until - WEEK_MS), until)
}
