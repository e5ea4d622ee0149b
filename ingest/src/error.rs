//! Client-facing errors: the spec's `{"status":300,"error","field","debug"}` with a
//! fitting HTTP status. Internal causes are logged here and never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_common::broker::BrokerError;
use kefu_common::outcome::{ErrorCode, Failure};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Client(#[from] Failure),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(code: ErrorCode, field: &str, debug: impl Into<String>) -> Self {
        ApiError::Client(Failure::field(code, field, debug))
    }

    pub fn new(code: ErrorCode, debug: impl Into<String>) -> Self {
        ApiError::Client(Failure::new(code, debug))
    }
}

pub fn failure_response(failure: &Failure) -> Response {
    let status = StatusCode::from_u16(failure.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(failure.body())).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let failure = match self {
            ApiError::Client(failure) => failure,
            ApiError::Broker(BrokerError::Rejected(reason)) => {
                tracing::warn!(%reason, "command queue is full; refusing");
                Failure::new(ErrorCode::Overloaded, "too many commands queued; retry later")
            }
            ApiError::Broker(err) => {
                tracing::error!(error = %err, "broker unavailable");
                Failure::new(ErrorCode::Unavailable, "the message broker is unavailable; retry later")
            }
            ApiError::Db(err) => {
                tracing::error!(error = %err, "database error");
                Failure::new(ErrorCode::Unavailable, "the database is unavailable; retry later")
            }
            ApiError::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                Failure::new(ErrorCode::Internal, "internal error")
            }
        };
        failure_response(&failure)
    }
}
