//! Automatic assignment (apps whose routing is `auto`): a waiting question goes to an
//! online agent of its app below capacity, the one idle longest first; with an offer
//! timeout it is offered first and must be accepted.
//!
//! Exactly once with any number of workers: each question is taken with its row lock
//! (`load`) and moved by a conditional update (still waiting, still not offered), and
//! each agent is checked with its row locked (`FOR UPDATE`), counting its serving
//! questions and open offers in a statement that sees every commit before it.

use kefu_common::domain::events::{DomainEvent, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::{QuestionStatus, RoutingMode};
use kefu_common::now_ms;
use kefu_common::store::entity::{agent, question};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::question::assign;
use super::writes::{load, update_of};
use super::Rules;

/// Questions one routing pass gives out at most (the sweep comes back for the rest).
pub const PASS_LIMIT: usize = 20;

/// The app's routing: `None` when its agents pick by hand.
async fn auto_routing(txn: &DatabaseTransaction, rules: &Rules, app_id: i64) -> Result<Option<Option<i64>>, DbErr> {
    let settings = rules.settings_of(txn, &[app_id]).await?;
    Ok(settings
        .get(&app_id)
        .filter(|s| s.routing == RoutingMode::Auto)
        .map(|s| s.offer_timeout_ms))
}

/// Gives this app's waiting questions, oldest first, to its online agents with free
/// capacity, at most `limit`; answers the events of what it did.
pub async fn route_app(
    txn: &DatabaseTransaction,
    rules: &Rules,
    app_id: i64,
    limit: usize,
) -> Result<Vec<DomainEvent>, DbErr> {
    let Some(offer_ms) = auto_routing(txn, rules, app_id).await? else {
        return Ok(Vec::new());
    };
    let mut events = Vec::new();
    let mut given_out = 0;
    let now = now_ms();
    for (id, passed_by) in oldest_unoffered(txn, app_id, now, limit * 2).await? {
        if given_out == limit {
            break;
        }
        // An offer that was declined or ran out goes to someone else.
        let Some(serv_id) = free_agent(txn, app_id, now, passed_by.as_deref()).await? else {
            if passed_by.is_some() {
                continue;
            }
            break;
        };
        let id = ObjectId::parse(&id).map_err(|e| DbErr::Custom(format!("stored question id: {e}")))?;
        let Some(mut q) = load(txn, &id).await? else { break };
        if q.status != QuestionStatus::Waiting {
            continue;
        }
        let given = match offer_ms {
            Some(ms) => offer(txn, &mut q, &serv_id, now + ms).await?,
            None => assign(txn, rules, &mut q, &serv_id, &rules.ids.next_id()).await?,
        };
        let Some(mut given) = given else { continue };
        went_last(txn, &serv_id).await?;
        given_out += 1;
        events.append(&mut given);
    }
    Ok(events)
}

/// After the agent quit a question of this app: it goes to the end of the line, then
/// the app is routed (automatic routing only).
pub async fn after_quit(
    txn: &DatabaseTransaction,
    rules: &Rules,
    app_id: i64,
    serv_id: &str,
) -> Result<Vec<DomainEvent>, DbErr> {
    if auto_routing(txn, rules, app_id).await?.is_none() {
        return Ok(Vec::new());
    }
    went_last(txn, serv_id).await?;
    route_app(txn, rules, app_id, 2).await
}

/// Routes every app this agent serves (it came online or freed capacity).
pub async fn route_agent_apps(
    txn: &DatabaseTransaction,
    rules: &Rules,
    serv_id: &str,
) -> Result<Vec<DomainEvent>, DbErr> {
    let mut events = Vec::new();
    for app_id in kefu_common::store::agent_app_ids(txn, serv_id).await? {
        events.append(&mut route_app(txn, rules, app_id, PASS_LIMIT).await?);
    }
    Ok(events)
}

/// The oldest waiting questions of the app that no agent is being offered and no other
/// transaction holds (skipped, not waited for), with the agent an earlier offer was for.
async fn oldest_unoffered(
    txn: &DatabaseTransaction,
    app_id: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<(String, Option<String>)>, DbErr> {
    question::Entity::find()
        .select_only()
        .column(question::Column::Id)
        .column(question::Column::OfferedTo)
        .filter(question::Column::AppId.eq(app_id))
        .filter(question::Column::Status.eq(QuestionStatus::Waiting))
        .filter(
            Condition::any()
                .add(question::Column::OfferedTo.is_null())
                .add(question::Column::OfferExpiresAt.lte(now)),
        )
        .order_by_asc(question::Column::CreatedAt)
        .order_by_asc(question::Column::Id)
        .limit(limit as u64)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(txn)
        .await
}

/// The app's online agent with a live device and free capacity that was given a
/// question longest ago, but `besides`; its row stays locked until the transaction ends.
async fn free_agent(
    txn: &DatabaseTransaction,
    app_id: i64,
    now: i64,
    besides: Option<&str>,
) -> Result<Option<String>, DbErr> {
    let candidates = kefu_common::store::routing::candidates(txn, app_id, now).await?;
    for serv_id in candidates.into_iter().map(|a| a.serv_id) {
        if Some(serv_id.as_str()) == besides {
            continue;
        }
        if has_room(txn, &serv_id, now, None).await? {
            return Ok(Some(serv_id));
        }
    }
    Ok(None)
}

/// Locks the agent's row and tells whether it may take one more question: its serving
/// questions and open offers (but `besides`, an offer it is accepting) are fewer than
/// its `max_concurrent` (none or 0: no limit).
pub async fn has_room(
    txn: &DatabaseTransaction,
    serv_id: &str,
    now: i64,
    besides: Option<&str>,
) -> Result<bool, DbErr> {
    let Some(a) = agent::Entity::find_by_id(serv_id.to_owned())
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(false);
    };
    let Some(max) = a.max_concurrent.filter(|m| *m > 0) else {
        return Ok(true);
    };
    // Every transaction that gave this agent a question held its row and committed
    // before we got it. PostgreSQL's statements see all such commits; InnoDB's plain
    // reads keep the transaction's first snapshot, so there the read locks instead.
    let mut held = question::Entity::find()
        .select_only()
        .column(question::Column::Id)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(question::Column::ServId.eq(serv_id))
                        .add(question::Column::Status.eq(QuestionStatus::Serving)),
                )
                .add(
                    Condition::all()
                        .add(question::Column::OfferedTo.eq(serv_id))
                        .add(question::Column::Status.eq(QuestionStatus::Waiting))
                        .add(question::Column::OfferExpiresAt.gt(now)),
                ),
        )
        .to_owned();
    if txn.get_database_backend() == DbBackend::MySql {
        held = held.lock_exclusive();
    }
    let held: Vec<String> = held.into_tuple().all(txn).await?;
    let held = held.iter().filter(|id| Some(id.as_str()) != besides).count();
    Ok((held as i64) < i64::from(max))
}

