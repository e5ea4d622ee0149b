//! The operators' API under `/admin/v1`, behind `Authorization: Bearer <KEFU_ADMIN_TOKEN>`
//! (unset: off, every path answers 404): apps, agents, sessions (through the same
//! service functions as `kefu admin`), and leave messages as agents see them but across
//! every app.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use kefu_common::command::Command;
use kefu_common::domain::{AppName, Identify, NewPassword, ServId, SessionToken, Url, UserId};
use kefu_common::operators::{self, AgentView, AppView, AppWithSecret, OperatorError};
use kefu_common::outcome::ErrorCode;
use kefu_common::store;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dispatch::dispatch;
use crate::input::{Input, Valid};
use crate::routes::leave::{find_in, item, listed, LeaveMessageOne, LeaveMessages, LeaveMessagesQuery, TagRequest};
use crate::{ApiError, AppState};

/// An operator, by the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.config.admin_token else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no such endpoint (the admin API is off)",
            ));
        };
        // An address that sent too many wrong tokens is not even checked.
        let source = crate::auth::client_address(parts, &state.trusted_proxies);
        let logins = &state.limits.logins;
        if let Some(lock) = logins.admin_refused(&state.db, source).await? {
            let wait = ((lock.until_ms - kefu_common::now_ms()).max(0) as u64)
                .div_ceil(1000)
                .max(1);
            return Err(ApiError::TooFrequent(wait));
        }
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(Admin)
        } else {
            tracing::warn!(source = ?source, "admin API: wrong or missing admin token");
            logins.admin_failed(&state.db, source).await?;
            Err(ApiError::new(ErrorCode::BadAdminToken, "admin token missing or wrong"))
        }
    }
}

/// Leave messages of every app (or of `identify`).
#[utoipa::path(get, path = "/admin/v1/leavemessages", operation_id = "admin_leave_messages", tag = "admin",
    params(LeaveMessagesQuery),
    responses((status = 200, description = "Leave messages", body = LeaveMessages), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all)]
pub async fn leave_messages(
    State(state): State<AppState>,
    _: Admin,
    Valid(query): Valid<LeaveMessagesQuery>,
) -> Result<Json<LeaveMessages>, ApiError> {
    let apps = match &query.identify {
        Some(identify) => store::app_by_identify(&state.db, identify.as_str())
            .await?
            .map(|a| vec![a.id])
            .unwrap_or_default(),
        None => store::app_ids(&state.db).await?,
    };
    listed(&state, apps, &query).await.map(Json)
}

/// One leave message.
#[utoipa::path(get, path = "/admin/v1/leavemessage/{id}", operation_id = "admin_leave_message", tag = "admin",
    params(("id" = Uuid, Path, description = "The message's UUID")),
    responses((status = 200, description = "The message", body = LeaveMessageOne), crate::openapi::Errors),
    security(("admin" = [])))]
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
pub async fn leave_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
) -> Result<Json<LeaveMessageOne>, ApiError> {
    let message = find_in(&state, None, &id).await?;
    Ok(Json(LeaveMessageOne {
        status: 200,
        leavemessage: item(message),
    }))
}

