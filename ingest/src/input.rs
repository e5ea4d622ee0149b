//! A request's fields, read once: the query string plus the body (JSON object or form;
//! without a `Content-Type`, a body opening with `{` is JSON, anything else a form). This
//! is the only place that knows about encodings. Handlers take typed requests through
//! [`Valid`], whose errors name the failing field.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kefu_common::domain::outcome::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{ApiError, AppState};

/// The parsed request, put into the request's extensions by [`read_input`].
pub struct RawInput {
    /// Query and body fields together (the body wins).
    pub fields: Value,
    /// The body's fields alone: signed calls must not take unsigned query fields.
    pub body: Value,
    pub query: Map<String, Value>,
    pub method: Method,
    pub path: String,
    pub raw_body: Bytes,
    pub headers: HeaderMap,
}

/// The request's input, as an extractor.
#[derive(Clone)]
pub struct Input(pub Arc<RawInput>);

impl std::ops::Deref for Input {
    type Target = RawInput;
    fn deref(&self) -> &RawInput {
        &self.0
    }
}

impl FromRequestParts<AppState> for Input {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Input>()
            .cloned()
            .ok_or_else(|| ApiError::Internal(format!("route {} reads no input", parts.uri.path())))
    }
}

/// How a route reads its input: its body limit in bytes, and the style its errors are
/// answered in.
#[derive(Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    pub style: ErrorStyle,
    pub pace: BodyPace,
}

/// How long a body may take: `base`, plus its length at `min_bytes_per_sec`.
#[derive(Clone, Copy)]
pub struct BodyPace {
    pub base: std::time::Duration,
    pub min_bytes_per_sec: u64,
}

impl BodyPace {
    fn deadline(&self, bytes: usize) -> std::time::Duration {
        let per_sec = self.min_bytes_per_sec.max(1);
        self.base + std::time::Duration::from_millis(bytes as u64 * 1000 / per_sec)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// The customer-service API: `{"status":300,"error",…}`.
    V1,
    /// The leave-message API: `{"errcode",…}`.
    LeaveMessage,
}

/// Middleware: reads the body (at most the route's limit) and parses query and body.
pub async fn read_input(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match parse(&parts, body, limit.bytes, limit.pace).await {
        Ok(input) => {
            parts.extensions.insert(Input(Arc::new(input)));
            next.run(Request::from_parts(parts, axum::body::Body::empty())).await
        }
        Err(err) => {
            // The rest of the body is left unread, so the connection cannot carry another
            // request: say so, or a client may reuse it and lose its next request.
            let unread = matches!(&err, ApiError::ClientGone)
                || matches!(&err, ApiError::Client(f) if matches!(f.code, ErrorCode::BodyTooLarge | ErrorCode::RequestTimeout));
            let mut response = match limit.style {
                ErrorStyle::LeaveMessage => crate::routes::leave::error_response(err),
                ErrorStyle::V1 => err.into_response(),
            };
            if unread {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
            }
            response
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the request body is larger than this endpoint's limit of {limit} bytes"),
    )
}

async fn parse(parts: &Parts, body: axum::body::Body, limit: usize, pace: BodyPace) -> Result<RawInput, ApiError> {
    let query = pairs(parts.uri.query().unwrap_or(""), "query string")?;
    // A compressed body would be read as if plain: refuse it, as nothing here inflates.
    if let Some(encoding) = parts.headers.get(header::CONTENT_ENCODING) {
        let encoding = String::from_utf8_lossy(encoding.as_bytes()).trim().to_ascii_lowercase();
        if !encoding.is_empty() && encoding != "identity" {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("Content-Encoding {encoding:?} is not supported; send the body uncompressed"),
            ));
        }
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // A body that stalls would hold its connection (and task) forever: it gets the
    // time its declared length needs at the minimum rate (the limit's, if undeclared).
    let deadline = pace.deadline(declared.unwrap_or(limit));
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await;
    let raw_body = match read {
        Err(_) => {
            tracing::info!(ms = deadline.as_millis() as u64, "request body too slow; answered 408");
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the request body did not arrive within {} ms", deadline.as_millis()),
            ));
        }
        Ok(read) => read.map_err(|err| {
            if is_length_limit(&err) {
                too_large(limit)
            } else {
                // The client went away (or broke the framing) mid-body: not a 413, and
                // nobody is left to read the answer.
                tracing::debug!(error = %err, "request body not read to its end");
                ApiError::ClientGone
            }
        })?,
    };
    let mut fields = query.clone();
    let mut body_fields = Map::new();
    if !raw_body.is_empty() {
        body_fields = parse_body(&parts.headers, &raw_body)?;
        fields.extend(body_fields.clone());
    }
    Ok(RawInput {
        fields: Value::Object(fields),
        body: Value::Object(body_fields),
        query,
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        raw_body,
        headers: parts.headers.clone(),
    })
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

