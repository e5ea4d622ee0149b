//! The agent aggregate: binding a device session to an agent (serv/bind) and unbinding.

use kefu_common::domain::events::DomainEvent;
use kefu_common::domain::outcome::{ErrorCode, Nothing, Reply};
use kefu_common::domain::{Presence, ServId, SessionDigest};
use kefu_common::store::entity::{agent, agent_binding, session};
use kefu_common::{now_ms, store};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::writes::serves_app;
use super::{refuse, routing, Applied, Handled, Rules};

pub async fn bind(txn: &DatabaseTransaction, session: &SessionDigest, serv_id: &ServId) -> Handled {
    // The ingest checked password and session; the session may have expired or been
    // revoked, and the agent disabled, since.
    let Some(info) = store::session(txn, session).await? else {
        return refuse(ErrorCode::InvalidSession, "session is unknown or expired");
    };
    if info.session.expires_at <= now_ms() {
        return refuse(ErrorCode::InvalidSession, "session is unknown or expired");
    }
    if store::agent(txn, serv_id.as_str())
        .await?
        .is_none_or(|a| a.disabled_at.is_some())
    {
        return refuse(ErrorCode::AgentDisabled, "this agent account is disabled");
    }
    let app_id = info.session.app_id;
    if !serves_app(txn, serv_id.as_str(), app_id).await? {
        return refuse(ErrorCode::Forbidden, "this agent does not serve the session's app");
    }
    agent_binding::Entity::delete_by_id(session.as_str()).exec(txn).await?;
    let row = agent_binding::ActiveModel {
        session: Set(session.to_string()),
        serv_id: Set(serv_id.to_string()),
        bound_at: Set(now_ms()),
    };
    agent_binding::Entity::insert(row).exec_without_returning(txn).await?;
    let event = DomainEvent::AgentBound {
        app_id,
        serv_id: serv_id.to_string(),
    };
    Ok(Applied::new(Reply::Done(Nothing {}), vec![event]))
}

/// Unbinds; the event goes out only while the session still exists (it names the app).
/// The agent's last device unbound makes it offline.
pub async fn unbind(txn: &DatabaseTransaction, session: &SessionDigest, serv_id: &ServId) -> Handled {
    agent_binding::Entity::delete_many()
        .filter(agent_binding::Column::Session.eq(session.as_str()))
        .filter(agent_binding::Column::ServId.eq(serv_id.as_str()))
        .exec(txn)
        .await?;
    let app_id = session::Entity::find_by_id(session.as_str())
        .one(txn)
        .await?
        .map(|s| s.app_id);
    let mut events: Vec<DomainEvent> = app_id
        .map(|app_id| DomainEvent::AgentUnbound {
            app_id,
            serv_id: serv_id.to_string(),
        })
        .into_iter()
        .collect();
    let devices_left = agent_binding::Entity::find()
        .filter(agent_binding::Column::ServId.eq(serv_id.as_str()))
        .count(txn)
        .await?;
    if devices_left == 0 {
        if let Some(app_id) = app_id {
            events.extend(presence(txn, serv_id, Presence::Offline, app_id).await?);
        }
    }
    Ok(Applied::new(Reply::Done(Nothing {}), events))
}

/// Stores the agent's presence; the event only when it changed.
async fn presence(
    txn: &DatabaseTransaction,
    serv_id: &ServId,
    status: Presence,
    app_id: i64,
) -> Result<Option<DomainEvent>, sea_orm::DbErr> {
    let changed = agent::Entity::update_many()
        .col_expr(agent::Column::Presence, Expr::value(status))
        .col_expr(agent::Column::PresenceAt, Expr::value(now_ms()))
        .filter(agent::Column::ServId.eq(serv_id.as_str()))
        .filter(agent::Column::Presence.ne(status))
        .exec(txn)
        .await?
        .rows_affected;
    Ok((changed == 1).then(|| DomainEvent::AgentStatusChanged {
        app_id,
        serv_id: serv_id.to_string(),
        status,
    }))
}

/// The agent says whether it is online, busy, away or offline; coming online in apps
/// with automatic routing gives it waiting questions up to its capacity.
pub async fn set_status(
    txn: &DatabaseTransaction,
    rules: &Rules,
    serv_id: &ServId,
    status: Presence,
    app_id: i64,
) -> Handled {
    if store::agent(txn, serv_id.as_str())
        .await?
        .is_none_or(|a| a.disabled_at.is_some())
    {
        return refuse(ErrorCode::AgentDisabled, "this agent account is disabled");
    }
    let mut events: Vec<DomainEvent> = presence(txn, serv_id, status, app_id).await?.into_iter().collect();
    if status == Presence::Online {
        events.append(&mut routing::route_agent_apps(txn, rules, serv_id.as_str()).await?);
    }
    Ok(Applied::new(Reply::Done(Nothing {}), events))
}
