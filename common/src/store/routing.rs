//! What operators set for routing (an app's mode, offer timeout and rating request, an
//! agent's capacity), and what agents and apps show of it (presence).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use serde::Serialize;

use crate::domain::{Identify, Presence, QuestionStatus, RoutingMode, ServId};
use crate::now_ms;
use crate::store::entity::{agent, agent_app, agent_binding, app, question, session};
use crate::store::operators::{agent_row, agent_view, app_row, AgentView, OperatorError};
use crate::store::settings_cache;

/// The longest offer (an hour): an offer is a short wait for an answer.
pub const MAX_OFFER_SECS: u64 = 3600;

/// An app's routing as operators see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingView {
    pub identify: String,
    /// `manual` (agents pick from the waiting list) or `auto`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "auto"))]
    pub mode: RoutingMode,
    /// In `auto`: each question is offered to an agent for this long (seconds) before it
    /// passes to the next; `null`: given at once.
    pub offer_timeout: Option<u64>,
}

fn routing_view(a: &app::Model) -> RoutingView {
    RoutingView {
        identify: a.identify.clone(),
        mode: a.routing_mode,
        offer_timeout: a.offer_timeout_ms.map(|ms| (ms / 1000) as u64),
    }
}

pub async fn get_routing(db: &DatabaseConnection, identify: &Identify) -> Result<RoutingView, OperatorError> {
    Ok(routing_view(&app_row(db, identify).await?))
}

