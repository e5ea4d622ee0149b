//! The domain mutations, one function per command, all inside the caller's transaction.
//! Refusals are `Failure`s (recorded, answered); only database trouble is an error.

use kefu_common::command::{Actor, Command};
use kefu_common::domain::{Labels, MessageType, NotifyAction, QuestionStatus, SenderType, SessionDigest, Text};
use kefu_common::entity::{
    agent_app, agent_binding, leave_message, leave_message_app, message, question, question_label, session, user,
};
use kefu_common::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::ids::ObjectId;
use kefu_common::leave::Tag;
use kefu_common::now_ms;
use kefu_common::outcome::{CreatedQuestion, ErrorCode, Failure, Outcome, Reply};
use kefu_common::store;
use kefu_common::timeouts::{self, DueKind, Timeouts};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set, UpdateMany};

type Applied = Result<Result<Reply, Failure>, DbErr>;

/// What applying commands needs from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The prefix of media URLs in events (`KEFU_MEDIA_BASE_URL`).
    pub media_base: String,
    /// The timeouts of apps that set none of their own.
    pub timeouts: Timeouts,
    /// Ids of the messages a worker writes on its own (deadlines, automatic reopens).
    pub ids: std::sync::Arc<kefu_common::ids::IdGen>,
}

impl Rules {
    pub fn from_config(config: &kefu_common::config::Config) -> Self {
        Rules {
            media_base: config.media_base(),
            timeouts: Timeouts::defaults(config),
            ids: std::sync::Arc::default(),
        }
    }
}

/// The question's countdown from now on: `None` stops it.
fn countdown(
    update: UpdateMany<question::Entity>,
    kind: Option<DueKind>,
    due_at: Option<i64>,
    now: i64,
) -> UpdateMany<question::Entity> {
    update
        .col_expr(question::Column::DueKind, Expr::value(kind.map(|k| k as i16)))
        .col_expr(question::Column::DueAnchor, Expr::value(kind.map(|_| now)))
        .col_expr(question::Column::DueAt, Expr::value(due_at))
}

/// Starts a countdown of `kind` for a question of `app_id` at `now`.
async fn start(
    txn: &DatabaseTransaction,
    update: UpdateMany<question::Entity>,
    app_id: i64,
    kind: DueKind,
    rules: &Rules,
    now: i64,
) -> Result<UpdateMany<question::Entity>, DbErr> {
    let due = timeouts::of_app(txn, app_id, &rules.timeouts).await?.due(kind, now);
    Ok(countdown(update, Some(kind), due, now))
}

/// What applying a command produced: the answer, and (when it succeeded) the domain
/// events of the change, to be written to the outbox in the same transaction.
#[derive(Debug)]
pub struct Effects {
    pub outcome: Outcome,
    pub events: Vec<DomainEvent>,
}

/// Applies a command inside `txn`.
pub async fn apply(txn: &DatabaseTransaction, command: &Command, rules: &Rules) -> Result<Effects, DbErr> {
    let outcome = change(txn, command, rules).await?;
    let events = match &outcome {
        Outcome::Ok { .. } => events_of(txn, command, &rules.media_base).await?,
        Outcome::Failed(_) => Vec::new(),
    };
    Ok(Effects { outcome, events })
}

