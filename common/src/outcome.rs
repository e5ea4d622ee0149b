//! What a command produced, as stored for de-duplication and sent back to the ingest,
//! and the error codes of the API (see docs/errors.md).

use serde::{Deserialize, Serialize};

/// Every error code the API answers with. The wire form is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400
    MissingField,
    InvalidField,
    MalformedBody,
    // 401
    InvalidSession,
    BadSignature,
    ExpiredTimestamp,
    BadCredentials,
    // 403
    Forbidden,
    NotBound,
    // 404
    UnknownQuestion,
    UnknownApp,
    NotFound,
    // 405 / 415
    MethodNotAllowed,
    UnsupportedMediaType,
    // 409
    QuestionAlreadyServed,
    QuestionServedByOther,
    QuestionNotServed,
    QuestionFinished,
    QuestionNotFinished,
    IdempotencyKeyReused,
    // 413
    BodyTooLarge,
    // 429
    Overloaded,
    // 503
    Unavailable,
    // 500
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MissingField | InvalidField | MalformedBody => 400,
            InvalidSession | BadSignature | ExpiredTimestamp | BadCredentials => 401,
            Forbidden | NotBound => 403,
            UnknownQuestion | UnknownApp | NotFound => 404,
            MethodNotAllowed => 405,
            UnsupportedMediaType => 415,
            QuestionAlreadyServed
            | QuestionServedByOther
            | QuestionNotServed
            | QuestionFinished
            | QuestionNotFinished
            | IdempotencyKeyReused => 409,
            BodyTooLarge => 413,
            Overloaded => 429,
            Unavailable => 503,
            Internal => 500,
        }
    }
}

/// A client-visible failure: the spec's `{"status":300,"error","field","debug"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {debug}")]
pub struct Failure {
    pub code: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub debug: String,
}

impl Failure {
    pub fn new(code: ErrorCode, debug: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            debug: debug.into(),
        }
    }

    pub fn field(code: ErrorCode, field: &str, debug: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.to_owned()),
            debug: debug.into(),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "status": 300, "error": self.code, "debug": self.debug });
        if let Some(field) = &self.field {
            body["field"] = serde_json::Value::String(field.clone());
        }
        body
    }
}

/// The result of applying one command. Domain refusals are outcomes, not errors: they are
/// recorded like successes so a redelivered or retried command answers the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The success body without its `"status": 200`.
    Ok {
        body: serde_json::Map<String, serde_json::Value>,
    },
    Failed(Failure),
}

impl Outcome {
    pub fn ok(body: serde_json::Value) -> Self {
        match body {
            serde_json::Value::Object(map) => Outcome::Ok { body: map },
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                Outcome::Ok { body: map }
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("outcome serializes")
    }
}