/// Sets or clears a leave message's tag.
#[utoipa::path(post, path = "/admin/v1/leavemessage/{id}/tag", operation_id = "admin_leave_message_tag", tag = "admin",
    params(("id" = Uuid, Path, description = "The message's UUID"), crate::openapi::CommandHeaders),
    request_body(content((TagRequest = "application/json"), (TagRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Tagged", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("admin" = [])))]
#[tracing::instrument(skip_all, fields(id = %id.escape_debug()))]
pub async fn tag_leave_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Admin,
    input: Input,
    Valid(req): Valid<TagRequest>,
) -> Result<Response, ApiError> {
    let message = find_in(&state, None, &id).await?;
    let id = Uuid::parse_str(&message.id).map_err(|e| ApiError::Internal(format!("stored leave message id: {e}")))?;
    let command = Command::LeaveMessageTagByAdminV1 { id, tag: req.tag };
    dispatch(&state, &input, "admin", command, Map::new()).await
}

// ---- apps, agents, sessions -------------------------------------------------------

/// An http(s) URL, or `""` for none (the built-in default).
#[derive(Debug, Clone)]
pub struct OptionalUrl(pub Option<Url>);

impl<'de> Deserialize<'de> for OptionalUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.is_empty() {
            return Ok(OptionalUrl(None));
        }
        Url::parse(&raw)
            .map(|u| OptionalUrl(Some(u)))
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewApp {
    identify: Identify,
    /// Display name; default: the identify.
    #[serde(default)]
    name: Option<AppName>,
    /// Avatar of the app's users without one (http or https URL).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    default_avatar_url: Option<OptionalUrl>,
}

#[derive(Deserialize, ToSchema)]
pub struct AppChanges {
    #[serde(default)]
    name: Option<AppName>,
    /// `""` returns to the built-in default.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    default_avatar_url: Option<OptionalUrl>,
    /// Disable (true) or enable (false) the app.
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewAgent {
    serv_id: ServId,
    password: NewPassword,
    /// The identifies of the apps it serves (at least one).
    apps: AppList,
}

#[derive(Deserialize, ToSchema)]
pub struct AgentChanges {
    #[serde(default)]
    password: Option<NewPassword>,
    #[serde(default)]
    apps: Option<AppList>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct AgentPassword {
    password: NewPassword,
}

#[derive(Deserialize, ToSchema)]
pub struct AgentApps {
    apps: AppList,
}

/// 1–100 app identifies.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "Vec<Identify>")]
#[schema(value_type = Vec<String>, min_items = 1, max_items = 100)]
pub struct AppList(Vec<Identify>);

impl TryFrom<Vec<Identify>> for AppList {
    type Error = String;
    fn try_from(v: Vec<Identify>) -> Result<Self, String> {
        if v.is_empty() || v.len() > 100 {
            return Err(format!("must name 1 to 100 apps, got {}", v.len()));
        }
        Ok(AppList(v))
    }
}

/// One of: `session`; `identify` with `user_id`; `serv_id` (its device bindings).
#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    session: Option<SessionToken>,
    #[serde(default)]
    identify: Option<Identify>,
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    serv_id: Option<ServId>,
}

#[derive(Serialize, ToSchema)]
pub struct AppAnswer {
    status: u16,
    #[serde(flatten)]
    app: AppView,
}

#[derive(Serialize, ToSchema)]
pub struct AppSecretAnswer {
    status: u16,
    #[serde(flatten)]
    app: AppWithSecret,
}

#[derive(Serialize, ToSchema)]
pub struct AppsAnswer {
    status: u16,
    apps: Vec<AppView>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentAnswer {
    status: u16,
    #[serde(flatten)]
    agent: AgentView,
}

#[derive(Serialize, ToSchema)]
pub struct AgentsAnswer {
    status: u16,
    agents: Vec<AgentView>,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedAnswer {
    status: u16,
    /// Sessions (or bindings) ended.
    revoked: u64,
}

impl From<OperatorError> for ApiError {
    fn from(err: OperatorError) -> Self {
        match err {
            OperatorError::UnknownApp(_) => ApiError::field(ErrorCode::UnknownApp, "identify", err.to_string()),
            OperatorError::UnknownAgent(_) => ApiError::field(ErrorCode::UnknownAgent, "serv_id", err.to_string()),
            OperatorError::AlreadyExists(_) => ApiError::new(ErrorCode::AlreadyExists, err.to_string()),
            OperatorError::Db(err) => err.into(),
            OperatorError::Hash(err) => ApiError::Internal(format!("password hashing: {err}")),
        }
    }
}

/// The app in the path: its numeric `app_id` or its identify.
async fn app_key(state: &AppState, raw: &str) -> Result<Identify, ApiError> {
    if let Ok(id) = raw.parse::<i64>() {
        return match store::app_by_id(&state.db, id).await? {
            Some(app) => {
                Identify::parse(&app.identify).map_err(|e| ApiError::Internal(format!("stored identify: {e}")))
            }
            None => Err(ApiError::field(
                ErrorCode::UnknownApp,
                "app",
                format!("no app with app_id {id}"),
            )),
        };
    }
    Identify::parse(raw).map_err(|e| ApiError::field(ErrorCode::InvalidField, "app", format!("app {e}")))
}

pub(crate) fn serv_key(raw: &str) -> Result<ServId, ApiError> {
    ServId::parse(raw).map_err(|e| ApiError::field(ErrorCode::InvalidField, "serv_id", format!("serv_id {e}")))
}

fn app_answer(app: AppView) -> Json<AppAnswer> {
    Json(AppAnswer { status: 200, app })
}

pub(crate) fn agent_answer(agent: AgentView) -> Json<AgentAnswer> {
    Json(AgentAnswer { status: 200, agent })
}

/// Every app.
#[utoipa::path(get, path = "/admin/v1/apps", operation_id = "admin_apps", tag = "admin",
    responses((status = 200, description = "The apps", body = AppsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn apps(State(state): State<AppState>, _: Admin) -> Result<Json<AppsAnswer>, ApiError> {
    Ok(Json(AppsAnswer {
        status: 200,
        apps: operators::list_apps(&state.db).await?,
    }))
}

/// Creates an app; the answer is the only time its secret is shown (but rotate_secret).
#[utoipa::path(post, path = "/admin/v1/apps", operation_id = "admin_app_create", tag = "admin",
    request_body(content((NewApp = "application/json"), (NewApp = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The app and its secret", body = AppSecretAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_app(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<NewApp>,
) -> Result<Json<AppSecretAnswer>, ApiError> {
    let avatar = req.default_avatar_url.and_then(|u| u.0);
    let app = operators::create_app(&state.db, &req.identify, req.name.as_ref(), avatar.as_ref()).await?;
    tracing::info!(identify = %req.identify.as_str().escape_debug(), "admin: app created");
    Ok(Json(AppSecretAnswer { status: 200, app }))
}

/// One app, by `app_id` or identify.
#[utoipa::path(get, path = "/admin/v1/apps/{app}", operation_id = "admin_app", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = AppAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AppAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    Ok(app_answer(operators::get_app(&state.db, &identify).await?))
}

/// Changes an app: name, default avatar, disabled.
#[utoipa::path(patch, path = "/admin/v1/apps/{app}", operation_id = "admin_app_update", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((AppChanges = "application/json"), (AppChanges = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The app", body = AppAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn update_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AppChanges>,
) -> Result<Json<AppAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let avatar = req.default_avatar_url.map(|u| u.0);
    let mut view = operators::update_app(
        &state.db,
        &identify,
        req.name.as_ref(),
        avatar.as_ref().map(Option::as_ref),
    )
    .await?;
    if let Some(disabled) = req.disabled {
        view = operators::set_app_disabled(&state.db, &identify, disabled).await?;
    }
    Ok(app_answer(view))
}

/// Disables an app: its sessions and signed calls answer 30018.
#[utoipa::path(post, path = "/admin/v1/apps/{app}/disable", operation_id = "admin_app_disable", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = AppAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AppAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: app disabled");
    Ok(app_answer(
        operators::set_app_disabled(&state.db, &identify, true).await?,
    ))
}

/// Enables a disabled app.
#[utoipa::path(post, path = "/admin/v1/apps/{app}/enable", operation_id = "admin_app_enable", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app", body = AppAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_app(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AppAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    Ok(app_answer(
        operators::set_app_disabled(&state.db, &identify, false).await?,
    ))
}

/// A new signing secret (the old one is refused from now on).
#[utoipa::path(post, path = "/admin/v1/apps/{app}/rotate_secret", operation_id = "admin_app_rotate_secret", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app and its new secret", body = AppSecretAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AppSecretAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: app secret rotated");
    Ok(Json(AppSecretAnswer {
        status: 200,
        app: operators::rotate_app_secret(&state.db, &identify).await?,
    }))
}

/// Every agent with the apps it serves.
#[utoipa::path(get, path = "/admin/v1/agents", operation_id = "admin_agents", tag = "admin",
    responses((status = 200, description = "The agents", body = AgentsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agents(State(state): State<AppState>, _: Admin) -> Result<Json<AgentsAnswer>, ApiError> {
    Ok(Json(AgentsAnswer {
        status: 200,
        agents: operators::list_agents(&state.db).await?,
    }))
}

/// Creates an agent serving the given apps.
#[utoipa::path(post, path = "/admin/v1/agents", operation_id = "admin_agent_create", tag = "admin",
    request_body(content((NewAgent = "application/json"))),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_agent(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<NewAgent>,
) -> Result<Json<AgentAnswer>, ApiError> {
    let view = operators::create_agent(&state.db, &req.serv_id, &req.password, &req.apps.0).await?;
    tracing::info!(serv_id = %req.serv_id.as_str().escape_debug(), "admin: agent created");
    Ok(agent_answer(view))
}

/// One agent.
#[utoipa::path(get, path = "/admin/v1/agents/{serv_id}", operation_id = "admin_agent", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AgentAnswer>, ApiError> {
    Ok(agent_answer(operators::get_agent(&state.db, &serv_key(&raw)?).await?))
}

/// Changes an agent: password (unbinds its devices), apps, disabled.
#[utoipa::path(patch, path = "/admin/v1/agents/{serv_id}", operation_id = "admin_agent_update", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentChanges = "application/json"))),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn update_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentChanges>,
) -> Result<Json<AgentAnswer>, ApiError> {
    let serv_id = serv_key(&raw)?;
    let mut view = operators::get_agent(&state.db, &serv_id).await?;
    if let Some(apps) = &req.apps {
        view = operators::set_agent_apps(&state.db, &serv_id, &apps.0).await?;
    }
    if let Some(password) = &req.password {
        view = operators::set_agent_password(&state.db, &serv_id, password).await?;
    }
    if let Some(disabled) = req.disabled {
        view = operators::set_agent_disabled(&state.db, &serv_id, disabled).await?;
    }
    Ok(agent_answer(view))
}

/// Disables an agent: it cannot bind, its bound devices answer 30019.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/disable", operation_id = "admin_agent_disable", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AgentAnswer>, ApiError> {
    let serv_id = serv_key(&raw)?;
    tracing::info!(serv_id = %serv_id.as_str().escape_debug(), "admin: agent disabled");
    Ok(agent_answer(
        operators::set_agent_disabled(&state.db, &serv_id, true).await?,
    ))
}

