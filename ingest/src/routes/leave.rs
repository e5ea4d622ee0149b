//! Leave messages (留言): the signed leave-message API exactly as its clients call it
//! (`/api/<version>/<appid>/leavemessage`, answers in that system's `errcode` style), and
//! the agents' reads and tags under `/v1`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_common::domain::command::{Command, NewLeaveMessage};
use kefu_common::domain::leave::{
    Callback, Contact, Email, LeaveUserId, MessageContent, Subject, Tag, Tel, USER_DATA_MAX,
};
use kefu_common::domain::outcome::{ErrorCode, Failure, Outcome, Reply};
use kefu_common::domain::secret::ExposeSecret;
use kefu_common::store;
use kefu_common::store::entity::{app, leave_message};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::dispatch::{dispatch, submit, with_request_id, Answer, Key};
use crate::error::with_status;
use crate::input::{Input, RawInput, Valid};
use crate::requests::{PageNo, PageSize, SortOrder};
use crate::routes::lists::agent_apps;
use crate::{ApiError, AppState};

/// `""` counts as absent for the optional strings (clients send empty form fields).
fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => T::try_from(s).map(Some).map_err(D::Error::custom),
    }
}

/// The leave-message body. Unknown fields (clients send e.g. `FromUserId`) are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LeaveMessage {
    /// The app's unique id of the user, if it has one (at most 50 characters).
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schema(value_type = Option<LeaveUserId>)]
    pub user_id: Option<LeaveUserId>,
    /// 联系人的称呼, 2–32 characters.
    pub contact: Contact,
    /// 回复方式.
    pub callback: CallbackField,
    /// Required for `tel`, `fax` and `sms`: digits with an optional leading +country code
    /// (a landline with its area code, e.g. 07522026666, or a mobile number).
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schema(value_type = Option<Tel>)]
    pub tel: Option<Tel>,
    /// Required for `email`; at most 100 characters.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schema(value_type = Option<Email>)]
    pub email: Option<Email>,
    /// 留言主题, at most 50 characters.
    pub subject: Subject,
    /// 留言内容, at most 2000 characters.
    pub content: Option<MessageContent>,
    /// Any JSON, at most 2000 characters serialized.
    pub user_data: Option<Value>,
}

/// `callback` with the spec's list of values named in its error.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = Callback)]
pub struct CallbackField(pub Callback);

impl TryFrom<String> for CallbackField {
    type Error = kefu_common::domain::Invalid;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Callback::parse(&s).map(CallbackField)
    }
}

/// The leave-message API's answers.
#[derive(Serialize, ToSchema)]
pub struct LeaveAnswer {
    /// 0 on success, else the code of docs/errors.md.
    pub errcode: u32,
    /// `ok`, `accepted` (queued with `Prefer: respond-async`), or why it failed.
    pub errmsg: String,
    /// The message's UUID (on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The field that caused the failure, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn failure_body(failure: &Failure) -> LeaveAnswer {
    let (errmsg, field) = match failure.code {
        // The signature is this API's idempotency key.
        ErrorCode::IdempotencyKeyReused => (
            "this signature was already used for another message".to_owned(),
            Some("signature".to_owned()),
        ),
        _ => (failure.debug.clone(), failure.field.clone()),
    };
    LeaveAnswer {
        errcode: failure.code.number(),
        errmsg,
        id: None,
        field,
    }
}

/// An error in this API's style, with the HTTP status of docs/errors.md.
pub fn error_response(err: ApiError) -> Response {
    let failure = err.into_failure();
    with_status(&failure, Json(failure_body(&failure)).into_response())
}

fn missing(field: &str) -> ApiError {
    ApiError::field(ErrorCode::MissingField, field, format!("{field} is required"))
}

/// The app named in the path: its numeric `app_id` or its `identify`.
async fn app_of(state: &AppState, appid: &str) -> Result<app::Model, ApiError> {
    let found = match appid.parse::<i64>() {
        Ok(id) if !appid.starts_with('+') => store::app_by_id(&state.db, id).await?,
        _ => store::app_by_identify(&state.db, appid).await?,
    };
    found.ok_or_else(|| ApiError::field(ErrorCode::UnknownApp, "appid", "no app with this appid"))
}