fn parse_body(headers: &HeaderMap, raw: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let kind = match content_type.as_str() {
        "" if raw.trim_ascii_start().starts_with(b"{") => "application/json",
        "" => "application/x-www-form-urlencoded",
        other => other,
    };
    match kind {
        "application/json" => match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::new(
                ErrorCode::MalformedBody,
                "the JSON body must be an object",
            )),
            Err(e) => Err(ApiError::new(ErrorCode::MalformedBody, format!("malformed JSON: {e}"))),
        },
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(raw)
                .map_err(|_| ApiError::new(ErrorCode::MalformedBody, "the form body is not UTF-8"))?;
            pairs(text, "form body")
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "Content-Type {other:?} is not supported; send application/json or application/x-www-form-urlencoded"
            ),
        )),
    }
}

/// `application/x-www-form-urlencoded` pairs (`+` a space, `%XX` a byte). Decoding is
/// strict: a name or value whose bytes are not UTF-8 once percent-decoded is refused
/// (naming it), never stored with replacement characters.
fn pairs(text: &str, what: &str) -> Result<Map<String, Value>, ApiError> {
    let decode = |raw: &str| -> Result<String, Vec<u8>> {
        let bytes: Vec<u8> = percent_encoding::percent_decode(raw.replace('+', " ").as_bytes()).collect();
        String::from_utf8(bytes).map_err(|e| e.into_bytes())
    };
    let mut map = Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name).map_err(|_| {
            ApiError::new(
                ErrorCode::MalformedBody,
                format!("malformed {what}: a parameter name is not UTF-8 once percent-decoded"),
            )
        })?;
        let value = decode(raw_value).map_err(|_| {
            ApiError::field(
                ErrorCode::InvalidField,
                &name,
                format!("{name} is not UTF-8 once percent-decoded (in the {what})"),
            )
        })?;
        map.insert(name, Value::String(value));
    }
    Ok(map)
}

/// Fields that never enter a fingerprint: secrets, and the per-attempt signature.
const UNFINGERPRINTED: [&str; 3] = ["password", "timestamp", "signature"];

impl RawInput {
    /// Identifies the request for `Idempotency-Key` checks: SHA-256 over the method, the
    /// path and the fields (sorted), leaving out passwords and signatures so nothing
    /// secret can be brute-forced from a stored fingerprint.
    pub fn fingerprint(&self, body_only: bool) -> String {
        use sha2::{Digest, Sha256};
        let source = if body_only { &self.body } else { &self.fields };
        let mut fields = source.as_object().cloned().unwrap_or_default();
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

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_str(&self, name: &str) -> Option<&str> {
        self.query.get(name).and_then(Value::as_str)
    }

    /// A signed call's `timestamp` or `signature`: the `Kefu-Timestamp` /
    /// `Kefu-Signature` header (kept out of URLs and so out of proxies' logs), else the
    /// query parameter of that name; `None` when neither is given or it is empty.
    pub fn signed_param(&self, name: &str) -> Option<&str> {
        let header = match name {
            "timestamp" => "kefu-timestamp",
            "signature" => "kefu-signature",
            _ => return self.query_str(name).filter(|s| !s.is_empty()),
        };
        self.header(header)
            .map(str::trim)
            .or_else(|| self.query_str(name))
            .filter(|s| !s.is_empty())
    }

    /// Deserializes a typed request from the query and body fields.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        deserialize(&self.fields)
    }

    /// Deserializes a typed request from the body alone.
    pub fn parse_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        deserialize(&self.body)
    }
}

/// Deserializes `T`, turning the first failure into a 10010 naming its field.
pub fn deserialize<T: DeserializeOwned>(fields: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(fields).map_err(|err| {
        let message = err.inner().to_string();
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            return ApiError::field(ErrorCode::MissingField, name, format!("{name} is required"));
        }
        let path = err.path().to_string();
        let field = path.split(['.', '[']).next().unwrap_or_default().to_owned();
        let debug = if path == field {
            format!("{field} {message}")
        } else {
            format!("{field} ({path}) {message}")
        };
        ApiError::field(ErrorCode::InvalidField, &field, debug)
    })
}

/// A typed request, deserialized from query and body.
pub struct Valid<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Valid<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let input = Input::from_request_parts(parts, state).await?;
        input.parse().map(Valid)
    }
}

/// A path segment parsed into a domain type; a bad one is a 10010 naming it.
pub struct PathParam<T>(pub T);

/// The domain types that appear in paths, with their field names.
pub trait PathValue: Sized {
    const FIELD: &'static str;
    fn parse_path(raw: &str) -> Result<Self, String>;
}

impl PathValue for kefu_common::domain::ids::ObjectId {
    const FIELD: &'static str = "question_id";
    fn parse_path(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl PathValue for kefu_common::domain::ServId {
    const FIELD: &'static str = "serv_id";
    fn parse_path(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl PathValue for kefu_common::domain::UserId {
    const FIELD: &'static str = "user_id";
    fn parse_path(raw: &str) -> Result<Self, String> {
        Self::parse(raw).map_err(|e| e.to_string())
    }
}

impl<T: PathValue + Send> FromRequestParts<AppState> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::field(ErrorCode::InvalidField, T::FIELD, format!("{} {e}", T::FIELD)))?;
        T::parse_path(&raw)
            .map(PathParam)
            .map_err(|e| ApiError::field(ErrorCode::InvalidField, T::FIELD, format!("{} {e}", T::FIELD)))
    }
}