/// Sets the app's routing (the workers' caches see it at their next transaction);
/// answers it. `offer_timeout_secs`: 0 or none gives questions at once.
pub async fn set_routing(
    db: &DatabaseConnection,
    identify: &Identify,
    mode: RoutingMode,
    offer_timeout_secs: Option<u64>,
) -> Result<RoutingView, OperatorError> {
    let txn = db.begin().await?;
    let row = app_row(&txn, identify).await?;
    let offer_ms = offer_timeout_secs.filter(|s| *s > 0).map(|s| (s * 1000) as i64);
    app::Entity::update_many()
        .col_expr(app::Column::RoutingMode, Expr::value(mode))
        .col_expr(app::Column::OfferTimeoutMs, Expr::value(offer_ms))
        .filter(app::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    settings_cache::touch(&txn, row.id).await?;
    txn.commit().await?;
    Ok(RoutingView {
        identify: row.identify,
        mode,
        offer_timeout: offer_ms.map(|ms| (ms / 1000) as u64),
    })
}

/// Whether the app's users are asked for a rating after a question is finished.
pub async fn set_ask_rating(db: &DatabaseConnection, identify: &Identify, ask: bool) -> Result<(), OperatorError> {
    let txn = db.begin().await?;
    let row = app_row(&txn, identify).await?;
    app::Entity::update_many()
        .col_expr(app::Column::AskRating, Expr::value(ask))
        .filter(app::Column::Id.eq(row.id))
        .exec(&txn)
        .await?;
    settings_cache::touch(&txn, row.id).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets how many questions the agent may serve at once (0 or none: no limit).
pub async fn set_max_concurrent(
    db: &DatabaseConnection,
    serv_id: &ServId,
    max: Option<u32>,
) -> Result<AgentView, OperatorError> {
    let row = agent_row(db, serv_id).await?;
    let max = max.filter(|m| *m > 0).map(|m| m.min(i32::MAX as u32) as i32);
    agent::Entity::update_many()
        .col_expr(agent::Column::MaxConcurrent, Expr::value(max))
        .filter(agent::Column::ServId.eq(serv_id.as_str()))
        .exec(db)
        .await?;
    agent_view(
        db,
        agent::Model {
            max_concurrent: max,
            ..row
        },
    )
    .await
}

/// An agent's presence as everyone sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceView {
    pub serv_id: String,
    /// `online`, `busy`, `away` or `offline` (also whenever no device of the agent is
    /// bound with a live session).
    pub presence: String,
    /// The same, under the name the request used.
    pub agent_status: String,
    /// When the agent last changed it (seconds since the epoch); `null`: never.
    pub changed_at: Option<f64>,
    /// Questions it serves now.
    pub serving: u64,
    /// Serving questions it may hold at once; `null`: no limit.
    pub max_concurrent: Option<i32>,
}

/// The agent's presence: what it said, unless none of its devices is bound with a live
/// session (then offline).
pub async fn presence(db: &impl ConnectionTrait, serv_id: &str) -> Result<Option<PresenceView>, sea_orm::DbErr> {
    use sea_orm::sea_query::Query;
    use sea_orm::PaginatorTrait;
    let Some(a) = agent::Entity::find_by_id(serv_id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let live_sessions = Query::select()
        .column(session::Column::Session)
        .from(session::Entity)
        .and_where(session::Column::ExpiresAt.gt(now_ms()))
        .to_owned();
    let live = agent_binding::Entity::find()
        .filter(agent_binding::Column::ServId.eq(serv_id))
        .filter(agent_binding::Column::Session.in_subquery(live_sessions))
        .count(db)
        .await?;
    let serving = question::Entity::find()
        .filter(question::Column::ServId.eq(serv_id))
        .filter(question::Column::Status.eq(QuestionStatus::Serving))
        .count(db)
        .await?;
    let shown = if live == 0 { Presence::Offline } else { a.presence };
    Ok(Some(PresenceView {
        serv_id: a.serv_id,
        presence: shown.as_str().to_owned(),
        agent_status: shown.as_str().to_owned(),
        changed_at: a.presence_at.map(|ms| ms as f64 / 1000.0),
        serving,
        max_concurrent: a.max_concurrent.filter(|m| *m > 0),
    }))
}

/// The app's agents that automatic routing may give a question to now: online, enabled,
/// with a device bound by a live session; the one given a question longest ago first.
/// (Whether each has room is the caller's to check.)
pub async fn candidates(db: &impl ConnectionTrait, app_id: i64, now: i64) -> Result<Vec<agent::Model>, sea_orm::DbErr> {
    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::QueryOrder;
    let live_device = Query::select()
        .expr(Expr::val(1))
        .from(agent_binding::Entity)
        .inner_join(
            session::Entity,
            Expr::col((session::Entity, session::Column::Session))
                .equals((agent_binding::Entity, agent_binding::Column::Session)),
        )
        .and_where(
            Expr::col((agent_binding::Entity, agent_binding::Column::ServId))
                .equals((agent::Entity, agent::Column::ServId)),
        )
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(now))
        .to_owned();
    let of_app = Query::select()
        .column(agent_app::Column::ServId)
        .from(agent_app::Entity)
        .and_where(agent_app::Column::AppId.eq(app_id))
        .to_owned();
    agent::Entity::find()
        .filter(agent::Column::Presence.eq(Presence::Online))
        .filter(agent::Column::DisabledAt.is_null())
        .filter(agent::Column::ServId.in_subquery(of_app))
        .filter(Expr::exists(live_device))
        .order_by_asc(agent::Column::AssignedAt)
        .order_by_asc(agent::Column::ServId)
        .all(db)
        .await
}

/// How many of the app's agents could take a question now: the routing candidates
/// below capacity (the queue position's estimate).
pub async fn free_agents(db: &impl ConnectionTrait, app_id: i64) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    let mut free = 0;
    for a in candidates(db, app_id, now_ms()).await? {
        let room = match a.max_concurrent.filter(|m| *m > 0) {
            None => true,
            Some(max) => {
                let serving = question::Entity::find()
                    .filter(question::Column::ServId.eq(a.serv_id.as_str()))
                    .filter(question::Column::Status.eq(QuestionStatus::Serving))
                    .count(db)
                    .await?;
                serving < max as u64
            }
        };
        free += u64::from(room);
    }
    Ok(free)
}
