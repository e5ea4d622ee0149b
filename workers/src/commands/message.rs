//! The message aggregate: send_text / send_image / send_audio, the same state rules for
//! every kind.

use kefu_common::domain::command::Actor;
use kefu_common::domain::events::{DomainEvent, MessageFacts, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::{ErrorCode, Failure};
use kefu_common::domain::{MessageType, QuestionStatus, SenderType, Text};
use kefu_common::now_ms;
use kefu_common::store::entity::{app_im_settings, message, question};
use kefu_common::store::im::message::{too_large, Recipient, MAX_BODY_BYTES};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::question::reopen_finished;
use super::transitions::{self, CountdownAfter, Owner, UserWrite};
use super::writes::{countdown, insert_message, load, restart, serves_app, update_of};
use super::{refuse, Applied, Handled, Refusal, Rules};

/// What a chat message carries.
pub enum Content<'a> {
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
pub struct Sent<'a> {
    pub question_id: &'a ObjectId,
    pub message_id: &'a ObjectId,
    pub actor: &'a Actor,
    pub sender_type: SenderType,
    pub content: Content<'a>,
    pub exclude_from_timeout: bool,
}

/// An agent's text to a question whose app delivers to Tencent IM must fit the IM's
/// body limit (93000), or it could never be delivered: refused, naming `text`.
async fn fits_the_im(
    txn: &DatabaseTransaction,
    q: &question::Model,
    row: &message::Model,
    media_base: &str,
) -> Result<(), Refusal> {
    let Some(im) = app_im_settings::Entity::find_by_id(q.app_id).one(txn).await? else {
        return Ok(());
    };
    let facts = MessageFacts::new(row, media_base);
    match too_large(&q.id, &facts, &Recipient::of(q, &im)) {
        None => Ok(()),
        Some(size) => Err(Failure::field(
            ErrorCode::InvalidField,
            "text",
            format!(
                "the IM message would be {size} bytes; Tencent IM takes at most {MAX_BODY_BYTES} (shorten the text)"
            ),
        )
        .into()),
    }
}

/// Writes a chat message. An agent's message (unless excluded) starts the user-reply
/// countdown; a user's message to a served question stops any countdown. A user's
/// message to a question a deadline closed reopens it first (the deadline committed
/// first won; the late reply reopens).
pub async fn send(txn: &DatabaseTransaction, rules: &Rules, sent: Sent<'_>) -> Handled {
    let Sent {
        question_id: id,
        message_id,
        actor,
        sender_type,
        content,
        exclude_from_timeout,
    } = sent;
    let Some(mut q) = load(txn, id).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    let mut events = Vec::new();
    let sender = match (actor, sender_type) {
        (Actor::User { user_id, .. }, SenderType::User) => {
            let owner = Owner {
                app_id: q.app_id,
                user_id: &q.user_id,
            };
            if let Some(refusal) = transitions::user_refusal(owner, actor, "write as the user") {
                return Err(refusal.into());
            }
            match transitions::user_write(q.status, q.timed_out_at.is_some()) {
                UserWrite::Write => {}
                UserWrite::Refused(refusal) => return Err(refusal.into()),
                UserWrite::ReopenFirst => {
                    let Some(reopened) = reopen_finished(txn, rules, &mut q, &rules.ids.next_id()).await? else {
                        return refuse(ErrorCode::QuestionFinished, "the question changed state meanwhile");
                    };
                    events = reopened;
                }
            }
            user_id.to_string()
        }
        (Actor::Agent { serv_id }, SenderType::Agent) => {
            if !serves_app(txn, serv_id.as_str(), q.app_id).await? {
                // Another tenant's question answers as a missing one: nothing leaks.
                return refuse(ErrorCode::UnknownQuestion, "no such question");
            }
            if q.status != QuestionStatus::Serving || q.serv_id.as_deref() != Some(serv_id.as_str()) {
                let refusal = transitions::agent_state_refusal(q.status, q.serv_id.as_deref(), serv_id.as_str());
                return Err(refusal.into());
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
    let row = message::Model {
        id: message_id.to_string(),
        question_id: q.id.clone(),
        sender: sender.clone(),
        sender_type,
        msg_type: content.kind(),
        text: text.clone(),
        action: None,
        audio_url: None,
        audio_len,
        image_url: None,
        created_at: now,
        media_key,
        seq: q.seq,
        exclude_from_timeout: exclude_from_timeout && sender_type == SenderType::Agent,
    };
    if sender_type == SenderType::Agent && row.msg_type == MessageType::Text {
        fits_the_im(txn, &q, &row, &rules.media_base).await?;
    }
    insert_message(txn, &row).await?;
    // Re-check the state in the UPDATE itself: a quit or finish committed since the read
    // above makes it match nothing, and the whole send is refused (and rolled back).
    let mut update = update_of(&q.id)
        .col_expr(question::Column::LastMessText, Expr::value(text))
        .col_expr(question::Column::LastMessTimestamp, Expr::value(now))
        .col_expr(question::Column::LastMessSender, Expr::value(sender))
        .col_expr(question::Column::LastMessSenderType, Expr::value(sender_type))
        .col_expr(question::Column::LastMessType, Expr::value(content.kind()))
        .col_expr(question::Column::UpdatedAt, Expr::value(now));
    // The agent's first words after taking it: first-response figures.
    if sender_type == SenderType::Agent && q.first_response_at.is_none_or(|at| q.served_at.is_some_and(|s| at < s)) {
        update = update.col_expr(question::Column::FirstResponseAt, Expr::value(now));
    }
    update = match actor {
        Actor::Agent { serv_id } => update
            .filter(question::Column::Status.eq(QuestionStatus::Serving))
            .filter(question::Column::ServId.eq(serv_id.as_str())),
        Actor::User { .. } => update.filter(question::Column::Status.ne(QuestionStatus::Finished)),
    };
    update = match transitions::countdown_after_message(sender_type, exclude_from_timeout, q.status, q.due_kind) {
        CountdownAfter::Start(kind) => restart(txn, update, q.app_id, Some(kind), rules, now).await?,
        CountdownAfter::Stop => countdown(update, None, None, now),
        CountdownAfter::Keep => update,
    };
    if update.exec(txn).await?.rows_affected != 1 {
        let current = load(txn, id).await?.unwrap_or(q);
        return Err(match actor {
            Actor::Agent { serv_id } => {
                transitions::agent_state_refusal(current.status, current.serv_id.as_deref(), serv_id.as_str())
            }
            Actor::User { .. } => {
                Failure::new(ErrorCode::QuestionFinished, "the question is finished; reopen it first")
            }
        }
        .into());
    }
    events.push(DomainEvent::MessageCreated {
        question: QuestionFacts::from(&q),
        message: MessageFacts::new(&row, &rules.media_base),
    });
    Ok(Applied::message_written(message_id, events))
}
