//! The `/v1` API. Handlers stay thin: extract → validate → command → answer.

mod lists;
mod question;
mod serv;
mod session;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kefu_common::outcome::ErrorCode;
use serde_json::json;

use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/session/new", post(session::new))
        .route("/v1/serv/bind", post(serv::bind))
        .route("/v1/serv/unbind", post(serv::unbind))
        .route("/v1/serv/{serv_id}/tasks", get(lists::serv_tasks))
        .route("/v1/question/new", post(question::new))
        .route("/v1/question/list", get(lists::waiting))
        .route("/v1/question/{question_id}/serve", post(question::serve))
        .route("/v1/question/{question_id}/quit", post(question::quit))
        .route("/v1/question/{question_id}/finish", post(question::finish))
        .route("/v1/question/{question_id}/reopen", post(question::reopen))
        .route("/v1/question/{question_id}/message", get(lists::messages))
        .route(
            "/v1/question/{question_id}/message/send_text",
            post(question::send_text),
        )
        .route("/v1/user/{user_id}/waits", get(lists::user_waits))
        .route("/v1/user/{user_id}/tasks", get(lists::user_tasks))
        .route("/v1/user/{user_id}/overs", get(lists::user_overs))
        .route("/v1/user/{user_id}/alls", get(lists::user_alls))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(access_log))
}

/// One line per request: method, path (never the query: it may hold a session), status
/// and latency. Client errors at debug, server errors at warn.
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
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

async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        StatusCode::OK,
        Json(json!({ "status": 200, "broker": state.broker.kind() })),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}