/// The events of a command that succeeded, read back from the transaction's own writes.
async fn events_of(txn: &DatabaseTransaction, command: &Command, media_base: &str) -> Result<Vec<DomainEvent>, DbErr> {
    use Command::*;
    let question = |id: &ObjectId| {
        let id = id.to_string();
        async move { store::question(txn, &id).await }
    };
    let message_of = |id: &ObjectId| {
        let id = id.to_string();
        async move { message::Entity::find_by_id(id).one(txn).await }
    };
    let with_message = |q: &question::Model, m: Option<message::Model>| {
        m.map(|m| DomainEvent::MessageCreated {
            question: QuestionFacts::from(q),
            message: MessageFacts::new(&m, media_base),
        })
    };
    let mut events = Vec::new();
    match command {
        SessionCreateV2 {
            app_id,
            user_id,
            device_id,
            ..
        } => events.push(DomainEvent::SessionOpened {
            app_id: *app_id,
            user_id: user_id.to_string(),
            device_id: device_id.as_ref().map(|d| d.to_string()),
        }),
        AgentBindV2 { session, serv_id } | AgentUnbindV2 { session, serv_id } => {
            let app_id = session::Entity::find_by_id(session.as_str())
                .one(txn)
                .await?
                .map_or(0, |s| s.app_id);
            let serv_id = serv_id.to_string();
            events.push(if matches!(command, AgentBindV2 { .. }) {
                DomainEvent::AgentBound { app_id, serv_id }
            } else {
                DomainEvent::AgentUnbound { app_id, serv_id }
            });
        }
        QuestionCreateV1 {
            question_id, labels, ..
        } => {
            if let Some(q) = question(question_id).await? {
                let labels = labels.iter().map(|l| l.to_string()).collect();
                events.push(DomainEvent::QuestionCreated {
                    question: (&q).into(),
                    labels,
                });
            }
        }
        QuestionServeV1 {
            question_id,
            message_id,
            ..
        }
        | QuestionQuitV1 {
            question_id,
            message_id,
            ..
        }
        | QuestionFinishV1 {
            question_id,
            message_id,
            ..
        }
        | QuestionRequestFinishV1 {
            question_id,
            message_id,
            ..
        }
        | QuestionReopenV1 {
            question_id,
            message_id,
            ..
        } => {
            if let Some(q) = question(question_id).await? {
                let facts = QuestionFacts::from(&q);
                events.push(match command {
                    QuestionServeV1 { .. } => DomainEvent::QuestionServed { question: facts },
                    QuestionQuitV1 { .. } => DomainEvent::QuestionQuit { question: facts },
                    QuestionFinishV1 { .. } => DomainEvent::QuestionFinished { question: facts },
                    QuestionRequestFinishV1 { .. } => DomainEvent::QuestionFinishRequested { question: facts },
                    _ => DomainEvent::QuestionReopened { question: facts },
                });
                events.extend(with_message(&q, message_of(message_id).await?));
            }
        }
        MessageSendTextV1 {
            question_id,
            message_id,
            ..
        }
        | MessageSendImageV1 {
            question_id,
            message_id,
            ..
        }
        | MessageSendAudioV1 {
            question_id,
            message_id,
            ..
        } => {
            if let Some(q) = question(question_id).await? {
                // A late reply to a question a deadline closed reopened it first (a
                // reopen notification of this same transaction, hence the same seq).
                let reopened = message::Entity::find()
                    .filter(message::Column::QuestionId.eq(q.id.as_str()))
                    .filter(message::Column::Seq.eq(q.seq))
                    .filter(message::Column::Action.eq(NotifyAction::Reopen as i16))
                    .one(txn)
                    .await?;
                if let Some(notification) = reopened {
                    events.push(DomainEvent::QuestionReopened {
                        question: QuestionFacts::from(&q),
                    });
                    events.extend(with_message(&q, Some(notification)));
                }
                events.extend(with_message(&q, message_of(message_id).await?));
            }
        }
        LeaveMessageCreateV1 { id, app_id, .. } => events.push(DomainEvent::LeaveMessageCreated {
            app_id: *app_id,
            id: id.to_string(),
        }),
        LeaveMessageTagV1 { id, tag, .. } | LeaveMessageTagByAdminV1 { id, tag } => {
            let app_id = leave_message_app::Entity::find_by_id(id.to_string())
                .one(txn)
                .await?
                .map_or(0, |m| m.app_id);
            events.push(DomainEvent::LeaveMessageTagged {
                app_id,
                id: id.to_string(),
                tag: tag.as_ref().map(|t| t.to_string()),
            });
        }
    }
    Ok(events)
}

