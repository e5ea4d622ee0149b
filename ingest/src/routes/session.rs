//! Apps open sessions for their users with a signed call.

use axum::extract::State;
use axum::response::Response;
use kefu_common::command::Command;
use kefu_common::now_ms;
use serde_json::{json, Map};

use crate::auth::Signed;
use crate::dispatch::{dispatch_keyed, Key};
use crate::input::Input;
use crate::requests::SessionNew;
use crate::{ApiError, AppState};

/// An app, signing with its secret, opens a 12-character session for its user. The
/// signature is the request's idempotency key: the same signed request again answers
/// the first session.
#[utoipa::path(post, path = "/v1/session/new", operation_id = "session_new", tag = "sessions",
    params(crate::openapi::SignatureQuery, crate::openapi::PreferHeader),
    request_body(content((SessionNew = "application/json"))),
    responses(
        (status = 200, description = "The session", body = crate::views::SessionOpened),
        (status = 202, description = "Queued (`Prefer: respond-async`); the session is in the body", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("signature" = [], "timestamp" = [])))]
#[tracing::instrument(skip_all)]
pub async fn new(
    State(state): State<AppState>,
    input: Input,
    signed: Signed<SessionNew>,
) -> Result<Response, ApiError> {
    let Signed { app, body, signature } = signed;
    let session = kefu_common::domain::SessionToken::generate();
    let expires_at = now_ms() + (state.config.session_ttl_secs * 1000) as i64;
    // Also the 202 answer carries the session: the client needs it before it exists.
    let mut assigned = Map::new();
    assigned.insert("session".into(), json!(session.as_str()));
    assigned.insert("expires_at".into(), json!(expires_at / 1000));
    let command = Command::SessionCreateV1 {
        session,
        app_id: app.id,
        user_id: body.user_id,
        user_name: body.user_name,
        user_image_url: body.user_image_url,
        device_id: body.device_id,
        expires_at,
        groups: body.groups.map(|g| g.0),
    };
    // A replay of this very signed request (within the timestamp window) gets the first
    // answer: it cannot mint further sessions.
    let key = format!("signature:{signature}");
    dispatch_keyed(&state, &input, &format!("app:{}", app.id), Key::Implicit(&key), command, assigned).await
}
