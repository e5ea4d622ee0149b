//! What a command produced, as stored for de-duplication and sent back to the ingest,
//! and the error codes of the API (docs/errors.md is their one table).

use serde::{Deserialize, Serialize};

/// Every error the API answers with. On the wire `error` is the integer of
/// [`ErrorCode::number`] (the original system's codes where it has one, Kefu's own
/// 30xxx range otherwise) and `error_name` the snake_case name. Stored outcomes keep the
/// name, so renumbering never rewrites history.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::VariantArray, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// 10000: a bug or an unexpected database error; the log has the details.
    Internal,
    /// 10010: a required field is absent.
    MissingField,
    /// 10010: a field has the wrong type, is out of its limit or not one of its values.
    InvalidField,
    /// 10011: `session` missing, malformed, unknown or expired.
    InvalidSession,
    /// 10015: no such user (in the apps the caller may see).
    UnknownUser,
    /// 10031: base64 data could not be decoded.
    BadBase64,
    /// 10038: requests too frequent.
    TooFrequent,
    /// 20001: no agent account with this serv_id.
    UnknownAgent,
    /// 20002: wrong agent password.
    WrongPassword,
    /// 20003: no question with this id.
    UnknownQuestion,
    /// 20004: the question is being served (serve).
    QuestionAlreadyServed,
    /// 20005: the question is finished.
    QuestionFinished,
    /// 20006: the question has not been started: no agent serves it yet.
    QuestionNotServed,
    /// 20007: the question's current agent is not the serv_id sent.
    QuestionServedByOther,
    /// 20008: the question's user is not the session's user.
    NotQuestionOwner,
    /// 30001: the body is not valid JSON / form data, or JSON that is not an object.
    MalformedBody,
    /// 30002: the app signature does not match.
    BadSignature,
    /// 30003: the signed request's timestamp is outside the accepted window.
    ExpiredTimestamp,
    /// 30004: the session is not bound to the agent it acts as.
    NotBound,
    /// 30005: another tenant's data: an app the agent does not serve, a sender that is
    /// not the session's user.
    Forbidden,
    /// 30006: no app with this identify.
    UnknownApp,
    /// 30007: the Idempotency-Key was used for a different request.
    IdempotencyKeyReused,
    /// 30008: the body is larger than the route's limit.
    BodyTooLarge,
    /// 30009: a Content-Type that is neither JSON nor a form.
    UnsupportedMediaType,
    /// 30010: the command queue is full.
    Overloaded,
    /// 30011: the broker or the database cannot be reached.
    Unavailable,
    /// 30012: no such endpoint.
    NotFound,
    /// 30013: wrong HTTP method.
    MethodNotAllowed,
    /// 30014: reopen of a question that is not finished.
    QuestionNotFinished,
    /// 30015: no quick-answer template with this id (in the apps the agent serves).
    UnknownTemplate,
    /// 30016: no leave message with this id (in the apps the agent serves).
    UnknownLeaveMessage,
    /// 30017: the admin API's bearer token is missing or wrong.
    BadAdminToken,
    /// 30018: the app is disabled.
    AppDisabled,
    /// 30019: the agent account is disabled.
    AgentDisabled,
    /// 30020: an admin create of something that already exists.
    AlreadyExists,
    /// 30021: agent logins are locked (this agent, or this client address) after too
    /// many failures, until an operator unlocks them or the lock ends.
    AgentLocked,
    /// 30022: more live streams for this session or user than allowed.
    TooManyStreams,
    /// 30023: the request (its body) did not arrive in time.
    RequestTimeout,
    /// 30024: the ingest holds as many connections as it may.
    TooManyConnections,
    /// 30025: the agent already serves as many questions as its `max_concurrent`.
    AgentAtCapacity,
    /// 30026: the question was rated already (a rating is given once).
    AlreadyRated,
    /// 30027: the question is not offered to this agent (accept / decline).
    NotOffered,
}

impl ErrorCode {
    /// Every code, in the order of docs/errors.md.
    pub const ALL: &'static [ErrorCode] = <Self as strum::VariantArray>::VARIANTS;