async fn change(txn: &DatabaseTransaction, command: &Command, rules: &Rules) -> Result<Outcome, DbErr> {
    use Command::*;
    let result = match command {
        SessionCreateV2 {
            session,
            app_id,
            user_id,
            user_name,
            user_image_url,
            device_id,
            expires_at,
            groups,
        } => {
            // Re-checked here: the app may have been disabled since the ingest looked.
            if app_disabled(txn, *app_id).await? {
                return Ok(Outcome::Failed(Failure::new(
                    ErrorCode::AppDisabled,
                    "this app is disabled",
                )));
            }
            let now = now_ms();
            let existing = user::Entity::find_by_id((*app_id, user_id.to_string()))
                .one(txn)
                .await?;
            let image = user_image_url.as_ref().map(|u| u.to_string());
            match existing {
                Some(found) => {
                    let mut row: user::ActiveModel = found.into();
                    row.user_name = Set(user_name.to_string());
                    if image.is_some() {
                        row.user_image_url = Set(image);
                    }
                    if let Some(groups) = groups {
                        row.groups = Set(Some(groups.to_json()));
                    }
                    row.updated_at = Set(now);
                    row.update(txn).await?;
                }
                None => {
                    user::ActiveModel {
                        app_id: Set(*app_id),
                        user_id: Set(user_id.to_string()),
                        user_name: Set(user_name.to_string()),
                        user_image_url: Set(image),
                        created_at: Set(now),
                        updated_at: Set(now),
                        groups: Set(groups.as_ref().map(|g| g.to_json())),
                    }
                    .insert(txn)
                    .await?;
                }
            }
            session::ActiveModel {
                session: Set(session.as_str().to_owned()),
                app_id: Set(*app_id),
                user_id: Set(user_id.to_string()),
                device_id: Set(device_id.as_ref().map(|d| d.to_string())),
                created_at: Set(now),
                expires_at: Set(*expires_at),
            }
            .insert(txn)
            .await?;
            // The token itself is known to the ingest only (it answers it).
            Ok(Reply::SessionOpened {
                expires_at: expires_at / 1000,
            })
        }
        AgentBindV2 { session, serv_id } => bind(txn, session, serv_id.as_str()).await?,
        AgentUnbindV2 { session, serv_id } => {
            agent_binding::Entity::delete_many()
                .filter(agent_binding::Column::Session.eq(session.as_str()))
                .filter(agent_binding::Column::ServId.eq(serv_id.as_str()))
                .exec(txn)
                .await?;
            Ok(Reply::Done {})
        }
        QuestionCreateV1 {
            question_id,
            app_id,
            user_id,
            title,
            labels,
            im_session_id,
        } => {
            let asked = NewQuestion {
                id: question_id,
                app_id: *app_id,
                user_id: user_id.as_str(),
                title: title.as_str(),
                labels,
                im_session_id: im_session_id.as_ref().map(|s| s.as_str()),
            };
            create_question(txn, asked, rules).await?
        }
        QuestionServeV1 {
            question_id,
            serv_id,
            message_id,
        } => serve(txn, question_id, serv_id.as_str(), message_id).await?,
        QuestionQuitV1 {
            question_id,
            serv_id,
            message_id,
        } => {
            leave(
                txn,
                rules,
                question_id,
                serv_id.as_str(),
                message_id,
                NotifyAction::Quit,
            )
            .await?
        }
        QuestionFinishV1 {
            question_id,
            serv_id,
            message_id,
        } => {
            leave(
                txn,
                rules,
                question_id,
                serv_id.as_str(),
                message_id,
                NotifyAction::Finish,
            )
            .await?
        }
        QuestionRequestFinishV1 {
            question_id,
            serv_id,
            message_id,
        } => {
            leave(
                txn,
                rules,
                question_id,
                serv_id.as_str(),
                message_id,
                NotifyAction::RequestFinish,
            )
            .await?
        }
        QuestionReopenV1 {
            question_id,
            actor,
            message_id,
        } => reopen(txn, rules, question_id, actor, message_id).await?,
        MessageSendTextV1 {
            question_id,
            message_id,
            actor,
            sender_type,
            text,
            exclude_from_timeout,
        } => {
            let sent = Sent {
                id: question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: Content::Text(text),
                exclude_from_timeout: *exclude_from_timeout,
            };
            send_message(txn, rules, sent).await?
        }
        LeaveMessageCreateV1 {
            id,
            app_id,
            acc_name,
            user_id,
            contact,
            callback,
            tel,
            email,
            subject,
            content,
            user_data,
        } => {
            let row = leave_message::ActiveModel {
                id: Set(id.to_string()),
                acc_type: Set("app".to_owned()),
                acc_name: Set(acc_name.clone()),
                user_id: Set(user_id.as_ref().map(|u| u.to_string())),
                contact: Set(contact.to_string()),
                callback: Set(callback.as_str().to_owned()),
                tel: Set(tel.as_ref().map(|t| t.as_str().to_owned())),
                email: Set(email.as_ref().map(|e| e.as_str().to_owned())),
                subject: Set(subject.to_string()),
                content: Set(content.as_ref().map(|c| c.to_string())),
                create_time: Set(chrono::Utc::now()),
                user_data: Set(user_data.clone()),
                tag: Set(None),
            };
            row.insert(txn).await?;
            leave_message_app::ActiveModel {
                message_id: Set(id.to_string()),
                app_id: Set(*app_id),
            }
            .insert(txn)
            .await?;
            Ok(Reply::LeaveMessageStored { id: id.to_string() })
        }
        LeaveMessageTagV1 { id, serv_id, tag } => {
            tag_leave_message(txn, &id.to_string(), Some(serv_id.as_str()), tag.as_ref()).await?
        }
        LeaveMessageTagByAdminV1 { id, tag } => tag_leave_message(txn, &id.to_string(), None, tag.as_ref()).await?,
        MessageSendImageV1 {
            question_id,
            message_id,
            actor,
            sender_type,
            media_key,
            exclude_from_timeout,
        } => {
            let sent = Sent {
                id: question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: Content::Image(media_key),
                exclude_from_timeout: *exclude_from_timeout,
            };
            send_message(txn, rules, sent).await?
        }
        MessageSendAudioV1 {
            question_id,
            message_id,
            actor,
            sender_type,
            media_key,
            audio_len,
            exclude_from_timeout,
        } => {
            let sent = Sent {
                id: question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: Content::Audio(media_key, *audio_len),
                exclude_from_timeout: *exclude_from_timeout,
            };
            send_message(txn, rules, sent).await?
        }
    };
    Ok(match result {
        Ok(reply) => Outcome::reply(&reply),
        Err(failure) => Outcome::Failed(failure),
    })
}