/// `signature` = lowercase hex SHA-1 of `appid + secret + timestamp`, the appid exactly as
/// in the path, the timestamp (ms) within the accepted skew. Returns the signature.
fn verify(state: &AppState, input: &RawInput, appid: &str, app: &app::Model) -> Result<String, ApiError> {
    let timestamp = input.signed_param("timestamp").ok_or_else(|| missing("timestamp"))?;
    let signature = input.signed_param("signature").ok_or_else(|| missing("signature"))?;
    crate::auth::check_timestamp(timestamp, state.config.signature_skew_secs)?;
    let expected = hex::encode(
        Sha1::new()
            .chain_update(appid)
            .chain_update(app.secret.expose_secret())
            .chain_update(timestamp)
            .finalize(),
    );
    let given = signature.to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(ApiError::field(
            ErrorCode::BadSignature,
            "signature",
            "signature does not match",
        ));
    }
    Ok(given)
}

/// Receives a customer's leave message (收到客户的留言). `<version>` is `v1` or `v1.0`;
/// `<appid>` the app's numeric id or its identify; `signature` the lowercase hex SHA-1 of
/// `appid + secret + timestamp`. Each signature is accepted once: the same request again
/// answers the first result, another body with it is refused (30007).
#[utoipa::path(post, path = "/api/{version}/{appid}/leavemessage", operation_id = "leave_message", tag = "leave messages",
    params(
        ("version" = String, Path, description = "`v1` or `v1.0`"),
        ("appid" = String, Path, description = "The app's numeric app_id or its identify, exactly as signed"),
        ("Kefu-Timestamp" = Option<String>, Header, description = "Milliseconds since the epoch, within ±300 s (or the query's `timestamp`)"),
        ("Kefu-Signature" = Option<String>, Header, description = "Lowercase hex SHA-1 of appid + secret + timestamp (or the query's `signature`)"),
        ("timestamp" = Option<String>, Query, description = "The timestamp, as the clients of the original send it, when not in Kefu-Timestamp"),
        ("signature" = Option<String>, Query, description = "The signature, when not in Kefu-Signature"),
        crate::openapi::PreferHeader,
    ),
    request_body(content((LeaveMessage = "application/json"))),
    responses(
        (status = 200, description = "Stored: `{\"errcode\":0,\"errmsg\":\"ok\",\"id\":…}`", body = LeaveAnswer),
        (status = 202, description = "Queued (`Prefer: respond-async`); errcode 0", body = LeaveAnswer),
        (status = 400, description = "10010 a field is missing or invalid (`field` names it); 30001 malformed JSON", body = LeaveAnswer),
        (status = 401, description = "30002 bad signature, 30003 stale timestamp", body = LeaveAnswer),
        (status = 404, description = "30006 unknown appid, 30012 unknown version", body = LeaveAnswer),
        (status = 409, description = "30007 the signature was already used for another message", body = LeaveAnswer),
        (status = 413, description = "30008 body too large", body = LeaveAnswer),
        (status = 415, description = "30009 not JSON", body = LeaveAnswer),
        (status = 429, description = "30010 queue full", body = LeaveAnswer),
        (status = 500, description = "10000 internal", body = LeaveAnswer),
        (status = 503, description = "30011 unavailable", body = LeaveAnswer),
    ),
    security(("leave_signature" = [])))]
#[tracing::instrument(skip_all, fields(appid = %appid.escape_debug()))]
pub async fn create(
    State(state): State<AppState>,
    Path((version, appid)): Path<(String, String)>,
    input: Input,
) -> Response {
    match accept(&state, &version, &appid, &input).await {
        Ok(response) => response,
        Err(err) => error_response(err),
    }
}

