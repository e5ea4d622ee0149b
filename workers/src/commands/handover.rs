//! A question changing hands between agents: transfer (the serving agent gives it to a
//! colleague, action 7), and the answers to an offer (accept, decline).

use kefu_common::domain::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::{ErrorCode, Failure, Nothing, Reply};
use kefu_common::domain::{NotifyAction, QuestionStatus, SenderType, ServId, TransferNote};
use kefu_common::now_ms;
use kefu_common::store::entity::question;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, QueryFilter};

use super::question::{assign, at_capacity};
use super::writes::{insert_message, load, notification, serves_app, update_of};
use super::{refuse, routing, transitions, Applied, Handled, Rules};

/// What a transfer names.
pub struct Handover<'a> {
    pub id: &'a ObjectId,
    pub from: &'a ServId,
    pub to: &'a ServId,
    pub note: Option<&'a TransferNote>,
    pub message_id: &'a ObjectId,
}

/// transfer: the serving agent gives the question to another agent of its app who has
/// room; the note goes to that agent only (in the event, never in the message).
pub async fn transfer(txn: &DatabaseTransaction, rules: &Rules, h: Handover<'_>) -> Handled {
    let (from, to) = (h.from.as_str(), h.to.as_str());
    let Some(mut q) = load(txn, h.id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !serves_app(txn, from, q.app_id).await? {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    if q.status != QuestionStatus::Serving || q.serv_id.as_deref() != Some(from) {
        return Err(transitions::agent_state_refusal(q.status, q.serv_id.as_deref(), from).into());
    }
    if from == to {
        return Err(Failure::field(
            ErrorCode::InvalidField,
            "to_serv_id",
            "the question is already this agent's",
        )
        .into());
    }
    let disabled = kefu_common::store::agent(txn, to)
        .await?
        .is_none_or(|a| a.disabled_at.is_some());
    if disabled || !serves_app(txn, to, q.app_id).await? {
        return Err(Failure::field(
            ErrorCode::Forbidden,
            "to_serv_id",
            "that agent does not serve this question's app",
        )
        .into());
    }
    if !routing::has_room(txn, to, now_ms(), None).await? {
        return Err(at_capacity("to_serv_id").into());
    }
    let note_text = h.note.map(|n| n.to_string());
    let now = now_ms();
    update_of(&q.id)
        .col_expr(question::Column::ServId, Expr::value(to))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::ServedAt, Expr::value(now))
        .col_expr(question::Column::TransferNote, Expr::value(note_text.clone()))
        .filter(question::Column::Status.eq(QuestionStatus::Serving))
        .filter(question::Column::ServId.eq(from))
        .exec(txn)
        .await?;
    q.serv_id = Some(to.to_owned());
    q.served_at = Some(now);
    q.transfer_note = note_text.clone();
    let note = notification(&q, h.message_id, from, SenderType::Agent, NotifyAction::Transfer);
    insert_message(txn, &note).await?;
    let facts = QuestionFacts::from(&q);
    let mut events = vec![
        DomainEvent::QuestionTransferred {
            question: facts.clone(),
            from_serv_id: from.to_owned(),
            note: note_text,
        },
        DomainEvent::MessageCreated {
            question: facts,
            message: MessageFacts::new(&note, &rules.media_base),
        },
    ];
    // The first agent has room again.
    events.append(&mut routing::route_app(txn, rules, q.app_id, 1).await?);
    Ok(Applied::message_written(h.message_id, events))
}

/// The offered question, locked, if it is offered to this agent now.
async fn offered(txn: &DatabaseTransaction, id: &ObjectId, serv_id: &str) -> Result<question::Model, super::Refusal> {
    let Some(q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !serves_app(txn, serv_id, q.app_id).await? {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    let open = q.status == QuestionStatus::Waiting
        && q.offered_to.as_deref() == Some(serv_id)
        && q.offer_expires_at.is_some_and(|at| at > now_ms());
    if !open {
        return Err(Failure::field(
            ErrorCode::NotOffered,
            "question_id",
            "the question is not offered to this agent (any more)",
        )
        .into());
    }
    Ok(q)
}

/// accept: the agent takes the question offered to it.
pub async fn accept(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    serv_id: &ServId,
    message_id: &ObjectId,
) -> Handled {
    let serv_id = serv_id.as_str();
    let mut q = offered(txn, id, serv_id).await?;
    if !routing::has_room(txn, serv_id, now_ms(), Some(&q.id)).await? {
        return Err(at_capacity("serv_id").into());
    }
    let Some(events) = assign(txn, rules, &mut q, serv_id, message_id).await? else {
        return refuse(ErrorCode::QuestionAlreadyServed, "the question is no longer waiting");
    };
    Ok(Applied::message_written(message_id, events))
}

/// decline: the offer passes to the next agent with room.
pub async fn decline(txn: &DatabaseTransaction, rules: &Rules, id: &ObjectId, serv_id: &ServId) -> Handled {
    let serv_id = serv_id.as_str();
    let mut q = offered(txn, id, serv_id).await?;
    routing::withdraw(txn, &mut q, serv_id).await?;
    let events = routing::route_app(txn, rules, q.app_id, 1).await?;
    Ok(Applied::new(Reply::Done(Nothing {}), events))
}