/// Sets or clears a leave message's tag. The agent's apps are checked again here: an
/// operator may have taken the app from the agent since the ingest looked.
/// `serv_id` is `None` for operators (admin API), who see every app.
async fn tag_leave_message(txn: &DatabaseTransaction, id: &str, serv_id: Option<&str>, tag: Option<&Tag>) -> Applied {
    let Some(owner) = leave_message_app::Entity::find_by_id(id.to_owned()).one(txn).await? else {
        return refuse(ErrorCode::UnknownLeaveMessage, "no such leave message");
    };
    if let Some(serv_id) = serv_id {
        if !serves_app(txn, serv_id, owner.app_id).await? {
            return refuse(ErrorCode::UnknownLeaveMessage, "no such leave message");
        }
    }
    // `create_time` is assigned to itself: MySQL's `ON UPDATE CURRENT_TIMESTAMP` (the
    // spec's DDL) would otherwise move it.
    leave_message::Entity::update_many()
        .col_expr(leave_message::Column::Tag, Expr::value(tag.map(|t| t.to_string())))
        .col_expr(
            leave_message::Column::CreateTime,
            Expr::col(leave_message::Column::CreateTime).into(),
        )
        .filter(leave_message::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(Ok(Reply::Done {}))
}

fn refuse(code: ErrorCode, debug: impl Into<String>) -> Applied {
    Ok(Err(Failure::new(code, debug)))
}

/// Whether the agent serves this (enabled) app. Checked by the ingest too; checked again
/// here because an operator may disable the app or take it from the agent in between.
async fn serves_app(txn: &DatabaseTransaction, serv_id: &str, app_id: i64) -> Result<bool, DbErr> {
    Ok(agent_app::Entity::find_by_id((serv_id.to_owned(), app_id))
        .one(txn)
        .await?
        .is_some()
        && !app_disabled(txn, app_id).await?)
}

async fn app_disabled(txn: &DatabaseTransaction, app_id: i64) -> Result<bool, DbErr> {
    Ok(store::app_by_id(txn, app_id)
        .await?
        .is_none_or(|a| a.disabled_at.is_some()))
}

async fn bind(txn: &DatabaseTransaction, session: &SessionDigest, serv_id: &str) -> Applied {
    // The ingest checked password and session; the session may have expired or been
    // revoked, and the agent disabled, since.
    let Some(info) = store::session(txn, session).await? else {
        return refuse(ErrorCode::InvalidSession, "session is unknown or expired");
    };
    if info.session.expires_at <= now_ms() {
        return refuse(ErrorCode::InvalidSession, "session is unknown or expired");
    }
    if store::agent(txn, serv_id)
        .await?
        .is_none_or(|a| a.disabled_at.is_some())
    {
        return refuse(ErrorCode::AgentDisabled, "this agent account is disabled");
    }
    if !serves_app(txn, serv_id, info.session.app_id).await? {
        return refuse(ErrorCode::Forbidden, "this agent does not serve the session's app");
    }
    agent_binding::Entity::delete_by_id(session.as_str()).exec(txn).await?;
    agent_binding::ActiveModel {
        session: Set(session.to_string()),
        serv_id: Set(serv_id.to_owned()),
        bound_at: Set(now_ms()),
    }
    .insert(txn)
    .await?;
    Ok(Ok(Reply::Done {}))
}

struct NewQuestion<'a> {
    id: &'a ObjectId,
    app_id: i64,
    user_id: &'a str,
    title: &'a str,
    labels: &'a Labels,
    im_session_id: Option<&'a str>,
}

