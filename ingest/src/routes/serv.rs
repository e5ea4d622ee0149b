use axum::extract::State;
use axum::response::Response;
use kefu_common::command::Command;
use kefu_common::domain::{Password, ServId, SessionToken};
use serde_json::Map;

use crate::auth::{caller, verify_agent};
use crate::dispatch::dispatch;
use crate::params::Params;
use crate::{ApiError, AppState};

/// POST /v1/serv/bind — bind the device's session to an agent account.
#[tracing::instrument(skip_all)]
pub async fn bind(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    with_credentials(state, params, |session, serv_id| Command::AgentBindV1 {
        session,
        serv_id,
    })
    .await
}

/// POST /v1/serv/unbind — the reverse.
#[tracing::instrument(skip_all)]
pub async fn unbind(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    with_credentials(state, params, |session, serv_id| Command::AgentUnbindV1 {
        session,
        serv_id,
    })
    .await
}

/// Both calls carry the device's session and the agent's credentials.
async fn with_credentials(
    state: AppState,
    params: Params,
    make: fn(SessionToken, ServId) -> Command,
) -> Result<Response, ApiError> {
    let (session, serv_id) = credentials(&state, &params).await?;
    let scope = session.as_str().to_owned();
    dispatch(&state, &params, &scope, make(session, serv_id), Map::new()).await
}

async fn credentials(state: &AppState, params: &Params) -> Result<(SessionToken, ServId), ApiError> {
    caller(state, params).await?;
    let serv_id = params.req("serv_id", ServId::parse)?;
    let password = params.req("password", Password::parse)?;
    verify_agent(state, &serv_id, password).await?;
    Ok((params.session()?, serv_id))
}
