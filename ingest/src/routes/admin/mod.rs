//! The operators' API under `/admin/v1`, behind `Authorization: Bearer <KEFU_ADMIN_TOKEN>`
//! (unset: off, every path answers 404): apps, agents, sessions (through the same
//! service functions as `kefu admin`), and leave messages as agents see them but across
//! every app.

use crate::views::Answer;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use kefu_common::domain::command::Command;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::domain::secret::ExposeSecret;
use kefu_common::domain::{AppName, Identify, NewPassword, ServId, SessionToken, Url, UserId};
use kefu_common::store;
use kefu_common::store::operators::{self, AgentView, AppView, AppWithSecret, OperatorError};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dispatch::dispatch;
use crate::input::{Input, Valid};
use crate::routes::leave::{find_in, item, listed, LeaveMessageOne, LeaveMessages, LeaveMessagesQuery, TagRequest};
use crate::{ApiError, AppState};

mod agents;
mod apps;
mod dead_letters;
mod im;
mod leave;
mod push;
mod questions;
mod routing;
mod sessions;
mod timeouts;
mod webhooks;

pub use agents::*;
pub use apps::*;
pub use dead_letters::*;
pub use im::*;
pub use leave::*;
pub use push::*;
pub use questions::*;
pub use routing::*;
pub use sessions::*;
pub use timeouts::*;
pub use webhooks::*;

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
        if bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            Ok(Admin)
        } else {
            tracing::warn!(source = ?source, "admin API: wrong or missing admin token");
            logins.admin_failed(&state.db, source).await?;
            Err(ApiError::new(ErrorCode::BadAdminToken, "admin token missing or wrong"))
        }
    }
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
    /// Ask users for a rating after a question is finished (notification action 8).
    #[serde(default)]
    ask_rating: Option<bool>,
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
    /// Serving questions it may hold at once; 0: no limit.
    #[serde(default)]
    max_concurrent: Option<u32>,
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
pub struct AppsAnswer {
    apps: Vec<AppView>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentsAnswer {
    agents: Vec<AgentView>,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedAnswer {
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

fn app_answer(app: AppView) -> Json<Answer<AppView>> {
    Answer::ok(app)
}

pub(crate) fn agent_answer(agent: AgentView) -> Json<Answer<AgentView>> {
    Answer::ok(agent)
}
