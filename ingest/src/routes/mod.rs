//! The `/v1` API. Handlers stay thin: extract → authorize → command → answer.

pub(crate) mod admin;
pub(crate) mod answers;
pub(crate) mod leave;
pub(crate) mod lists;
pub(crate) mod media;
pub(crate) mod question;
pub(crate) mod serv;
pub(crate) mod session;
pub(crate) mod user;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use kefu_common::outcome::ErrorCode;
use serde_json::json;

use crate::input::{read_input, BodyLimit, ErrorStyle};
use crate::{ApiError, AppState};

/// A route whose handler reads its input (query and body, at most `limit` bytes).
fn reads(route: MethodRouter<AppState>, limit: usize) -> MethodRouter<AppState> {
    reads_as(route, limit, ErrorStyle::V1)
}

fn reads_as(route: MethodRouter<AppState>, limit: usize, style: ErrorStyle) -> MethodRouter<AppState> {
    route.layer(from_fn_with_state(BodyLimit { bytes: limit, style }, read_input))
}

pub fn router(state: &AppState) -> Router<AppState> {
    let limit = state.config.body_limit_bytes;
    let media_limit = state.config.media_body_limit();
    let api = Router::new()
        .route("/v1/session/new", reads(post(session::new), limit))
        .route("/v1/serv/bind", reads(post(serv::bind), limit))
        .route("/v1/serv/unbind", reads(post(serv::unbind), limit))
        .route("/v1/serv/{serv_id}/tasks", reads(get(lists::serv_tasks), limit))
        .route("/v1/question/new", reads(post(question::new), limit))
        .route("/v1/question/list", reads(get(lists::waiting), limit))
        .route("/v1/question/{question_id}/serve", reads(post(question::serve), limit))
        .route("/v1/question/{question_id}/quit", reads(post(question::quit), limit))
        .route("/v1/question/{question_id}/finish", reads(post(question::finish), limit))
        .route("/v1/question/{question_id}/reopen", reads(post(question::reopen), limit))
        .route("/v1/question/{question_id}/message", reads(get(lists::messages), limit))
        .route(
            "/v1/question/{question_id}/message/send_text",
            reads(post(question::send_text), limit),
        )
        .route(
            "/v1/question/{question_id}/message/send_image",
            reads(post(media::send_image), media_limit),
        )
        .route(
            "/v1/question/{question_id}/message/send_audio",
            reads(post(media::send_audio), media_limit),
        )
        .route("/media/{key}", get(media::get_media))
        .route("/v1/question/{question_id}/position", reads(get(user::position), limit))
        .route("/v1/user", reads(get(user::page), limit))
        .route(
            "/api/{version}/{appid}/leavemessage",
            reads_as(post(leave::create), limit, ErrorStyle::LeaveMessage),
        )
        .route("/v1/leavemessages", reads(get(leave::list), limit))
        .route("/v1/leavemessage/{id}", reads(get(leave::show), limit))
        .route("/v1/leavemessage/{id}/tag", reads(post(leave::tag), limit))
        .route("/admin/v1/leavemessages", reads(get(admin::leave_messages), limit))
        .route("/admin/v1/leavemessage/{id}", get(admin::leave_message))
        .route("/admin/v1/leavemessage/{id}/tag", reads(post(admin::tag_leave_message), limit))
        .route("/v1/answer/templates", reads(get(answers::templates), limit))
        .route("/v1/answer/template/{template_id}", reads(get(answers::items), limit))
        .route("/v1/user/{user_id}/waits", reads(get(lists::user_waits), limit))
        .route("/v1/user/{user_id}/tasks", reads(get(lists::user_tasks), limit))
        .route("/v1/user/{user_id}/overs", reads(get(lists::user_overs), limit))
        .route("/v1/user/{user_id}/alls", reads(get(lists::user_alls), limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.config.always_200(), status_mode));
    Router::new()
        .route("/health", get(health))
        .route("/static/default-avatar.png", get(default_avatar))
        .merge(crate::openapi::routes())
        .merge(api)
        .layer(from_fn(access_log))
}

/// `KEFU_ERROR_HTTP_STATUS=always-200`: every API answer is HTTP 200 with the outcome
/// (`status` 200 / 202 / 300, `error`) in the body, as the original server answered.
async fn status_mode(State(always_200): State<bool>, request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if always_200 && response.status() != StatusCode::OK {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// One line per request: method, path (never the query: it may hold a session), status
/// and latency. Client errors at debug, server errors at warn.
async fn access_log(request: axum::extract::Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match status {
        500.. => tracing::warn!(%method, %path, status, ms, "request failed"),
        400..=499 => tracing::debug!(%method, %path, status, ms, "request refused"),
        _ => tracing::info!(%method, %path, status, ms, "request"),
    }
    response
}

async fn health(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        Json(json!({ "status": 200, "broker": state.broker.kind() })),
    )
        .into_response()
}

/// The built-in avatar of users without one (`KEFU_DEFAULT_AVATAR_URL` unset).
async fn default_avatar() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        &include_bytes!("../../assets/default-avatar.png")[..],
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}