async fn create_question(txn: &DatabaseTransaction, asked: NewQuestion<'_>, rules: &Rules) -> Applied {
    let NewQuestion {
        id,
        app_id,
        user_id,
        title,
        labels,
        im_session_id,
    } = asked;
    let now = now_ms();
    let wait_due = timeouts::of_app(txn, app_id, &rules.timeouts)
        .await?
        .due(DueKind::Wait, now);
    question::ActiveModel {
        id: Set(id.to_string()),
        app_id: Set(app_id),
        user_id: Set(user_id.to_owned()),
        title: Set(title.to_owned()),
        labels: Set(labels.to_json()),
        status: Set(QuestionStatus::Waiting as i16),
        serv_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_mess_text: Set(None),
        last_mess_timestamp: Set(None),
        last_mess_sender: Set(None),
        last_mess_sender_type: Set(None),
        last_mess_type: Set(None),
        served_at: Set(None),
        seq: Set(1),
        im_session_id: Set(im_session_id.map(str::to_owned)),
        due_kind: Set(Some(DueKind::Wait as i16)),
        due_anchor: Set(Some(now)),
        due_at: Set(wait_due),
        timed_out_at: Set(None),
    }
    .insert(txn)
    .await?;
    let rows: Vec<question_label::ActiveModel> = labels
        .iter()
        .map(|l| question_label::ActiveModel {
            question_id: Set(id.to_string()),
            label: Set(l.to_string()),
        })
        .collect();
    if !rows.is_empty() {
        question_label::Entity::insert_many(rows).exec(txn).await?;
    }
    Ok(Ok(Reply::QuestionCreated {
        question_id: id.to_string(),
        question: CreatedQuestion {
            id: id.to_string(),
            status: QuestionStatus::Waiting as i16,
        },
    }))
}

/// Takes the question's row lock by incrementing its sequence number, then reads it: the
/// transactions changing one question run one after the other, in the order of their
/// sequence numbers, and see each other's commits. A refusal rolls the increment back.
async fn load(txn: &DatabaseTransaction, id: &ObjectId) -> Result<Option<question::Model>, DbErr> {
    question::Entity::update_many()
        .col_expr(question::Column::Seq, Expr::col(question::Column::Seq).add(1))
        .filter(question::Column::Id.eq(id.as_str()))
        .exec(txn)
        .await?;
    store::question(txn, id.as_str()).await
}

/// The refusal for an agent acting on a question in a state that does not allow it.
fn agent_state_refusal(q: &question::Model, serv_id: &str) -> Failure {
    match QuestionStatus::from_i16(q.status) {
        Some(QuestionStatus::Waiting) => Failure::new(
            ErrorCode::QuestionNotServed,
            "the question is waiting; no agent serves it yet",
        ),
        Some(QuestionStatus::Finished) => Failure::new(ErrorCode::QuestionFinished, "the question is finished"),
        _ if q.serv_id.as_deref() != Some(serv_id) => Failure::new(
            ErrorCode::QuestionServedByOther,
            "the question is served by another agent",
        ),
        _ => Failure::new(ErrorCode::QuestionAlreadyServed, "the question changed state meanwhile"),
    }
}

async fn notify(
    txn: &DatabaseTransaction,
    seq: i64,
    question_id: &ObjectId,
    message_id: &ObjectId,
    sender: &str,
    sender_type: SenderType,
    action: NotifyAction,
) -> Result<(), DbErr> {
    message::ActiveModel {
        id: Set(message_id.to_string()),
        question_id: Set(question_id.to_string()),
        sender: Set(sender.to_owned()),
        sender_type: Set(sender_type as i16),
        msg_type: Set(MessageType::Notification as i16),
        text: Set(None),
        action: Set(Some(action as i16)),
        audio_url: Set(None),
        audio_len: Set(None),
        image_url: Set(None),
        created_at: Set(now_ms()),
        media_key: Set(None),
        seq: Set(seq),
        // Notifications never count towards the user-reply countdown.
        exclude_from_timeout: Set(true),
    }
    .insert(txn)
    .await?;
    Ok(())
}

