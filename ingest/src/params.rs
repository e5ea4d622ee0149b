//! `Params`: the request's fields from the query string and the body (JSON object or
//! form), with typed accessors whose errors name the failing field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method};
use kefu_common::domain::{Invalid, Page, SessionToken, Sort};
use kefu_common::ids::ObjectId;
use kefu_common::outcome::ErrorCode;
use serde_json::{Map, Value};

use crate::{ApiError, AppState};

pub struct Params {
    fields: Map<String, Value>,
    /// The fields of the body alone (signed calls must not take unsigned query fields).
    body: Map<String, Value>,
    pub method: Method,
    pub path: String,
    pub query: Map<String, Value>,
    pub raw_body: Bytes,
    pub headers: HeaderMap,
}

fn pairs(text: &str, what: &str) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text)
        .map_err(|e| ApiError::new(ErrorCode::MalformedBody, format!("malformed {what}: {e}")))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

impl FromRequest<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let query = pairs(parts.uri.query().unwrap_or(""), "query string")?;
        let limit = state.config.body_limit_bytes;
        let raw_body = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!("request body is larger than {limit} bytes"),
            )
        })?;
        let mut fields = query.clone();
        let mut body_fields = Map::new();
        if !raw_body.is_empty() {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            // No Content-Type at all: a body opening with `{` is JSON, anything else a form.
            let kind = match content_type.as_str() {
                "" if raw_body.trim_ascii_start().starts_with(b"{") => "application/json",
                "" => "application/x-www-form-urlencoded",
                other => other,
            };
            let body = match kind {
                "application/json" => match serde_json::from_slice::<Value>(&raw_body) {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => return Err(ApiError::new(ErrorCode::MalformedBody, "the JSON body must be an object")),
                    Err(e) => return Err(ApiError::new(ErrorCode::MalformedBody, format!("malformed JSON: {e}"))),
                },
                "application/x-www-form-urlencoded" => {
                    let text = std::str::from_utf8(&raw_body)
                        .map_err(|_| ApiError::new(ErrorCode::MalformedBody, "the form body is not UTF-8"))?;
                    pairs(text, "form body")?
                }
                other => {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedMediaType,
                        format!("Content-Type {other:?} is not supported; send application/json or application/x-www-form-urlencoded"),
                    ))
                }
            };
            fields.extend(body.clone());
            body_fields = body;
        }
        Ok(Params {
            fields,
            body: body_fields,
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query,
            raw_body,
            headers: parts.headers,
        })
    }
}

fn invalid(field: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::field(ErrorCode::InvalidField, field, format!("{field} {e}"))
}

/// Fields that never enter a fingerprint: secrets, and the per-attempt signature.
const UNFINGERPRINTED: [&str; 3] = ["password", "timestamp", "signature"];

impl Params {
    /// Only the body's fields count: for signed calls, whose signature covers the body.
    pub fn only_body(mut self) -> Self {
        self.fields = self.body.clone();
        self
    }

    /// Identifies the request for `Idempotency-Key` checks: SHA-256 over the method, the
    /// path and the fields (sorted), leaving out passwords and signatures so nothing
    /// secret can be brute-forced from a stored fingerprint.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut fields = self.fields.clone();
        for name in UNFINGERPRINTED {
            fields.remove(name);
        }
        let canonical = serde_json::to_string(&fields).expect("fields serialize");
        hex::encode(
            Sha256::new()
                .chain_update(self.method.as_str())
                .chain_update(b"\n")
                .chain_update(&self.path)
                .chain_update(b"\n")
                .chain_update(canonical)
                .finalize(),
        )
    }

    /// A string field; JSON numbers are refused (wrong type), null counts as absent.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid(
                name,
                format_args!("must be a string, got {}", type_name(other)),
            )),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<String, ApiError> {
        self.opt_str(name)?
            .ok_or_else(|| ApiError::field(ErrorCode::MissingField, name, format!("{name} is required")))
    }

    /// A required field parsed into a domain type.
    pub fn req<T>(&self, name: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Result<T, ApiError> {
        parse(&self.req_str(name)?).map_err(|e| invalid(name, e))
    }

    pub fn opt<T>(&self, name: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Result<Option<T>, ApiError> {
        self.opt_str(name)?
            .map(|s| parse(&s).map_err(|e| invalid(name, e)))
            .transpose()
    }

    /// An integer field: a JSON integer or a string of digits (forms, query strings).
    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let value = match self.fields.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        let value = value.ok_or_else(|| invalid(name, "must be an integer"))?;
        if value < min || value > max {
            return Err(invalid(
                name,
                format_args!("must be between {min} and {max}, got {value}"),
            ));
        }
        Ok(Some(value))
    }

    pub fn req_int(&self, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        self.opt_int(name, min, max)?
            .ok_or_else(|| ApiError::field(ErrorCode::MissingField, name, format!("{name} is required")))
    }

    /// A list of strings given as a JSON array, or as a string holding one (the spec's
    /// `'["激活","安卓4.3"]'`).
    pub fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        let parsed;
        let array = match self.fields.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => {
                parsed = serde_json::from_str::<Value>(s)
                    .map_err(|_| invalid(name, "must be a JSON array of strings, e.g. [\"a\",\"b\"]"))?;
                &parsed
            }
            Some(other) => other,
        };
        let Value::Array(items) = array else {
            return Err(invalid(name, "must be a JSON array of strings"));
        };
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(name, "must contain only strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The caller's session: the `session` field, else `Authorization: Bearer`.
    pub fn session(&self) -> Result<SessionToken, ApiError> {
        let raw = match self.opt_str("session")? {
            Some(s) => s,
            None => self
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| ApiError::field(ErrorCode::InvalidSession, "session", "session is required"))?,
        };
        SessionToken::parse(&raw)
            .map_err(|e| ApiError::field(ErrorCode::InvalidSession, "session", format!("session {e}")))
    }

    /// page / num / <cursor> / sort of the spec's lists.
    pub fn page(&self, cursor_field: &str) -> Result<Page, ApiError> {
        let page = self.opt_int("page", 0, Page::MAX_PAGE as i64)?.unwrap_or(0) as u64;
        let num = self
            .opt_int("num", 1, Page::MAX_NUM as i64)?
            .unwrap_or(Page::DEFAULT_NUM as i64) as u64;
        let cursor = self.opt(cursor_field, |s| ObjectId::parse(s).map_err(|e| Invalid(e.to_string())))?;
        let sort = match self.fields.get("sort") {
            None | Some(Value::Null) => Sort::Desc,
            Some(_) => match self
                .opt_int("sort", -1, 1)
                .map_err(|_| invalid("sort", "must be 1 or -1"))?
            {
                Some(1) => Sort::Asc,
                Some(-1) => Sort::Desc,
                _ => return Err(invalid("sort", "must be 1 or -1")),
            },
        };
        Ok(Page {
            page,
            num,
            cursor,
            sort,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A path id (question_id) that must be a 24-hex id.
pub fn path_id(field: &str, raw: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse(raw).map_err(|e| invalid(field, e))
}
