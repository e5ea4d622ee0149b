//! `/admin/v1/agents[/<serv_id>[/disable|enable|password|apps]]`: agent accounts.

use super::*;
use crate::views::Answer;

/// Every agent with the apps it serves.
#[utoipa::path(get, path = "/admin/v1/agents", operation_id = "admin_agents", tag = "admin",
    responses((status = 200, description = "The agents", body = Answer<AgentsAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agents(State(state): State<AppState>, _: Admin) -> Result<Json<Answer<AgentsAnswer>>, ApiError> {
    Ok(Answer::ok(AgentsAnswer {
        agents: operators::list_agents(&state.db).await?,
    }))
}

/// Creates an agent serving the given apps.
#[utoipa::path(post, path = "/admin/v1/agents", operation_id = "admin_agent_create", tag = "admin",
    request_body(content((NewAgent = "application/json"))),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn create_agent(
    State(state): State<AppState>,
    _: Admin,
    Valid(req): Valid<NewAgent>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    let view = operators::create_agent(&state.db, &req.serv_id, &req.password, &req.apps.0).await?;
    tracing::info!(serv_id = %req.serv_id.as_str().escape_debug(), "admin: agent created");
    Ok(agent_answer(view))
}

/// One agent.
#[utoipa::path(get, path = "/admin/v1/agents/{serv_id}", operation_id = "admin_agent", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    Ok(agent_answer(operators::get_agent(&state.db, &serv_key(&raw)?).await?))
}

/// Changes an agent: password (unbinds its devices), apps, disabled.
#[utoipa::path(patch, path = "/admin/v1/agents/{serv_id}", operation_id = "admin_agent_update", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentChanges = "application/json"))),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn update_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentChanges>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
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
    if let Some(max) = req.max_concurrent {
        view = kefu_common::store::routing::set_max_concurrent(&state.db, &serv_id, Some(max)).await?;
    }
    Ok(agent_answer(view))
}

/// Disables an agent: it cannot bind, its bound devices answer 30019.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/disable", operation_id = "admin_agent_disable", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn disable_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    let serv_id = serv_key(&raw)?;
    tracing::info!(serv_id = %serv_id.as_str().escape_debug(), "admin: agent disabled");
    Ok(agent_answer(
        operators::set_agent_disabled(&state.db, &serv_id, true).await?,
    ))
}

/// Enables a disabled agent.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/enable", operation_id = "admin_agent_enable", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn enable_agent(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    Ok(agent_answer(
        operators::set_agent_disabled(&state.db, &serv_key(&raw)?, false).await?,
    ))
}

/// Sets an agent's password; its bound devices are unbound.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/password", operation_id = "admin_agent_password", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentPassword = "application/json"), (AgentPassword = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent_password(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentPassword>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    let serv_id = serv_key(&raw)?;
    Ok(agent_answer(
        operators::set_agent_password(&state.db, &serv_id, &req.password).await?,
    ))
}

/// Replaces the apps an agent serves.
#[utoipa::path(post, path = "/admin/v1/agents/{serv_id}/apps", operation_id = "admin_agent_apps", tag = "admin",
    params(("serv_id" = String, Path, description = "The agent account")),
    request_body(content((AgentApps = "application/json"))),
    responses((status = 200, description = "The agent", body = Answer<AgentView>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn agent_apps(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<AgentApps>,
) -> Result<Json<Answer<AgentView>>, ApiError> {
    let serv_id = serv_key(&raw)?;
    Ok(agent_answer(
        operators::set_agent_apps(&state.db, &serv_id, &req.apps.0).await?,
    ))
}