    /// The integer `error` of the wire format.
    pub fn number(self) -> u32 {
        use ErrorCode::*;
        match self {
            Internal => 10000,
            MissingField | InvalidField => 10010,
            InvalidSession => 10011,
            UnknownUser => 10015,
            BadBase64 => 10031,
            TooFrequent => 10038,
            UnknownAgent => 20001,
            WrongPassword => 20002,
            UnknownQuestion => 20003,
            QuestionAlreadyServed => 20004,
            QuestionFinished => 20005,
            QuestionNotServed => 20006,
            QuestionServedByOther => 20007,
            NotQuestionOwner => 20008,
            MalformedBody => 30001,
            BadSignature => 30002,
            ExpiredTimestamp => 30003,
            NotBound => 30004,
            Forbidden => 30005,
            UnknownApp => 30006,
            IdempotencyKeyReused => 30007,
            BodyTooLarge => 30008,
            UnsupportedMediaType => 30009,
            Overloaded => 30010,
            Unavailable => 30011,
            NotFound => 30012,
            MethodNotAllowed => 30013,
            QuestionNotFinished => 30014,
            UnknownTemplate => 30015,
            UnknownLeaveMessage => 30016,
            BadAdminToken => 30017,
            AppDisabled => 30018,
            AgentDisabled => 30019,
            AlreadyExists => 30020,
            AgentLocked => 30021,
            TooManyStreams => 30022,
            RequestTimeout => 30023,
            TooManyConnections => 30024,
            AgentAtCapacity => 30025,
            AlreadyRated => 30026,
            NotOffered => 30027,
        }
    }

    /// The snake_case name, sent as `error_name` (and stored).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The request parameter a refusal of this kind is about, when it is always the same
    /// one: the path's question, template or leave-message id, or the agent sent.
    pub fn subject_field(self) -> Option<&'static str> {
        use ErrorCode::*;
        match self {
            UnknownQuestion | QuestionAlreadyServed | QuestionFinished | QuestionNotServed | QuestionNotFinished => {
                Some("question_id")
            }
            QuestionServedByOther => Some("serv_id"),
            UnknownTemplate => Some("template_id"),
            UnknownLeaveMessage => Some("id"),
            _ => None,
        }
    }

    /// The HTTP status in the default (`fitting`) mode.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MissingField | InvalidField | MalformedBody | BadBase64 => 400,
            InvalidSession | BadSignature | ExpiredTimestamp | UnknownAgent | WrongPassword | BadAdminToken => 401,
            Forbidden | NotBound | NotQuestionOwner | AppDisabled | AgentDisabled => 403,
            UnknownQuestion | UnknownApp | UnknownUser | UnknownTemplate | UnknownLeaveMessage | NotFound => 404,
            MethodNotAllowed => 405,
            UnsupportedMediaType => 415,
            QuestionAlreadyServed
            | QuestionServedByOther
            | QuestionNotServed
            | QuestionFinished
            | QuestionNotFinished
            | IdempotencyKeyReused
            | AlreadyExists
            | AgentAtCapacity
            | AlreadyRated
            | NotOffered => 409,
            BodyTooLarge => 413,
            Overloaded | TooFrequent | AgentLocked | TooManyStreams => 429,
            RequestTimeout => 408,
            Unavailable | TooManyConnections => 503,
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
    /// A refusal; one about the question, template or leave message named in the path
    /// names that parameter in `field` (see [`ErrorCode::subject_field`]).
    pub fn new(code: ErrorCode, debug: impl Into<String>) -> Self {
        Self {
            code,
            field: code.subject_field().map(str::to_owned),
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
        let mut body = serde_json::json!({
            "status": 300,
            "error": self.code.number(),
            "error_name": self.code.name(),
            "debug": self.debug,
        });
        if let Some(field) = &self.field {
            body["field"] = serde_json::Value::String(field.clone());
        }
        body
    }
}