async fn accept(state: &AppState, version: &str, appid: &str, input: &RawInput) -> Result<Response, ApiError> {
    if version != "v1" && version != "v1.0" {
        return Err(ApiError::field(
            ErrorCode::NotFound,
            "version",
            "version must be v1 or v1.0",
        ));
    }
    let app = app_of(state, appid).await?;
    let signature = verify(state, input, appid, &app)?;
    if app.disabled_at.is_some() {
        return Err(ApiError::field(ErrorCode::AppDisabled, "appid", "this app is disabled"));
    }
    state.limits.check_app(app.id).map_err(crate::auth::too_frequent)?;
    let body: LeaveMessage = input.parse_body()?;
    let callback = body.callback.0;
    if callback.needs_tel() && body.tel.is_none() {
        return Err(ApiError::field(
            ErrorCode::MissingField,
            "tel",
            format!("tel is required when callback is {}", callback.as_str()),
        ));
    }
    if callback == Callback::Email && body.email.is_none() {
        return Err(ApiError::field(
            ErrorCode::MissingField,
            "email",
            "email is required when callback is email",
        ));
    }
    let user_data = body.user_data.filter(|v| !v.is_null()).map(|v| v.to_string());
    if let Some(data) = &user_data {
        let n = data.chars().count();
        if n > USER_DATA_MAX {
            return Err(ApiError::field(
                ErrorCode::InvalidField,
                "user_data",
                format!("user_data must be at most {USER_DATA_MAX} characters serialized, got {n}"),
            ));
        }
    }
    let id = Uuid::new_v4();
    let mut assigned = Map::new();
    assigned.insert("id".into(), json!(id.to_string()));
    let command = Command::LeaveMessageCreateV1(NewLeaveMessage {
        id,
        app_id: app.id,
        acc_name: app.name.chars().take(50).collect(),
        user_id: body.user_id,
        contact: body.contact,
        callback,
        tel: body.tel,
        email: body.email,
        subject: body.subject,
        content: body.content,
        user_data,
    });
    let key = format!("leave-signature:{signature}");
    let submitted = submit(
        state,
        input,
        &format!("leave:{}", app.id),
        Key::Scoped(&key),
        command,
        assigned,
    )
    .await?;
    let request_id = submitted.id;
    let response = match submitted.answer {
        Answer::Done(Outcome::Ok { body }) => {
            let id = match body {
                Reply::LeaveMessageStored { id } => Some(id),
                _ => None,
            };
            Json(LeaveAnswer {
                errcode: 0,
                errmsg: "ok".into(),
                id,
                field: None,
            })
            .into_response()
        }
        Answer::Done(Outcome::Failed(failure)) => with_status(&failure, Json(failure_body(&failure)).into_response()),
        Answer::Queued { assigned, .. } => {
            let id = assigned.get("id").and_then(Value::as_str).map(str::to_owned);
            let answer = LeaveAnswer {
                errcode: 0,
                errmsg: "accepted".into(),
                id,
                field: None,
            };
            (StatusCode::ACCEPTED, Json(answer)).into_response()
        }
    };
    Ok(with_request_id(response, request_id))
}

/// A leave message as agents read it. Absent strings are `""`.
#[derive(Serialize, ToSchema)]
pub struct LeaveMessageItem {
    pub id: String,
    pub acc_type: String,
    pub acc_name: String,
    pub user_id: String,
    pub contact: String,
    pub callback: String,
    pub tel: String,
    pub email: String,
    pub subject: String,
    pub content: String,
    /// Seconds since the epoch.
    pub create_time: f64,
    /// The JSON the app attached, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Value>,
    pub tag: String,
}

