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