/// Offers the (locked, waiting) question to the agent until `expires_at`.
async fn offer(
    txn: &DatabaseTransaction,
    q: &mut question::Model,
    serv_id: &str,
    expires_at: i64,
) -> Result<Option<Vec<DomainEvent>>, DbErr> {
    let done = update_of(&q.id)
        .col_expr(question::Column::OfferedTo, Expr::value(serv_id))
        .col_expr(question::Column::OfferExpiresAt, Expr::value(expires_at))
        .filter(question::Column::Status.eq(QuestionStatus::Waiting))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(None);
    }
    q.offered_to = Some(serv_id.to_owned());
    q.offer_expires_at = Some(expires_at);
    Ok(Some(vec![DomainEvent::QuestionOffered {
        question: QuestionFacts::from(&*q),
        serv_id: serv_id.to_owned(),
        expires_at,
    }]))
}

/// Ends an offer now (declined): it passes to another agent, and the agent goes last
/// in line. The question keeps whom it was offered to, so it is not offered to that
/// agent again: it waits for another (or for an agent to pick it from the list).
pub async fn withdraw(txn: &DatabaseTransaction, q: &mut question::Model, serv_id: &str) -> Result<(), DbErr> {
    let now = now_ms();
    update_of(&q.id)
        .col_expr(question::Column::OfferExpiresAt, Expr::value(now))
        .exec(txn)
        .await?;
    q.offer_expires_at = Some(now);
    went_last(txn, serv_id).await
}

/// The agent goes to the end of the line (it just had a question, or let one go).
pub async fn went_last(txn: &DatabaseTransaction, serv_id: &str) -> Result<(), DbErr> {
    agent::Entity::update_many()
        .col_expr(agent::Column::AssignedAt, Expr::value(now_ms()))
        .filter(agent::Column::ServId.eq(serv_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The apps with automatic routing and a waiting question (for the sweep).
pub async fn apps_waiting(txn: &DatabaseTransaction) -> Result<Vec<i64>, DbErr> {
    use kefu_common::store::entity::app;
    let auto: Vec<i64> = app::Entity::find()
        .select_only()
        .column(app::Column::Id)
        .filter(app::Column::RoutingMode.eq(RoutingMode::Auto))
        .filter(app::Column::DisabledAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    if auto.is_empty() {
        return Ok(auto);
    }
    question::Entity::find()
        .select_only()
        .column(question::Column::AppId)
        .distinct()
        .filter(question::Column::Status.eq(QuestionStatus::Waiting))
        .filter(question::Column::AppId.is_in(auto))
        .into_tuple()
        .all(txn)
        .await
}
