//! Who is calling, as extractors so a handler cannot forget to ask: [`Caller`] (a valid
//! session: a user, or an agent's bound device), [`Signed`] (an app's signed call); plus
//! agent bindings and agent passwords.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use kefu_common::domain::command::Actor;
use kefu_common::domain::outcome::{ErrorCode, Failure};
use kefu_common::domain::secret::ExposeSecret;
use kefu_common::domain::{Password, ServId, SessionToken, UserId};
use kefu_common::now_ms;
use kefu_common::store::entity::app;
use kefu_common::store::login_locks::{Lock, Scope};
use kefu_common::store::{self, SessionInfo};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

use crate::input::{Input, RawInput};
use crate::requests::SignedApp;
use crate::{ApiError, AppState};

/// The caller behind a valid, unexpired session: `session` in the body or query, else
/// `Authorization: Bearer <session>`, else the console's cookie (`crate::console`).
pub struct Caller {
    pub info: SessionInfo,
    pub token: SessionToken,
}

/// 10038 with `Retry-After`: whole seconds, rounded up.
pub fn too_frequent(wait: Duration) -> ApiError {
    ApiError::TooFrequent(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

fn invalid_session(debug: impl Into<String>) -> ApiError {
    ApiError::field(ErrorCode::InvalidSession, "session", debug)
}

fn session_token(input: &RawInput) -> Result<SessionToken, ApiError> {
    let raw = match input.fields.get("session") {
        None | Some(Value::Null) => match input
            .header(header::AUTHORIZATION.as_str())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            Some(bearer) => bearer.trim().to_owned(),
            None => {
                crate::console::cookie_session(input).unwrap_or_else(|| Err(invalid_session("session is required")))?
            }
        },
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::field(
                ErrorCode::InvalidField,
                "session",
                "session must be a string",
            ))
        }
    };
    SessionToken::parse(&raw).map_err(|e| invalid_session(format!("session {e}")))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let input = Input::from_request_parts(parts, state).await?;
        let token = session_token(&input)?;
        state.limits.check_session(token.as_str()).map_err(too_frequent)?;
        match store::session(&state.db, &token.digest()).await? {
            Some(info) if info.session.expires_at > now_ms() => {
                if info.app_disabled {
                    return Err(ApiError::field(
                        ErrorCode::AppDisabled,
                        "session",
                        "this session's app is disabled",
                    ));
                }
                state.limits.check_app(info.session.app_id).map_err(too_frequent)?;
                Ok(Caller { info, token })
            }
            _ => Err(invalid_session("session is unknown, expired or revoked")),
        }
    }
}

impl Caller {
    /// The session's user, as the actor of a command.
    pub fn user_actor(&self) -> Result<(i64, UserId), ApiError> {
        let user_id = UserId::parse(&self.info.session.user_id)
            .map_err(|e| ApiError::Internal(format!("stored user id: {e}")))?;
        Ok((self.info.session.app_id, user_id))
    }

    pub fn user(&self) -> Result<Actor, ApiError> {
        let (app_id, user_id) = self.user_actor()?;
        Ok(Actor::User { app_id, user_id })
    }

    /// The session must be bound (serv/bind) to this agent.
    pub fn require_agent(&self, serv_id: &ServId, field: &str) -> Result<(), ApiError> {
        if self.info.serv_id.as_deref() == Some(serv_id.as_str()) {
            Ok(())
        } else if self.info.disabled_agent.as_deref() == Some(serv_id.as_str()) {
            Err(ApiError::field(
                ErrorCode::AgentDisabled,
                field,
                "this agent account is disabled",
            ))
        } else {
            Err(ApiError::field(
                ErrorCode::NotBound,
                field,
                format!("this session is not bound to agent {serv_id}"),
            ))
        }
    }

    /// May read this question: its user, or an agent serving its app. Another tenant's
    /// question answers as a missing one (20003); another user's of the same app 20008.
    pub async fn may_read(
        &self,
        state: &AppState,
        q: &kefu_common::store::entity::question::Model,
    ) -> Result<(), ApiError> {
        let session = &self.info.session;
        if session.app_id == q.app_id && session.user_id == q.user_id {
            return Ok(());
        }
        if let Some(serv_id) = &self.info.serv_id {
            if store::agent_app_ids(&state.db, serv_id).await?.contains(&q.app_id) {
                return Ok(());
            }
        }
        if self.info.disabled_agent.is_some() {
            return Err(ApiError::field(
                ErrorCode::AgentDisabled,
                "session",
                "this agent account is disabled",
            ));
        }
        if self.info.serv_id.is_some() || session.app_id != q.app_id {
            return Err(ApiError::field(
                ErrorCode::UnknownQuestion,
                "question_id",
                "no such question",
            ));
        }
        Err(ApiError::field(
            ErrorCode::NotQuestionOwner,
            "question_id",
            "the question's user is not the session's user",
        ))
    }

