//! The question aggregate: ask, serve, quit / finish / request to finish, reopen.

use kefu_common::domain::command::Actor;
use kefu_common::domain::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::{CreatedQuestion, ErrorCode, Failure, Reply};
use kefu_common::domain::{
    DueKind, ImSessionId, Labels, NotifyAction, QuestionStatus, SenderType, ServId, Title, UserId,
};
use kefu_common::now_ms;
use kefu_common::store::entity::{message, question, question_label};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set};

use super::transitions::{self, Leave, Owner};
use super::writes::{countdown, insert_message, load, notification, restart, serves_app, update_of};
use super::{refuse, routing, Applied, Handled, Refusal, Rules};

/// A question as asked.
pub struct Asked<'a> {
    pub id: &'a ObjectId,
    pub app_id: i64,
    pub user_id: &'a UserId,
    pub title: &'a Title,
    pub labels: &'a Labels,
    pub im_session_id: Option<&'a ImSessionId>,
}

/// question/new: waiting, with its waiting countdown from now.
pub async fn create(txn: &DatabaseTransaction, rules: &Rules, asked: Asked<'_>) -> Handled {
    let now = now_ms();
    let wait_due = rules.timeouts_of(txn, asked.app_id).await?.due(DueKind::Wait, now);
    let row = question::Model {
        id: asked.id.to_string(),
        app_id: asked.app_id,
        user_id: asked.user_id.to_string(),
        title: asked.title.to_string(),
        labels: asked.labels.to_json(),
        status: QuestionStatus::Waiting,
        serv_id: None,
        created_at: now,
        updated_at: now,
        last_mess_text: None,
        last_mess_timestamp: None,
        last_mess_sender: None,
        last_mess_sender_type: None,
        last_mess_type: None,
        served_at: None,
        seq: 1,
        im_session_id: asked.im_session_id.map(|s| s.to_string()),
        due_kind: Some(DueKind::Wait),
        due_anchor: Some(now),
        due_at: wait_due,
        timed_out_at: None,
        first_response_at: None,
        offered_to: None,
        offer_expires_at: None,
        transfer_note: None,
    };
    question::Entity::insert(question::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    let labels: Vec<String> = asked.labels.iter().map(|l| l.to_string()).collect();
    if !labels.is_empty() {
        let rows = labels.iter().map(|label| question_label::ActiveModel {
            question_id: Set(row.id.clone()),
            label: Set(label.clone()),
        });
        question_label::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    let question = QuestionFacts::from(&row);
    let mut events = vec![DomainEvent::QuestionCreated { question, labels }];
    // Automatic routing may give it (or an older one) to an agent at once.
    events.append(&mut routing::route_app(txn, rules, asked.app_id, 1).await?);
    let served = events
        .iter()
        .any(|e| matches!(e, DomainEvent::QuestionServed { question } if question.question_id == row.id));
    let reply = Reply::QuestionCreated {
        question_id: row.id.clone(),
        question: CreatedQuestion {
            id: row.id.clone(),
            status: if served {
                QuestionStatus::Serving
            } else {
                QuestionStatus::Waiting
            },
        },
    };
    Ok(Applied::new(reply, events))
}

/// A question of an app the agent serves, locked; another tenant's answers as a
/// missing one (nothing leaks).
async fn agents_question(txn: &DatabaseTransaction, id: &ObjectId, serv_id: &str) -> Result<question::Model, Refusal> {
    let Some(q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !serves_app(txn, serv_id, q.app_id).await? {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    Ok(q)
}

/// The events of a transition and its notification.
fn transition_events(
    event: DomainEvent,
    q: &question::Model,
    note: &message::Model,
    rules: &Rules,
) -> Vec<DomainEvent> {
    vec![
        event,
        DomainEvent::MessageCreated {
            question: QuestionFacts::from(q),
            message: MessageFacts::new(note, &rules.media_base),
        },
    ]
}

/// serve: a waiting question to this agent; the first of two agents wins, and an
/// agent already serving its `max_concurrent` is refused.
pub async fn serve(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    serv_id: &ServId,
    message_id: &ObjectId,
) -> Handled {
    let serv_id = serv_id.as_str();
    let mut q = agents_question(txn, id, serv_id).await?;
    if let Some(refusal) = transitions::serve_refusal(q.status) {
        return Err(refusal.into());
    }
    if !routing::has_room(txn, serv_id, now_ms(), None).await? {
        return Err(at_capacity("serv_id").into());
    }
    let Some(events) = assign(txn, rules, &mut q, serv_id, message_id).await? else {
        return refuse(
            ErrorCode::QuestionAlreadyServed,
            "another agent took the question first",
        );
    };
    Ok(Applied::message_written(message_id, events))
}

/// The refusal of an agent that serves as many questions as it may.
pub(super) fn at_capacity(field: &str) -> Failure {
    Failure::field(
        ErrorCode::AgentAtCapacity,
        field,
        "the agent already serves as many questions as its max_concurrent",
    )
}

/// Gives the (locked) question to the agent if it still waits: serving, no countdown
/// until the agent writes, the serve notification (action 1). `None`: it no longer waits.
pub(super) async fn assign(
    txn: &DatabaseTransaction,
    rules: &Rules,
    q: &mut question::Model,
    serv_id: &str,
    message_id: &ObjectId,
) -> Result<Option<Vec<DomainEvent>>, DbErr> {
    let now = now_ms();
    let update = update_of(&q.id)
        .col_expr(question::Column::Status, Expr::value(QuestionStatus::Serving))
        .col_expr(question::Column::ServId, Expr::value(serv_id))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::ServedAt, Expr::value(now))
        .col_expr(question::Column::OfferedTo, Expr::value(Option::<String>::None))
        .col_expr(question::Column::OfferExpiresAt, Expr::value(Option::<i64>::None))
        .filter(question::Column::Status.eq(QuestionStatus::Waiting));
    // No countdown until the agent writes (the serve notification does not count).
    if countdown(update, None, None, now).exec(txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    q.status = QuestionStatus::Serving;
    q.serv_id = Some(serv_id.to_owned());
    q.served_at = Some(now);
    q.offered_to = None;
    q.offer_expires_at = None;
    let note = notification(q, message_id, serv_id, SenderType::Agent, NotifyAction::Serve);
    insert_message(txn, &note).await?;
    let event = DomainEvent::QuestionServed {
        question: QuestionFacts::from(&*q),
    };
    Ok(Some(transition_events(event, q, &note, rules)))
}

/// quit, finish and request_finish: only the serving agent may do any.
pub async fn leave(
    txn: &DatabaseTransaction,
    rules: &Rules,
    how: Leave,
    id: &ObjectId,
    serv_id: &ServId,
    message_id: &ObjectId,
) -> Handled {
    let serv_id = serv_id.as_str();
    let mut q = agents_question(txn, id, serv_id).await?;
    let agent = how.keeps_agent().then(|| serv_id.to_owned());
    let now = now_ms();
    let update = update_of(&q.id)
        .col_expr(question::Column::Status, Expr::value(how.target()))
        .col_expr(question::Column::ServId, Expr::value(agent.clone()))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .filter(question::Column::Status.eq(QuestionStatus::Serving))
        .filter(question::Column::ServId.eq(serv_id));
    let update = restart(txn, update, q.app_id, how.countdown(), rules, now).await?;
    if update.exec(txn).await?.rows_affected != 1 {
        return Err(transitions::agent_state_refusal(q.status, q.serv_id.as_deref(), serv_id).into());
    }
    q.status = how.target();
    q.serv_id = agent;
    let note = notification(&q, message_id, serv_id, SenderType::Agent, how.action());
    insert_message(txn, &note).await?;
    let event = how.event(QuestionFacts::from(&q));
    let mut events = transition_events(event, &q, &note, rules);
    match how {
        Leave::Finish => {
            if rules
                .settings_of(txn, &[q.app_id])
                .await?
                .get(&q.app_id)
                .is_some_and(|s| s.ask_rating)
            {
                let ask = notification(
                    &q,
                    &rules.ids.next_id(),
                    serv_id,
                    SenderType::Agent,
                    NotifyAction::RatingRequested,
                );
                insert_message(txn, &ask).await?;
                events.push(DomainEvent::MessageCreated {
                    question: QuestionFacts::from(&q),
                    message: MessageFacts::new(&ask, &rules.media_base),
                });
            }
            // The agent has room again: the oldest waiting question goes out.
            events.append(&mut routing::route_app(txn, rules, q.app_id, 1).await?);
        }
        Leave::Quit => {
            // Back to the waiting list, and its agent to the end of the line.
            events.append(&mut routing::after_quit(txn, rules, q.app_id, serv_id).await?);
        }
        Leave::RequestFinish => {}
    }
    Ok(Applied::message_written(message_id, events))
}

/// reopen: the user who asked reopens a finished question.
pub async fn reopen(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    actor: &Actor,
    message_id: &ObjectId,
) -> Handled {
    let Some(mut q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    let owner = Owner {
        app_id: q.app_id,
        user_id: &q.user_id,
    };
    if let Some(refusal) = transitions::user_refusal(owner, actor, "reopen the question") {
        return Err(refusal.into());
    }
    if q.status != QuestionStatus::Finished {
        return refuse(
            ErrorCode::QuestionNotFinished,
            "only a finished question can be reopened",
        );
    }
    let Some(events) = reopen_finished(txn, rules, &mut q, message_id).await? else {
        return refuse(ErrorCode::QuestionNotFinished, "the question changed state meanwhile");
    };
    Ok(Applied::message_written(message_id, events))
}

/// Reopens a finished question (already loaded, so locked): back to the agent who
/// finished it, or to the waiting list; writes the reopen notification. Updates `q` and
/// answers the events, or `None` if it was not finished.
pub(super) async fn reopen_finished(
    txn: &DatabaseTransaction,
    rules: &Rules,
    q: &mut question::Model,
    message_id: &ObjectId,
) -> Result<Option<Vec<DomainEvent>>, DbErr> {
    let now = now_ms();
    let (status, due) = transitions::reopened(q.serv_id.is_some());
    let update = update_of(&q.id)
        .col_expr(question::Column::Status, Expr::value(status))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::TimedOutAt, Expr::value(Option::<i64>::None))
        .filter(question::Column::Status.eq(QuestionStatus::Finished));
    let update = restart(txn, update, q.app_id, due, rules, now).await?;
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    q.status = status;
    q.timed_out_at = None;
    q.due_kind = due;
    let note = notification(q, message_id, &q.user_id, SenderType::User, NotifyAction::Reopen);
    insert_message(txn, &note).await?;
    let event = DomainEvent::QuestionReopened {
        question: QuestionFacts::from(&*q),
    };
    let mut events = transition_events(event, q, &note, rules);
    if status == QuestionStatus::Waiting {
        events.append(&mut routing::route_app(txn, rules, q.app_id, 1).await?);
    }
    Ok(Some(events))
}
