//! Agents bind their device's session to their account, and unbind it.

use axum::extract::State;
use axum::response::Response;
use kefu_common::domain::command::Command;
use kefu_common::domain::{ServId, SessionDigest};
use serde_json::Map;

use crate::auth::{verify_agent, Caller, Source};
use crate::dispatch::dispatch;
use crate::input::{Input, Valid};
use crate::requests::ServCredentials;
use crate::{ApiError, AppState};

/// Binds the device's session to an agent account (客服登陆): from then on that session
/// acts as the agent and receives its pushes.
#[utoipa::path(post, path = "/v1/serv/bind", operation_id = "serv_bind", tag = "agents",
    request_body(content(
        (ServCredentials = "application/json"),
        (ServCredentials = "application/x-www-form-urlencoded"),
    )),
    params(crate::openapi::CommandHeaders),
    responses(
        (status = 200, description = "Bound", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn bind(
    State(state): State<AppState>,
    source: Source,
    caller: Caller,
    input: Input,
    Valid(req): Valid<ServCredentials>,
) -> Result<Response, ApiError> {
    with_credentials(state, source, caller, input, req, |session, serv_id| {
        Command::AgentBindV2 { session, serv_id }
    })
    .await
}

/// Ends the binding (客服注销).
#[utoipa::path(post, path = "/v1/serv/unbind", operation_id = "serv_unbind", tag = "agents",
    request_body(content(
        (ServCredentials = "application/json"),
        (ServCredentials = "application/x-www-form-urlencoded"),
    )),
    params(crate::openapi::CommandHeaders),
    responses(
        (status = 200, description = "Unbound", body = crate::views::Done),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn unbind(
    State(state): State<AppState>,
    source: Source,
    caller: Caller,
    input: Input,
    Valid(req): Valid<ServCredentials>,
) -> Result<Response, ApiError> {
    // Only a device bound to this agent can end its binding.
    caller.require_agent(&req.serv_id, "serv_id")?;
    with_credentials(state, source, caller, input, req, |session, serv_id| {
        Command::AgentUnbindV2 { session, serv_id }
    })
    .await
}

/// Both calls carry the device's session and the agent's credentials.
async fn with_credentials(
    state: AppState,
    source: Source,
    caller: Caller,
    input: Input,
    req: ServCredentials,
    make: fn(SessionDigest, ServId) -> Command,
) -> Result<Response, ApiError> {
    verify_agent(&state, &req.serv_id, req.password, source.0).await?;
    let scope = caller.token.as_str().to_owned();
    dispatch(
        &state,
        &input,
        &scope,
        make(caller.token.digest(), req.serv_id),
        Map::new(),
    )
    .await
}