    /// The agent the session is bound to, for agent-only calls without a serv_id.
    pub fn bound_agent(&self) -> Result<String, ApiError> {
        if self.info.disabled_agent.is_some() {
            return Err(ApiError::field(
                ErrorCode::AgentDisabled,
                "session",
                "this agent account is disabled",
            ));
        }
        self.info.serv_id.clone().ok_or_else(|| {
            ApiError::field(
                ErrorCode::NotBound,
                "session",
                "this session is not bound to an agent (serv/bind)",
            )
        })
    }
}

/// The client's address: the TCP peer, or, when the peer is one of
/// `KEFU_TRUSTED_PROXIES`, the last address of `X-Forwarded-For` that is not a trusted
/// proxy (the proxies append what they saw, so only the right-hand entries are theirs).
pub struct Source(pub Option<IpAddr>);

pub fn client_address(parts: &Parts, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
}

impl FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Source(client_address(parts, &state.trusted_proxies)))
    }
}

/// An app-signed call (session/new): the app named by the body's `identify`, the
/// signature checked over the raw body, then the body (alone: the signature does not
/// cover the query) parsed as `T`.
pub struct Signed<T> {
    pub app: app::Model,
    pub body: T,
    pub signature: String,
}

impl<T: DeserializeOwned> FromRequestParts<AppState> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let input = Input::from_request_parts(parts, state).await?;
        let SignedApp { identify } = input.parse_body()?;
        let app = store::app_by_identify(&state.db, identify.as_str())
            .await?
            .ok_or_else(|| ApiError::field(ErrorCode::UnknownApp, "identify", "no app with this identify"))?;
        let signature = verify_signature(state, &input, &app)?;
        // Disabled is said only to whoever proved to be the app.
        if app.disabled_at.is_some() {
            return Err(ApiError::field(
                ErrorCode::AppDisabled,
                "identify",
                "this app is disabled",
            ));
        }
        state.limits.check_app(app.id).map_err(too_frequent)?;
        // Only once the caller is known to be the app are its other fields looked at.
        let body = input.parse_body()?;
        Ok(Signed { app, body, signature })
    }
}

/// Verified against when the agent does not exist, so that an unknown `serv_id` costs as
/// much time as a wrong password. (The answer itself tells 20001 from 20002, as the
/// original did; the lockout bounds what that allows.)
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$9BG+Hf+5TsnkYa67pFyybg$/nwDV5nodoypEaetffGYPthJC8CXfoNzVjYfppxxh6o";

/// Checks an agent's password: refused at once while the agent or the client address is
/// locked (10038, `Retry-After`); argon2 in the bounded pool; a failure answers later the
/// more failures came before it; a disabled agent is told so only after a right password.
pub async fn verify_agent(
    state: &AppState,
    serv_id: &ServId,
    password: Password,
    source: Option<IpAddr>,
) -> Result<(), ApiError> {
    let logins = &state.limits.logins;
    let attempt = logins
        .begin(&state.db, serv_id.as_str(), source)
        .await?
        .map_err(|lock| {
            tracing::warn!(serv_id = %serv_id.as_str().escape_debug(), source = ?source, scope = lock.scope.as_str(), locked_until = lock.until_ms, "agent login refused: locked after failed attempts");
            locked(serv_id, lock)
        })?;
    tokio::time::sleep(attempt.delay).await;
    let checked = check_password(state, serv_id, password).await;
    let (exists, disabled, ok) = match checked {
        Ok(found) => found,
        Err(err) => {
            logins.abandon(&state.db, attempt).await;
            return Err(err);
        }
    };
    if exists && ok {
        logins.succeeded(&state.db, attempt).await?;
        if disabled {
            return Err(ApiError::field(
                ErrorCode::AgentDisabled,
                "serv_id",
                "this agent account is disabled",
            ));
        }
        return Ok(());
    }
    tracing::info!(serv_id = %serv_id.as_str().escape_debug(), source = ?source, "agent login failed");
    tokio::time::sleep(attempt.slowdown).await;
    Err(if exists {
        ApiError::field(ErrorCode::WrongPassword, "password", "wrong password")
    } else {
        ApiError::field(ErrorCode::UnknownAgent, "serv_id", "no agent account with this serv_id")
    })
}