pub(crate) fn item(m: leave_message::Model) -> LeaveMessageItem {
    LeaveMessageItem {
        create_time: m.create_time.timestamp_millis() as f64 / 1000.0,
        user_data: m.user_data.as_deref().and_then(|d| serde_json::from_str(d).ok()),
        id: m.id,
        acc_type: m.acc_type,
        acc_name: m.acc_name,
        user_id: m.user_id.unwrap_or_default(),
        contact: m.contact,
        callback: m.callback,
        tel: m.tel.unwrap_or_default(),
        email: m.email.unwrap_or_default(),
        subject: m.subject,
        content: m.content.unwrap_or_default(),
        tag: m.tag.unwrap_or_default(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct LeaveMessages {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub leavemessages: Vec<LeaveMessageItem>,
}

#[derive(Serialize, ToSchema)]
pub struct LeaveMessageOne {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub leavemessage: LeaveMessageItem,
}

/// GET /v1/leavemessages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaveMessagesQuery {
    #[param(inline)]
    pub page: Option<PageNo>,
    #[param(inline)]
    pub num: Option<PageSize>,
    /// The last id of the previous page (cursor; `page` is then ignored).
    pub id: Option<Uuid>,
    /// Newest first by default.
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// Only this app (APP包名).
    #[param(inline)]
    pub identify: Option<kefu_common::domain::Identify>,
    /// Only this callback method.
    #[param(inline)]
    pub callback: Option<CallbackField>,
    /// Created at or after (seconds since the epoch).
    #[param(inline)]
    pub since: Option<crate::requests::EpochSecs>,
    /// Created before (seconds since the epoch).
    #[param(inline)]
    pub until: Option<crate::requests::EpochSecs>,
    /// Only messages with this tag; `""` for untagged ones.
    pub tag: Option<String>,
    /// Only messages whose subject or content contains this text.
    #[param(inline)]
    pub q: Option<kefu_common::domain::Keyword>,
}

/// The leave messages of the apps the bound agent serves, newest first.
#[utoipa::path(get, path = "/v1/leavemessages", operation_id = "leave_messages", tag = "leave messages",
    params(LeaveMessagesQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Leave messages", body = LeaveMessages), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Valid(query): Valid<LeaveMessagesQuery>,
) -> Result<Json<LeaveMessages>, ApiError> {
    let apps = agent_apps(&state, &caller, query.identify.as_ref()).await?;
    listed(&state, apps, &query).await.map(Json)
}

/// A page of the leave messages of `apps` (the caller's apps, already narrowed).
pub(crate) async fn listed(
    state: &AppState,
    apps: Vec<i64>,
    query: &LeaveMessagesQuery,
) -> Result<LeaveMessages, ApiError> {
    let secs = |field: &str, v: i64| {
        chrono::DateTime::from_timestamp(v, 0)
            .ok_or_else(|| ApiError::field(ErrorCode::InvalidField, field, format!("{field} is out of range")))
    };
    let num = query.num.map_or(20, |n| n.get());
    let filter = store::LeaveFilter {
        app_ids: apps,
        callback: query.callback.map(|c| c.0.as_str().to_owned()),
        since: query.since.map(|v| secs("since", v.0)).transpose()?,
        until: query.until.map(|v| secs("until", v.0)).transpose()?,
        tag: query.tag.clone(),
        keyword: query.q.as_ref().map(|k| k.to_string()),
        cursor: query.id.map(|id| id.to_string()),
        newest_first: !matches!(query.sort.map(|s| s.is_asc()), Some(true)),
        offset: if query.id.is_some() {
            0
        } else {
            query.page.map_or(0, |p| p.get()) * num
        },
        limit: num,
    };
    let rows = store::leave_messages(&state.db, &filter).await?;
    Ok(LeaveMessages {
        status: 200,
        leavemessages: rows.into_iter().map(item).collect(),
    })
}

/// The message if one of `apps` received it; otherwise as if there were none.
pub(crate) async fn find_in(
    state: &AppState,
    apps: Option<&[i64]>,
    raw: &str,
) -> Result<leave_message::Model, ApiError> {
    let unknown = || ApiError::field(ErrorCode::UnknownLeaveMessage, "id", "no such leave message");
    let id = Uuid::parse_str(raw)
        .map_err(|_| ApiError::field(ErrorCode::InvalidField, "id", "id must be a UUID"))?
        .to_string();
    match store::leave_message(&state.db, &id).await? {
        Some((message, app_id)) if apps.is_none_or(|apps| apps.contains(&app_id)) => Ok(message),
        _ => Err(unknown()),
    }
}

/// The message if the bound agent serves its app; otherwise as if there were none.
async fn visible(state: &AppState, caller: &Caller, raw: &str) -> Result<leave_message::Model, ApiError> {
    let serv_id = caller.bound_agent()?;
    let apps = store::agent_app_ids(&state.db, &serv_id).await?;
    find_in(state, Some(&apps), raw).await
}

/// One leave message.
#[utoipa::path(get, path = "/v1/leavemessage/{id}", operation_id = "leave_message_show", tag = "leave messages",
    params(("id" = Uuid, Path, description = "The message's UUID"), crate::openapi::SessionQuery),
    responses((status = 200, description = "The message", body = LeaveMessageOne), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Json<LeaveMessageOne>, ApiError> {
    let message = visible(&state, &caller, &id).await?;
    Ok(Json(LeaveMessageOne {
        status: 200,
        leavemessage: item(message),
    }))
}

/// POST /v1/leavemessage/<id>/tag.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TagRequest {
    /// 用户session of the agent's bound device.
    #[schema(value_type = Option<kefu_common::domain::SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<serde::de::IgnoredAny>,
    /// The tag (e.g. "called back"), 1–45 characters; absent or `""` clears it.
    #[serde(default, deserialize_with = "empty_as_none")]
    #[schema(value_type = Option<Tag>)]
    pub tag: Option<Tag>,
}

/// Sets or clears a leave message's tag.
#[utoipa::path(post, path = "/v1/leavemessage/{id}/tag", operation_id = "leave_message_tag", tag = "leave messages",
    params(("id" = Uuid, Path, description = "The message's UUID"), crate::openapi::CommandHeaders),
    request_body(content(
        (TagRequest = "application/json"),
        (TagRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Tagged", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
pub async fn tag(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<TagRequest>,
) -> Result<Response, ApiError> {
    let message = visible(&state, &caller, &id).await?;
    let serv_id = kefu_common::domain::ServId::parse(&caller.bound_agent()?)
        .map_err(|e| ApiError::Internal(format!("stored serv_id: {e}")))?;
    let id = Uuid::parse_str(&message.id).map_err(|e| ApiError::Internal(format!("stored leave message id: {e}")))?;
    let command = Command::LeaveMessageTagV1 {
        id,
        serv_id,
        tag: req.tag,
    };
    dispatch(&state, &input, caller.token.as_str(), command, Map::new()).await
}
