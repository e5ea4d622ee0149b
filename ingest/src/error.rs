//! Client-facing errors: the spec's `{"status":300,"error","field","debug"}` with an
//! integer `error` (docs/errors.md) and a fitting HTTP status. Internal causes are
//! logged here, once, and never sent.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_common::domain::outcome::{ErrorCode, Failure};
use kefu_common::infra::broker::BrokerError;
use kefu_common::store::db::is_unavailable;

/// Seconds a client is asked to wait after a 503 / 429.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Client(#[from] Failure),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// Over a rate limit; retry after this many seconds.
    #[error("too many requests")]
    TooFrequent(u64),
    /// A refusal that ends after this many seconds (`Retry-After`).
    #[error("{0}")]
    Wait(Failure, u64),
    /// The client closed the connection before its body arrived.
    #[error("client went away mid-request")]
    ClientGone,
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
    with_status(failure, Json(failure.body()).into_response())
}

/// Gives a failure's body its HTTP status (and `Retry-After` where waiting helps).
pub fn with_status(failure: &Failure, mut response: Response) -> Response {
    *response.status_mut() =
        StatusCode::from_u16(failure.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if matches!(
        failure.code,
        ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::TooFrequent
    ) {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::TooFrequent(secs) | ApiError::Wait(_, secs) => Some(*secs),
            _ => None,
        };
        let mut response = failure_response(&self.into_failure());
        if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

impl ApiError {
    /// What the client is told; internal causes are logged here, once.
    pub fn into_failure(self) -> Failure {
        match self {
            ApiError::Client(failure) | ApiError::Wait(failure, _) => failure,
            ApiError::Broker(BrokerError::Rejected(reason)) => {
                tracing::warn!(%reason, "command queue is full; refusing");
                Failure::new(ErrorCode::Overloaded, "too many commands queued; retry later")
            }
            ApiError::Broker(err) => {
                tracing::error!(error = %err, "broker unavailable");
                Failure::new(ErrorCode::Unavailable, "the message broker is unavailable; retry later")
            }
            ApiError::Db(err) if is_unavailable(&err) => {
                tracing::error!(error = %err, "database unreachable");
                Failure::new(ErrorCode::Unavailable, "the database is unavailable; retry later")
            }
            ApiError::Db(err) => {
                tracing::error!(error = %err, "database error");
                Failure::new(ErrorCode::Internal, "internal error")
            }
            // Usually nobody is left to read this; a client that only half-closed is
            // told its body was cut short (never 413: the limit was not the problem).
            ApiError::ClientGone => Failure::new(
                ErrorCode::MalformedBody,
                "the request body ended before it was complete",
            ),
            ApiError::TooFrequent(secs) => {
                Failure::new(ErrorCode::TooFrequent, format!("too many requests; retry in {secs} s"))
            }
            ApiError::Internal(err) => {
                tracing::error!(error = %err, "internal error");
                Failure::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}