/// What a successful command answers, typed; stored and sent as its JSON object (the
/// same shape as before it was typed, so stored outcomes stay readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// session/new: the session's expiry (epoch seconds). The token is the ingest's
    /// alone: it sets `session` in its answer, and it is never stored.
    SessionOpened {
        expires_at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// question/new.
    QuestionCreated {
        question_id: String,
        question: CreatedQuestion,
    },
    /// Anything that wrote a message (send_*, serve, quit, finish, reopen).
    MessageWritten { message_id: String },
    /// A leave message stored.
    LeaveMessageStored { id: String },
    /// Done, nothing to tell (bind, unbind, tag): `{}` and nothing else, so a stored
    /// body no other reply reads is an error, not a silent success.
    Done(Nothing),
}

/// The empty body of [`Reply::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nothing {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedQuestion {
    pub id: String,
    pub status: crate::domain::QuestionStatus,
}

/// The result of applying one command. Domain refusals are outcomes, not errors: they are
/// recorded like successes so a redelivered or retried command answers the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The success body without its `"status": 200`.
    Ok {
        body: Reply,
    },
    Failed(Failure),
}

impl Outcome {
    /// The answer's body as JSON: the reply's fields, and `"status": 200`.
    pub fn success_body(reply: &Reply) -> serde_json::Value {
        let mut body = serde_json::to_value(reply).expect("replies serialize");
        body["status"] = serde_json::json!(200);
        body
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("outcome serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/errors.md is the one table: every code appears there with its number, name
    /// and HTTP status, and nothing else does.
    #[test]
    fn docs_errors_md_matches_the_codes() {
        let doc = include_str!("../../../docs/errors.md")
            .split("## Leave messages")
            .next()
            .unwrap();
        let rows: Vec<(u32, String, u16)> = doc
            .lines()
            .filter(|l| l.starts_with("| 1") || l.starts_with("| 2") || l.starts_with("| 3"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].parse().unwrap(),
                    cells[2].trim_matches('`').to_owned(),
                    cells[3].parse().unwrap(),
                )
            })
            .collect();
        let codes: Vec<(u32, String, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.number(), c.name().to_owned(), c.http_status()))
            .collect();
        assert_eq!(rows, codes);
        for &c in ErrorCode::ALL {
            let stored = serde_json::to_string(&c).unwrap();
            assert_eq!(stored, format!("\"{}\"", c.name()), "stored name of {c:?}");
        }
    }

    /// Outcomes stored before replies were typed read back as the same replies.
    #[test]
    fn stored_outcomes_read_as_typed_replies() {
        let read = |text: &str| serde_json::from_str::<Outcome>(text).unwrap();
        assert_eq!(
            read(r#"{"outcome":"ok","body":{"expires_at":1700000000}}"#),
            Outcome::Ok {
                body: Reply::SessionOpened {
                    expires_at: 1_700_000_000,
                    session: None
                }
            }
        );
        assert!(matches!(
            read(r#"{"outcome":"ok","body":{"question_id":"q","question":{"id":"q","status":1}}}"#),
            Outcome::Ok {
                body: Reply::QuestionCreated { .. }
            }
        ));
        assert!(matches!(
            read(r#"{"outcome":"ok","body":{"message_id":"m"}}"#),
            Outcome::Ok {
                body: Reply::MessageWritten { .. }
            }
        ));
        assert!(matches!(
            read(r#"{"outcome":"ok","body":{"id":"5b1f8d2e-8c1a-4c59-9f5e-0a6e4f5d7c11"}}"#),
            Outcome::Ok {
                body: Reply::LeaveMessageStored { .. }
            }
        ));
        assert_eq!(
            read(r#"{"outcome":"ok","body":{}}"#),
            Outcome::Ok {
                body: Reply::Done(Nothing {})
            }
        );
        assert!(serde_json::from_str::<Outcome>(r#"{"outcome":"ok","body":{"question_id":"q"}}"#).is_err());
        let body = Outcome::success_body(&Reply::MessageWritten { message_id: "m".into() });
        assert_eq!(body, serde_json::json!({ "message_id": "m", "status": 200 }));
    }

    #[test]
    fn failure_body_has_an_integer_code() {
        let body = Failure::field(ErrorCode::InvalidField, "title", "too long").body();
        assert_eq!(body["error"], 10010);
        assert_eq!(body["error_name"], "invalid_field");
        assert_eq!(body["field"], "title");
        assert_eq!(body["status"], 300);
    }
}