/// Enables a disabled agent.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/enable", operation_id = "admin_agent_enable", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<AgentAnswer>, ApiError> {
    Ok(agent_answer(
        operators::set_agent_disabled(&state.db, &serv_key(&raw)?, false).await?,
    ))
}

/// Sets an agent's password; its bound devices are unbound.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/password", operation_id = "admin_agent_password", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentPassword = "application/json"), (AgentPassword = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent_password(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentPassword>,
) -> Result<Json<AgentAnswer>, ApiError> {
    let serv_id = serv_key(&raw)?;
    Ok(agent_answer(
        operators::set_agent_password(&state.db, &serv_id, &req.password).await?,
    ))
}

/// Replaces the apps an agent serves.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/apps", operation_id = "admin_agent_apps", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentApps = "application/json"))),
    responses((status = 200, description = "The agent", body = AgentAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent_apps(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentApps>,
) -> Result<Json<AgentAnswer>, ApiError> {
    let serv_id = serv_key(&raw)?;
    Ok(agent_answer(
        operators::set_agent_apps(&state.db, &serv_id, &req.apps.0).await?,
    ))
}

/// Ends sessions: one `session`; every session of a user (`identify` + `user_id`); or
/// every device binding of an agent (`serv_id`).
#[utoipa::path(post, path = "/admin/v1/sessions/revoke", operation_id = "admin_sessions_revoke", tag = "admin",
    request_body(content((RevokeRequest = "application/json"), (RevokeRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "How many ended", body = RevokedAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<RevokeRequest>,
) -> Result<Json<RevokedAnswer>, ApiError> {
    let revoked = match (req.session, req.identify, req.user_id, req.serv_id) {
        (Some(session), None, None, None) => operators::revoke_session(&state.db, &session).await?,
        (None, Some(identify), Some(user_id), None) => {
            operators::revoke_user_sessions(&state.db, &identify, &user_id).await?
        }
        (None, None, None, Some(serv_id)) => operators::revoke_agent_bindings(&state.db, &serv_id).await?,
        _ => {
            return Err(ApiError::field(
                ErrorCode::MissingField,
                "session",
                "give session, or identify with user_id, or serv_id",
            ))
        }
    };
    tracing::info!(revoked, "admin: sessions revoked");
    Ok(Json(RevokedAnswer { status: 200, revoked }))
}

/// Ends one session (and its binding).
#[utoipa::path(delete, path = "/admin/v1/sessions/{session}", operation_id = "admin_session_delete", tag = "admin",
    params(("session" = String, Path, description = "The 12-character session", pattern = "^[A-Za-z0-9]{12}$")),
    responses((status = 200, description = "How many ended (0 or 1)", body = RevokedAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn delete_session(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<RevokedAnswer>, ApiError> {
    let token = SessionToken::parse(&raw)
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "session", format!("session {e}")))?;
    Ok(Json(RevokedAnswer {
        status: 200,
        revoked: operators::revoke_session(&state.db, &token).await?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLettersQuery {
    /// Only this queue's (`commands`).
    #[serde(default)]
    queue: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLettersAnswer {
    status: u16,
    dead_letters: Vec<kefu_common::dead_letters::DeadLetterView>,
}

/// `id`, or `queue` with `all: true`.
#[derive(Deserialize, ToSchema)]
pub struct RedriveRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RedrivenAnswer {
    status: u16,
    redriven: u64,
}

/// Messages a queue gave up on, with reason and attempts.
#[utoipa::path(get, path = "/admin/v1/dead-letters", operation_id = "admin_dead_letters", tag = "admin",
    params(DeadLettersQuery),
    responses((status = 200, description = "The dead letters", body = DeadLettersAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn dead_letters(
    State(state): State<AppState>,
    _: Admin,
    Valid(query): Valid<DeadLettersQuery>,
) -> Result<Json<DeadLettersAnswer>, ApiError> {
    Ok(Json(DeadLettersAnswer {
        status: 200,
        dead_letters: kefu_common::dead_letters::list(&state.db, query.queue.as_deref()).await?,
    }))
}

/// Puts dead letters back on their queue: one (`id`) or all (of `queue`) with `all`.
#[utoipa::path(post, path = "/admin/v1/dead-letters/redrive", operation_id = "admin_dead_letters_redrive", tag = "admin",
    request_body(content((RedriveRequest = "application/json"))),
    responses((status = 200, description = "How many went back", body = RedrivenAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn redrive(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<RedriveRequest>,
) -> Result<Json<RedrivenAnswer>, ApiError> {
    use kefu_common::dead_letters::DeadLetterError;
    if req.id.is_none() && !req.all {
        return Err(ApiError::field(
            ErrorCode::MissingField,
            "id",
            "give id, or all: true (with an optional queue)",
        ));
    }
    let redriven =
        match kefu_common::dead_letters::redrive(&state.db, &state.broker, req.id.as_deref(), req.queue.as_deref())
            .await
        {
            Ok(n) => n,
            Err(DeadLetterError::Unknown(id)) => {
                return Err(ApiError::field(
                    ErrorCode::NotFound,
                    "id",
                    format!("no dead letter {id}"),
                ))
            }
            Err(DeadLetterError::Db(err)) => return Err(err.into()),
            Err(DeadLetterError::Broker(err)) => return Err(ApiError::Broker(err)),
        };
    Ok(Json(RedrivenAnswer { status: 200, redriven }))
}

/// A duration: seconds as a number, or a string like `90s`, `10m`, `24h`; 0 is off.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct DurationField(u64);

impl TryFrom<serde_json::Value> for DurationField {
    type Error = kefu_common::domain::Invalid;
    fn try_from(v: serde_json::Value) -> Result<Self, Self::Error> {
        use kefu_common::timeouts::{parse_duration, MAX_SECS};
        let invalid = || kefu_common::domain::Invalid("seconds, or a duration like \"90s\", \"10m\", \"24h\"".into());
        match v {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(secs) if secs <= MAX_SECS => Ok(DurationField(secs)),
                Some(_) => Err(kefu_common::domain::Invalid(format!("at most 30 days ({MAX_SECS} s)"))),
                None => Err(invalid()),
            },
            serde_json::Value::String(s) => parse_duration(&s).map(DurationField),
            _ => Err(invalid()),
        }
    }
}

impl utoipa::PartialSchema for DurationField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(kefu_common::timeouts::MAX_SECS as f64)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(32))
                    .examples(["10m"]),
            )
            .description(Some("Seconds, or a duration like 90s, 10m, 24h; 0 is off"))
            .into()
    }
}
impl utoipa::ToSchema for DurationField {}

/// Changes to an app's question timeouts; the ones left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsRequest {
    /// No user reply to the agent's latest counting message for this long.
    #[serde(default)]
    user_reply: Option<DurationField>,
    /// Waiting for an agent this long.
    #[serde(default)]
    wait: Option<DurationField>,
    /// After the agent's end request, finished unless the user replies or reopens.
    #[serde(default)]
    end_confirm: Option<DurationField>,
}

#[derive(Serialize, ToSchema)]
pub struct TimeoutsAnswer {
    status: u16,
    #[serde(flatten)]
    timeouts: kefu_common::operators::TimeoutsView,
}

/// Sets the app's question timeouts; its open questions' deadlines follow at once.
#[utoipa::path(put, path = "/admin/v1/apps/{app}/timeouts", operation_id = "admin_app_set_timeouts", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((TimeoutsRequest = "application/json"))),
    responses((status = 200, description = "The app's timeouts now", body = TimeoutsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_timeouts(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<TimeoutsRequest>,
) -> Result<Json<TimeoutsAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let change = kefu_common::timeouts::TimeoutsChange {
        user_reply_secs: req.user_reply.map(|d| d.0),
        wait_secs: req.wait.map(|d| d.0),
        end_confirm_secs: req.end_confirm.map(|d| d.0),
    };
    let defaults = kefu_common::timeouts::Timeouts::defaults(&state.config);
    let timeouts = operators::set_timeouts(&state.db, &identify, change, &defaults).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), ?timeouts, "admin: timeouts set");
    Ok(Json(TimeoutsAnswer { status: 200, timeouts }))
}

/// The app's question timeouts (its own, else the configured defaults).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/timeouts", operation_id = "admin_app_timeouts", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app's timeouts", body = TimeoutsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_timeouts(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<TimeoutsAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let defaults = kefu_common::timeouts::Timeouts::defaults(&state.config);
    let timeouts = operators::get_timeouts(&state.db, &identify, &defaults).await?;
    Ok(Json(TimeoutsAnswer { status: 200, timeouts }))
}

/// A new webhook endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where the CloudEvents are POSTed (http or https).
    url: Url,
    /// Event-type patterns: `kefu.question.*`, `kefu.message.created`, `#` for all.
    #[schema(min_items = 1, max_items = 50)]
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    status: u16,
    #[serde(flatten)]
    endpoint: kefu_common::webhooks::EndpointView,
}

#[derive(Serialize, ToSchema)]
pub struct WebhooksAnswer {
    status: u16,
    endpoints: Vec<kefu_common::webhooks::EndpointView>,
}

/// Creates a webhook endpoint of the app; answers it with its `whsec_` secret (shown
/// only now and on rotation).
#[utoipa::path(post, path = "/admin/v1/apps/{app}/webhooks", operation_id = "admin_webhook_create", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((WebhookRequest = "application/json"))),
    responses((status = 200, description = "The endpoint, with its secret", body = WebhookAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<WebhookRequest>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    if req.events.is_empty() || req.events.len() > 50 {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "events",
            "give 1 to 50 patterns",
        ));
    }
    let events = req
        .events
        .iter()
        .map(|e| kefu_common::webhooks::event_pattern(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::field(ErrorCode::InvalidField, "events", e.0))?;
    let endpoint = kefu_common::webhooks::create(&state.db, app.app_id, req.url.as_str(), &events).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), endpoint = %endpoint.id, "admin: webhook endpoint created");
    Ok(Json(WebhookAnswer { status: 200, endpoint }))
}

/// The app's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/webhooks", operation_id = "admin_webhooks", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The endpoints", body = WebhooksAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<WebhooksAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    let endpoints = kefu_common::webhooks::list(&state.db, Some(app.app_id)).await?;
    Ok(Json(WebhooksAnswer { status: 200, endpoints }))
}

async fn webhook_change(state: &AppState, id: &str, change: &str) -> Result<Json<WebhookAnswer>, ApiError> {
    use kefu_common::webhooks;
    let changed = match change {
        "disable" => webhooks::set_disabled(&state.db, id, true).await?,
        "enable" => webhooks::set_disabled(&state.db, id, false).await?,
        _ => webhooks::rotate_secret(&state.db, id).await?,
    };
    let endpoint = changed.ok_or_else(|| ApiError::field(ErrorCode::NotFound, "id", "no such webhook endpoint"))?;
    tracing::info!(endpoint = %endpoint.id, change, "admin: webhook endpoint changed");
    Ok(Json(WebhookAnswer { status: 200, endpoint }))
}

/// Stops sending to a webhook endpoint.
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/disable", operation_id = "admin_webhook_disable", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint", body = WebhookAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    webhook_change(&state, &id, "disable").await
}

/// Sends to a disabled webhook endpoint again.
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/enable", operation_id = "admin_webhook_enable", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint", body = WebhookAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    webhook_change(&state, &id, "enable").await
}

