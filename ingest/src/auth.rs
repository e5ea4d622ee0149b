//! Who is calling: app signatures (session/new), user sessions, agent bindings and
//! agent passwords.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use hmac::{Hmac, Mac};
use kefu_common::command::Actor;
use kefu_common::domain::{Password, ServId, UserId};
use kefu_common::entity::app;
use kefu_common::now_ms;
use kefu_common::outcome::ErrorCode;
use kefu_common::store::{self, SessionInfo};
use sha2::Sha256;

use crate::params::Params;
use crate::{ApiError, AppState};

/// The caller behind a valid, unexpired session.
pub async fn caller(state: &AppState, params: &Params) -> Result<SessionInfo, ApiError> {
    let token = params.session()?;
    match store::session(&state.db, token.as_str()).await? {
        Some(info) if info.session.expires_at > now_ms() => Ok(info),
        _ => Err(ApiError::field(
            ErrorCode::InvalidSession,
            "session",
            "session is unknown or expired",
        )),
    }
}

pub fn user_actor(info: &SessionInfo) -> Result<Actor, ApiError> {
    let user_id =
        UserId::parse(&info.session.user_id).map_err(|e| ApiError::Internal(format!("stored user id: {e}")))?;
    Ok(Actor::User {
        app_id: info.session.app_id,
        user_id,
    })
}

/// The session must be bound (serv/bind) to this agent.
pub fn require_agent(info: &SessionInfo, serv_id: &ServId, field: &str) -> Result<(), ApiError> {
    if info.serv_id.as_deref() == Some(serv_id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::field(
            ErrorCode::NotBound,
            field,
            format!("this session is not bound to agent {serv_id}"),
        ))
    }
}

/// The agent the session is bound to, for agent-only calls without a serv_id.
pub fn bound_agent(info: &SessionInfo) -> Result<String, ApiError> {
    info.serv_id.clone().ok_or_else(|| {
        ApiError::field(
            ErrorCode::NotBound,
            "session",
            "this session is not bound to an agent (serv/bind)",
        )
    })
}

/// Verified against when the agent does not exist, so that an unknown `serv_id` costs as
/// much time as a wrong password (no account enumeration by timing).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$9BG+Hf+5TsnkYa67pFyybg$/nwDV5nodoypEaetffGYPthJC8CXfoNzVjYfppxxh6o";

/// Checks an agent's password (argon2, off the async threads).
pub async fn verify_agent(state: &AppState, serv_id: &ServId, password: Password) -> Result<(), ApiError> {
    let agent = store::agent(&state.db, serv_id.as_str()).await?;
    let exists = agent.is_some();
    let hash = agent.map(|a| a.password_hash).unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = tokio::task::spawn_blocking(move || {
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
    if ok && exists {
        Ok(())
    } else {
        Err(ApiError::field(
            ErrorCode::BadCredentials,
            "password",
            "unknown agent or wrong password",
        ))
    }
}

/// Verifies an app-signed request: query `timestamp` (ms) within the allowed skew and
/// `signature` = hex HMAC-SHA256(secret, timestamp + "\n" + METHOD + "\n" + path + "\n" + body).
pub fn verify_signature(state: &AppState, params: &Params, app: &app::Model) -> Result<(), ApiError> {
    let query_str = |name: &str| -> Result<String, ApiError> {
        match params.query.get(name).and_then(|v| v.as_str()) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(ApiError::field(
                ErrorCode::MissingField,
                name,
                format!("query parameter {name} is required"),
            )),
        }
    };
    let timestamp = query_str("timestamp")?;
    let signature = query_str("signature")?;
    let ts: i64 = timestamp.parse().map_err(|_| {
        ApiError::field(
            ErrorCode::InvalidField,
            "timestamp",
            "timestamp must be milliseconds since the epoch",
        )
    })?;
    let skew_ms = state.config.signature_skew_secs * 1000;
    if now_ms().abs_diff(ts) > skew_ms {
        return Err(ApiError::field(
            ErrorCode::ExpiredTimestamp,
            "timestamp",
            format!(
                "timestamp is more than {} seconds away from the server's clock",
                state.config.signature_skew_secs
            ),
        ));
    }
    let bad = || ApiError::field(ErrorCode::BadSignature, "signature", "signature does not match");
    let given = hex::decode(signature.to_ascii_lowercase()).map_err(|_| bad())?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app.secret.as_bytes()).map_err(|e| ApiError::Internal(e.to_string()))?;
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(params.method.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(params.path.as_bytes());
    mac.update(b"\n");
    mac.update(&params.raw_body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given).map_err(|_| bad())
}
