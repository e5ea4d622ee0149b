//! Apps open sessions for their users with a signed call.

use axum::extract::State;
use axum::response::Response;
use kefu_common::domain::command::Command;
use kefu_common::domain::secret::ExposeSecret;
use kefu_common::now_ms;
use serde_json::{json, Map};

use crate::auth::Signed;
use crate::dispatch::{render, submit, Answer, Key};
use crate::input::Input;
use crate::requests::SessionNew;
use crate::{ApiError, AppState};
use kefu_common::domain::outcome::{Outcome, Reply};
use kefu_common::domain::SessionToken;

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
    // Derived from the signature under the app's secret: a replay of this very signed
    // request (within the timestamp window) answers the same session, which is stored
    // only as its digest and never queued or kept in clear.
    let session = SessionToken::derive(app.secret.expose_secret().as_bytes(), signature.as_bytes());
    let expires_at = now_ms() + (state.config.session_ttl_secs * 1000) as i64;
    let mut assigned = Map::new();
    assigned.insert("expires_at".into(), json!(expires_at / 1000));
    let command = Command::SessionCreateV2 {
        session: session.digest(),
        app_id: app.id,
        user_id: body.user_id,
        user_name: body.user_name,
        user_image_url: body.user_image_url,
        device_id: body.device_id,
        expires_at,
        groups: body.groups.map(|g| g.0),
    };
    let key = format!("signature:{signature}");
    let mut submitted = submit(
        &state,
        &input,
        &format!("app:{}", app.id),
        Key::Implicit(&key),
        command,
        assigned,
    )
    .await?;
    // Also the 202 answer carries the session: the client needs it before it exists.
    match &mut submitted.answer {
        Answer::Done(Outcome::Ok {
            body: Reply::SessionOpened { session: slot, .. },
        }) => {
            *slot = Some(session.as_str().to_owned());
        }
        Answer::Done(Outcome::Ok { .. }) => {}
        Answer::Queued { assigned, .. } => {
            assigned.insert("session".into(), json!(session.as_str()));
        }
        Answer::Done(Outcome::Failed(_)) => {}
    }
    Ok(render(submitted))
}