/// A new signing secret for a webhook endpoint (answered; the old one stops at once).
#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/rotate_secret", operation_id = "admin_webhook_rotate_secret", tag = "admin",
    params(("id" = String, Path, description = "The endpoint's id (ep_…)")),
    responses((status = 200, description = "The endpoint, with its new secret", body = WebhookAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    webhook_change(&state, &id, "rotate").await
}

/// The app's push endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Where the push payloads are POSTed (http or https), signed like webhooks.
    url: Url,
}

#[derive(Serialize, ToSchema)]
pub struct PushAnswer {
    status: u16,
    #[serde(flatten)]
    push: kefu_common::webhooks::PushView,
}

/// Sets the app's push endpoint (a new signing secret, answered once).
#[utoipa::path(put, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_set_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((PushRequest = "application/json"))),
    responses((status = 200, description = "The endpoint, with its secret", body = PushAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<PushRequest>,
) -> Result<Json<PushAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    let push = kefu_common::webhooks::set_push(&state.db, app.app_id, req.url.as_str()).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: push endpoint set");
    Ok(Json(PushAnswer { status: 200, push }))
}

/// The app's push endpoint (404 `not_found` when it has none).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The endpoint (never the secret)", body = PushAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<PushAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    match kefu_common::webhooks::get_push(&state.db, app.app_id).await? {
        Some(push) => Ok(Json(PushAnswer { status: 200, push })),
        None => Err(ApiError::new(ErrorCode::NotFound, "this app has no push endpoint")),
    }
}