async fn serve(txn: &DatabaseTransaction, id: &ObjectId, serv_id: &str, message_id: &ObjectId) -> Applied {
    let Some(q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !serves_app(txn, serv_id, q.app_id).await? {
        // Another tenant's question answers as a missing one: nothing leaks.
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    match QuestionStatus::from_i16(q.status) {
        Some(QuestionStatus::Waiting) => {}
        Some(QuestionStatus::Finished) => return refuse(ErrorCode::QuestionFinished, "the question is finished"),
        _ => return refuse(ErrorCode::QuestionAlreadyServed, "the question is already being served"),
    }
    let now = now_ms();
    let update = question::Entity::update_many()
        .col_expr(question::Column::Status, Expr::value(QuestionStatus::Serving as i16))
        .col_expr(question::Column::ServId, Expr::value(serv_id))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::ServedAt, Expr::value(now))
        .filter(question::Column::Id.eq(id.as_str()))
        .filter(question::Column::Status.eq(QuestionStatus::Waiting as i16));
    // No countdown until the agent writes (the serve notification does not count).
    let updated = countdown(update, None, None, now).exec(txn).await?;
    if updated.rows_affected != 1 {
        return refuse(
            ErrorCode::QuestionAlreadyServed,
            "another agent took the question first",
        );
    }
    notify(
        txn,
        q.seq,
        id,
        message_id,
        serv_id,
        SenderType::Agent,
        NotifyAction::Serve,
    )
    .await?;
    Ok(Ok(Reply::MessageWritten {
        message_id: message_id.to_string(),
    }))
}

/// quit (back to waiting, its waiting countdown from now), finish, and the request to
/// finish (still served; the end-confirmation countdown starts): only the serving
/// agent may do any.
async fn leave(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    serv_id: &str,
    message_id: &ObjectId,
    action: NotifyAction,
) -> Applied {
    let to = match action {
        NotifyAction::Quit => QuestionStatus::Waiting,
        NotifyAction::RequestFinish => QuestionStatus::Serving,
        _ => QuestionStatus::Finished,
    };
    let Some(q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !serves_app(txn, serv_id, q.app_id).await? {
        // Another tenant's question answers as a missing one: nothing leaks.
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    let keep_agent = if to == QuestionStatus::Waiting {
        None
    } else {
        Some(serv_id.to_owned())
    };
    let now = now_ms();
    let update = question::Entity::update_many()
        .col_expr(question::Column::Status, Expr::value(to as i16))
        .col_expr(question::Column::ServId, Expr::value(keep_agent))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .filter(question::Column::Id.eq(id.as_str()))
        .filter(question::Column::Status.eq(QuestionStatus::Serving as i16))
        .filter(question::Column::ServId.eq(serv_id));
    let update = match action {
        NotifyAction::Quit => start(txn, update, q.app_id, DueKind::Wait, rules, now).await?,
        NotifyAction::RequestFinish => start(txn, update, q.app_id, DueKind::EndConfirm, rules, now).await?,
        _ => countdown(update, None, None, now),
    };
    let updated = update.exec(txn).await?;
    if updated.rows_affected != 1 {
        return Ok(Err(agent_state_refusal(&q, serv_id)));
    }
    notify(txn, q.seq, id, message_id, serv_id, SenderType::Agent, action).await?;
    Ok(Ok(Reply::MessageWritten {
        message_id: message_id.to_string(),
    }))
}

/// A user's question of another app answers as a missing one (nothing leaks).
fn same_app(q: &question::Model, actor: &Actor) -> bool {
    matches!(actor, Actor::User { app_id, .. } if *app_id == q.app_id)
}

fn owns(q: &question::Model, actor: &Actor) -> bool {
    matches!(actor, Actor::User { app_id, user_id } if *app_id == q.app_id && user_id.as_str() == q.user_id)
}

async fn reopen(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    actor: &Actor,
    message_id: &ObjectId,
) -> Applied {
    let Some(q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    if !same_app(&q, actor) {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    }
    if !owns(&q, actor) {
        return refuse(
            ErrorCode::NotQuestionOwner,
            "only the user who asked may reopen the question",
        );
    }
    if q.status != QuestionStatus::Finished as i16 {
        return refuse(
            ErrorCode::QuestionNotFinished,
            "only a finished question can be reopened",
        );
    }
    if !reopen_finished(txn, rules, id, &q, message_id).await? {
        return refuse(ErrorCode::QuestionNotFinished, "the question changed state meanwhile");
    }
    Ok(Ok(Reply::MessageWritten {
        message_id: message_id.to_string(),
    }))
}

/// Reopens a finished question (already loaded, so locked): back to the agent who
/// finished it, or to the waiting list (its waiting countdown from now) if there was
/// none; writes the reopen notification. Answers false if it was not finished.
async fn reopen_finished(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    q: &question::Model,
    message_id: &ObjectId,
) -> Result<bool, DbErr> {
    let now = now_ms();
    let update = question::Entity::update_many()
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::TimedOutAt, Expr::value(Option::<i64>::None))
        .filter(question::Column::Id.eq(q.id.as_str()))
        .filter(question::Column::Status.eq(QuestionStatus::Finished as i16));
    let update = if q.serv_id.is_some() {
        countdown(
            update.col_expr(question::Column::Status, Expr::value(QuestionStatus::Serving as i16)),
            None,
            None,
            now,
        )
    } else {
        let update = update.col_expr(question::Column::Status, Expr::value(QuestionStatus::Waiting as i16));
        start(txn, update, q.app_id, DueKind::Wait, rules, now).await?
    };
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(false);
    }
    notify(
        txn,
        q.seq,
        id,
        message_id,
        &q.user_id,
        SenderType::User,
        NotifyAction::Reopen,
    )
    .await?;
    Ok(true)
}

/// What a chat message carries.
enum Content<'a> {
    Text(&'a Text),
    /// A JPEG's media key.
    Image(&'a str),
    /// An audio file's media key and its length in seconds.
    Audio(&'a str, i32),
}

impl Content<'_> {
    fn kind(&self) -> MessageType {
        match self {
            Content::Text(_) => MessageType::Text,
            Content::Image(_) => MessageType::Image,
            Content::Audio(..) => MessageType::Audio,
        }
    }
}

/// A chat message to write.
struct Sent<'a> {
    id: &'a ObjectId,
    message_id: &'a ObjectId,
    actor: &'a Actor,
    sender_type: SenderType,
    content: Content<'a>,
    exclude_from_timeout: bool,
}

/// send_text / send_image / send_audio: the same state rules for every kind. An agent's
/// message (unless excluded) starts the user-reply countdown; a user's message to a
/// served question stops any countdown. A user's message to a question a deadline
/// closed reopens it first (the deadline committed first won; the late reply reopens).
async fn send_message(txn: &DatabaseTransaction, rules: &Rules, sent: Sent<'_>) -> Applied {
    let Sent {
        id,
        message_id,
        actor,
        sender_type,
        content,
        exclude_from_timeout,
    } = sent;
    let Some(mut q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    let sender = match (actor, sender_type) {
        (Actor::User { user_id, .. }, SenderType::User) => {
            if !same_app(&q, actor) {
                return refuse(ErrorCode::UnknownQuestion, "no such question");
            }
            if !owns(&q, actor) {
                return refuse(
                    ErrorCode::NotQuestionOwner,
                    "only the user who asked may write as the user",
                );
            }
            if q.status == QuestionStatus::Finished as i16 {
                if q.timed_out_at.is_none() {
                    return refuse(ErrorCode::QuestionFinished, "the question is finished; reopen it first");
                }
                if !reopen_finished(txn, rules, id, &q, &rules.ids.next_id()).await? {
                    return refuse(ErrorCode::QuestionFinished, "the question changed state meanwhile");
                }
                q = store::question(txn, id.as_str()).await?.unwrap_or(q);
            }
            user_id.to_string()
        }
        (Actor::Agent { serv_id }, SenderType::Agent) => {
            if !serves_app(txn, serv_id.as_str(), q.app_id).await? {
                // Another tenant's question answers as a missing one: nothing leaks.
                return refuse(ErrorCode::UnknownQuestion, "no such question");
            }
            if q.status != QuestionStatus::Serving as i16 || q.serv_id.as_deref() != Some(serv_id.as_str()) {
                return Ok(Err(agent_state_refusal(&q, serv_id.as_str())));
            }
            serv_id.to_string()
        }
        _ => return refuse(ErrorCode::Forbidden, "sender_type does not match the session"),
    };
    let now = now_ms();
    let (text, media_key, audio_len) = match &content {
        Content::Text(text) => (Some(text.to_string()), None, None),
        Content::Image(key) => (None, Some(key.to_string()), None),
        Content::Audio(key, len) => (None, Some(key.to_string()), Some(*len)),
    };
    message::ActiveModel {
        id: Set(message_id.to_string()),
        question_id: Set(id.to_string()),
        sender: Set(sender.clone()),
        sender_type: Set(sender_type as i16),
        msg_type: Set(content.kind() as i16),
        text: Set(text.clone()),
        action: Set(None),
        audio_url: Set(None),
        audio_len: Set(audio_len),
        image_url: Set(None),
        created_at: Set(now),
        media_key: Set(media_key),
        seq: Set(q.seq),
        exclude_from_timeout: Set(exclude_from_timeout && sender_type == SenderType::Agent),
    }
    .insert(txn)
    .await?;
    // Re-check the state in the UPDATE itself: a quit or finish committed since the read
    // above makes it match nothing, and the whole send is refused (and rolled back).
    let mut update = question::Entity::update_many()
        .col_expr(question::Column::LastMessText, Expr::value(text))
        .col_expr(question::Column::LastMessTimestamp, Expr::value(now))
        .col_expr(question::Column::LastMessSender, Expr::value(sender))
        .col_expr(question::Column::LastMessSenderType, Expr::value(sender_type as i16))
        .col_expr(question::Column::LastMessType, Expr::value(content.kind() as i16))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .filter(question::Column::Id.eq(id.as_str()));
    update = match actor {
        Actor::Agent { serv_id } => update
            .filter(question::Column::Status.eq(QuestionStatus::Serving as i16))
            .filter(question::Column::ServId.eq(serv_id.as_str())),
        Actor::User { .. } => update.filter(question::Column::Status.ne(QuestionStatus::Finished as i16)),
    };
    let pending = q.due_kind.and_then(DueKind::from_i16);
    update = match actor {
        // An end request keeps its own countdown while the agent goes on writing.
        Actor::Agent { .. } if !exclude_from_timeout && pending != Some(DueKind::EndConfirm) => {
            start(txn, update, q.app_id, DueKind::UserReply, rules, now).await?
        }
        Actor::User { .. } if q.status == QuestionStatus::Serving as i16 => countdown(update, None, None, now),
        // Waiting: the waiting countdown goes on.
        _ => update,
    };
    if update.exec(txn).await?.rows_affected != 1 {
        let current = load(txn, id).await?.unwrap_or(q);
        return Ok(Err(match actor {
            Actor::Agent { serv_id } => agent_state_refusal(&current, serv_id.as_str()),
            Actor::User { .. } => {
                Failure::new(ErrorCode::QuestionFinished, "the question is finished; reopen it first")
            }
        }));
    }
    Ok(Ok(Reply::MessageWritten {
        message_id: message_id.to_string(),
    }))
}

/// Fires a question's deadline if it is due at `now`, inside `txn` (which holds the
/// question's lock from `load`): the state change, its notification and the events.
/// The durations are read again first: a changed or switched-off timeout moves or
/// drops the deadline instead. Answers the events (none when nothing fired).
pub async fn fire_deadline(
    txn: &DatabaseTransaction,
    rules: &Rules,
    id: &ObjectId,
    now: i64,
) -> Result<Vec<DomainEvent>, DbErr> {
    let Some(q) = load(txn, id).await? else {
        return Ok(Vec::new());
    };
    // Someone else fired or cancelled it since the sweep looked.
    let (Some(kind), Some(anchor), Some(due_at)) = (q.due_kind.and_then(DueKind::from_i16), q.due_anchor, q.due_at)
    else {
        return Ok(Vec::new());
    };
    if due_at > now {
        return Ok(Vec::new());
    }
    let only_this = || question::Entity::update_many().filter(question::Column::Id.eq(q.id.as_str()));
    if q.status != kind.status() as i16 {
        // A countdown left behind by a state it does not belong to: drop it.
        countdown(only_this(), None, None, now).exec(txn).await?;
        return Ok(Vec::new());
    }
    let due = timeouts::of_app(txn, q.app_id, &rules.timeouts)
        .await?
        .due(kind, anchor);
    match due {
        Some(due) if due <= now => {}
        // Lengthened or switched off since it was scheduled.
        _ => {
            only_this()
                .col_expr(question::Column::DueAt, Expr::value(due))
                .exec(txn)
                .await?;
            return Ok(Vec::new());
        }
    }
    let action = match kind {
        DueKind::EndConfirm => NotifyAction::Finish,
        DueKind::UserReply | DueKind::Wait => NotifyAction::Timeout,
    };
    let update = only_this()
        .col_expr(question::Column::Status, Expr::value(QuestionStatus::Finished as i16))
        .col_expr(question::Column::UpdatedAt, Expr::value(now))
        .col_expr(question::Column::TimedOutAt, Expr::value(now));
    countdown(update, None, None, now).exec(txn).await?;
    let message_id = rules.ids.next_id();
    let (sender, sender_type) = match &q.serv_id {
        Some(serv_id) => (serv_id.clone(), SenderType::Agent),
        None => (q.user_id.clone(), SenderType::User),
    };
    notify(txn, q.seq, id, &message_id, &sender, sender_type, action).await?;
    let Some(after) = store::question(txn, id.as_str()).await? else {
        return Ok(Vec::new());
    };
    let facts = QuestionFacts::from(&after);
    let mut events = vec![match kind {
        DueKind::EndConfirm => DomainEvent::QuestionFinished {
            question: facts.clone(),
        },
        _ => DomainEvent::QuestionTimedOut {
            question: facts.clone(),
        },
    }];
    if let Some(m) = message::Entity::find_by_id(message_id.to_string()).one(txn).await? {
        events.push(DomainEvent::MessageCreated {
            question: facts,
            message: MessageFacts::new(&m, &rules.media_base),
        });
    }
    Ok(events)
}
