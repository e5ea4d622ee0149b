use axum::extract::State;
use axum::response::Response;
use kefu_common::command::Command;
use kefu_common::domain::{DeviceId, Identify, SessionToken, Url, UserId, UserName};
use kefu_common::now_ms;
use kefu_common::outcome::ErrorCode;
use kefu_common::store;
use serde_json::{json, Map};

use crate::auth::verify_signature;
use crate::dispatch::{dispatch_keyed, Key};
use crate::params::Params;
use crate::{ApiError, AppState};

/// POST /v1/session/new — an app, signing with its secret, opens a session for its user.
#[tracing::instrument(skip_all)]
pub async fn new(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    // The signature covers the body, so unsigned query fields are not taken.
    let params = params.only_body();
    let identify = params.req("identify", Identify::parse)?;
    let app = store::app_by_identify(&state.db, identify.as_str())
        .await?
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownApp, "identify", "no app with this identify"))?;
    verify_signature(&state, &params, &app)?;
    let session = SessionToken::generate();
    let expires_at = now_ms() + (state.config.session_ttl_secs * 1000) as i64;
    let command = Command::SessionCreateV1 {
        session: session.clone(),
        app_id: app.id,
        user_id: params.req("user_id", UserId::parse)?,
        user_name: params.req("user_name", UserName::parse)?,
        user_image_url: params.opt("user_image_url", Url::parse)?,
        device_id: params.opt("device_id", DeviceId::parse)?,
        expires_at,
    };
    // Also the 202 answer carries the session: the client needs it before it exists.
    let mut assigned = Map::new();
    assigned.insert("session".into(), json!(session.as_str()));
    assigned.insert("expires_at".into(), json!(expires_at / 1000));
    // A replay of this very signed request (within the timestamp window) gets the first
    // answer: it cannot mint further sessions.
    let signature = params
        .query
        .get("signature")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let key = format!("signature:{signature}");
    dispatch_keyed(
        &state,
        &params,
        &format!("app:{}", app.id),
        Key::Implicit(&key),
        command,
        assigned,
    )
    .await
}