/// Removes the app's push endpoint.
#[utoipa::path(delete, path = "/admin/v1/apps/{app}/push", operation_id = "admin_app_clear_push", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "Removed", body = crate::views::Done), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn clear_push(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let app = operators::get_app(&state.db, &identify).await?;
    kefu_common::webhooks::clear_push(&state.db, app.app_id).await?;
    Ok(Json(serde_json::json!({ "status": 200 })))
}

/// An app's IM settings.
#[derive(Deserialize, ToSchema)]
pub struct ImSettingsRequest {
    /// Default: https://console.tim.qq.com.
    #[serde(default)]
    base_url: Option<Url>,
    sdkappid: u32,
    identifier: kefu_common::domain::ImAccount,
    secret_key: kefu_common::domain::ImSecretKey,
    from_account: kefu_common::domain::ImAccount,
}

#[derive(Serialize, ToSchema)]
pub struct ImSettingsAnswer {
    status: u16,
    #[serde(flatten)]
    im: kefu_common::operators::ImSettingsView,
}

/// Sets the app's Tencent Cloud IM settings (agents' replies are then delivered to its
/// users' IM).
#[utoipa::path(put, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_set_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((ImSettingsRequest = "application/json"))),
    responses((status = 200, description = "The settings (never the key)", body = ImSettingsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<ImSettingsRequest>,
) -> Result<Json<ImSettingsAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let settings = operators::ImSettings {
        base_url: req.base_url,
        sdkappid: req.sdkappid,
        identifier: req.identifier,
        secret_key: req.secret_key,
        from_account: req.from_account,
    };
    let im = operators::set_im(&state.db, &identify, settings).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), "admin: IM settings set");
    Ok(Json(ImSettingsAnswer { status: 200, im }))
}

/// The app's IM settings (404 `not_found` when it has none).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The settings (never the key)", body = ImSettingsAnswer), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<ImSettingsAnswer>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    match operators::get_im(&state.db, &identify).await? {
        Some(im) => Ok(Json(ImSettingsAnswer { status: 200, im })),
        None => Err(ApiError::new(ErrorCode::NotFound, "this app has no IM settings")),
    }
}

/// Removes the app's IM settings: no more IM deliveries.
#[utoipa::path(delete, path = "/admin/v1/apps/{app}/im", operation_id = "admin_app_clear_im", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "Removed", body = crate::views::Done), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn clear_im(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    operators::clear_im(&state.db, &identify).await?;
    Ok(Json(serde_json::json!({ "status": 200 })))
}