/// 30021 `agent_locked`: says which lock and until when, with `Retry-After`.
fn locked(serv_id: &ServId, lock: Lock) -> ApiError {
    let wait_secs = ((lock.until_ms - now_ms()).max(0) as u64).div_ceil(1000).max(1);
    let until = chrono::DateTime::from_timestamp_millis(lock.until_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let (field, debug) = match lock.scope {
        Scope::Address => (
            "password",
            format!(
                "agent logins from this address are locked after too many failed passwords until {until} \
                 (retry in {wait_secs} s); an operator can unlock it"
            ),
        ),
        _ => (
            "serv_id",
            format!(
                "the agent account {serv_id} is locked for logins from this address after too many \
                 failed passwords until {until} (retry in {wait_secs} s); an operator can unlock it"
            ),
        ),
    };
    ApiError::Wait(Failure::field(ErrorCode::AgentLocked, field, debug), wait_secs)
}

/// (agent exists, is disabled, password matches), argon2 in the bounded pool.
async fn check_password(
    state: &AppState,
    serv_id: &ServId,
    password: Password,
) -> Result<(bool, bool, bool), ApiError> {
    let agent = store::agent(&state.db, serv_id.as_str()).await?;
    let (exists, disabled) = (agent.is_some(), agent.as_ref().is_some_and(|a| a.disabled_at.is_some()));
    let hash = agent.map_or_else(|| DUMMY_HASH.to_owned(), |a| a.password_hash.expose_secret().to_owned());
    let permit = std::sync::Arc::clone(&state.limits.hashing)
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(format!("password pool: {e}")))?;
    let ok = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        PasswordHash::new(&hash)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_str().as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("password check task: {e}")))?;
    Ok((exists, disabled, ok))
}

/// Verifies an app-signed request: query `timestamp` (ms) within the allowed skew and
/// `signature` = hex HMAC-SHA256(secret, timestamp + "\n" + METHOD + "\n" + path + "\n" + body).
/// Returns the signature (lowercase hex).
fn verify_signature(state: &AppState, input: &RawInput, app: &app::Model) -> Result<String, ApiError> {
    let signed = |name: &str| -> Result<String, ApiError> {
        input.signed_param(name).map(str::to_owned).ok_or_else(|| {
            ApiError::field(
                ErrorCode::MissingField,
                name,
                format!(
                    "{name} is required (header Kefu-{} or query parameter {name})",
                    capitalized(name)
                ),
            )
        })
    };
    let timestamp = signed("timestamp")?;
    let signature = signed("signature")?;
    check_timestamp(&timestamp, state.config.signature_skew_secs)?;
    let bad = || ApiError::field(ErrorCode::BadSignature, "signature", "signature does not match");
    let given = hex::decode(signature.to_ascii_lowercase()).map_err(|_| bad())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app.secret.expose_secret().as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(input.method.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(input.path.as_bytes());
    mac.update(b"\n");
    mac.update(&input.raw_body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given).map_err(|_| bad())?;
    Ok(signature.to_ascii_lowercase())
}

/// `timestamp` → `Timestamp`, for the header names in messages.
pub fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// A signed call's `timestamp`: milliseconds since the epoch within `skew_secs` of the
/// server's clock. The refusal shows that clock, and says so when seconds were sent.
pub fn check_timestamp(raw: &str, skew_secs: u64) -> Result<i64, ApiError> {
    let now = now_ms();
    let ts: i64 = raw.parse().map_err(|_| {
        ApiError::field(
            ErrorCode::InvalidField,
            "timestamp",
            format!("timestamp must be an integer of milliseconds since the epoch (the server's clock reads {now})"),
        )
    })?;
    let skew_ms = skew_secs * 1000;
    if now.abs_diff(ts) <= skew_ms {
        return Ok(ts);
    }
    let hint = if now.abs_diff(ts.saturating_mul(1000)) <= skew_ms {
        "; it looks like seconds"
    } else {
        ""
    };
    Err(ApiError::field(
        ErrorCode::ExpiredTimestamp,
        "timestamp",
        format!(
            "timestamp {ts} is more than {skew_secs} seconds away from the server's clock ({now}); \
             it must be milliseconds since the epoch{hint}"
        ),
    ))
}
