//! The domain mutations: one handler per command, grouped by aggregate, each applied
//! inside the caller's transaction and returning what it changed — the reply and the
//! typed events built from the rows it wrote (never read back). A refusal is a
//! [`Refusal::Rule`]: the caller rolls the change back and records the answer.

mod agent;
mod deadline;
mod handover;
mod leave_message;
mod message;
mod question;
mod rating;
pub mod routing;
mod session;
pub mod transitions;
mod writes;

use kefu_common::domain::command::Command;
use kefu_common::domain::events::DomainEvent;
use kefu_common::domain::outcome::{ErrorCode, Failure, Reply};
use std::sync::{Arc, Mutex};

use kefu_common::store::settings_cache::{SettingsCache, SettingsOf};
use kefu_common::store::timeouts::Timeouts;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};

pub use deadline::{fire_deadlines, Fired};

/// What applying commands needs from the configuration, the worker's cache of the apps'
/// settings, and what one transaction has checked of them.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The prefix of media URLs in events (`KEFU_MEDIA_BASE_URL`).
    pub media_base: String,
    /// The timeouts of apps that set none of their own.
    pub timeouts: Timeouts,
    /// Ids of the messages a worker writes on its own (deadlines, automatic reopens).
    pub ids: std::sync::Arc<kefu_common::domain::ids::IdGen>,
    /// The apps' settings, kept by the worker and checked against their version.
    cache: Arc<SettingsCache>,
    /// The apps' settings as checked in the current transaction ([`Rules::for_transaction`]
    /// starts it empty; `None`: check every time): a batch checks each app once.
    checked: Option<Arc<Mutex<SettingsOf>>>,
}

impl Rules {
    pub fn from_config(config: &kefu_common::infra::config::Config) -> Self {
        Rules {
            media_base: config.media_base(),
            timeouts: Timeouts::defaults(config),
            ids: Arc::default(),
            cache: Arc::default(),
            checked: None,
        }
    }

    /// The same rules with nothing read yet: one per transaction.
    pub fn for_transaction(&self) -> Self {
        Rules {
            checked: Some(Arc::default()),
            ..self.clone()
        }
    }

    /// The app's timeouts: its own where set, else the defaults.
    pub async fn timeouts_of(&self, txn: &impl ConnectionTrait, app_id: i64) -> Result<Timeouts, DbErr> {
        let settings = self.settings_of(txn, &[app_id]).await?;
        Ok(Timeouts::of_row(
            settings.get(&app_id).and_then(|s| s.timeouts.as_ref()),
            &self.timeouts,
        ))
    }

    /// These apps' settings, checked once per transaction (one statement for all the
    /// apps not checked yet).
    pub async fn settings_of(&self, txn: &impl ConnectionTrait, app_ids: &[i64]) -> Result<SettingsOf, DbErr> {
        let Some(checked) = &self.checked else {
            return self.cache.of_apps(txn, app_ids).await;
        };
        let missing: Vec<i64> = {
            let known = checked.lock().expect("settings lock");
            app_ids.iter().copied().filter(|id| !known.contains_key(id)).collect()
        };
        let fresh = self.cache.of_apps(txn, &missing).await?;
        let mut known = checked.lock().expect("settings lock");
        known.extend(fresh);
        Ok(app_ids
            .iter()
            .filter_map(|id| known.get(id).map(|s| (*id, Arc::clone(s))))
            .collect())
    }
}

/// A command that applied: its answer and the events of the change, for the outbox of
/// the same transaction.
#[derive(Debug)]
pub struct Applied {
    pub reply: Reply,
    pub events: Vec<DomainEvent>,
}

impl Applied {
    fn new(reply: Reply, events: Vec<DomainEvent>) -> Self {
        Self { reply, events }
    }

    fn message_written(message_id: &impl ToString, events: Vec<DomainEvent>) -> Self {
        Self::new(
            Reply::MessageWritten {
                message_id: message_id.to_string(),
            },
            events,
        )
    }
}

/// Why a command did not apply.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A domain rule refused it: answered and recorded, like a success.
    #[error("refused: {0}")]
    Rule(Failure),
    /// The database failed: nothing is recorded, the command is retried.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Refusal::Rule(failure)
    }
}

/// What every handler answers.
pub type Handled = Result<Applied, Refusal>;

/// A refusal by a domain rule.
fn refuse<T>(code: ErrorCode, debug: &str) -> Result<T, Refusal> {
    Err(Refusal::Rule(Failure::new(code, debug)))
}

/// Applies a command inside `txn`: the one place a command meets its handler.
pub async fn apply(txn: &DatabaseTransaction, command: &Command, rules: &Rules) -> Handled {
    use transitions::Leave;
    use Command::*;
    match command {
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
            let opened = session::Opened {
                session,
                app_id: *app_id,
                user_id,
                user_name,
                user_image_url: user_image_url.as_ref(),
                device_id: device_id.as_ref(),
                expires_at: *expires_at,
                groups: groups.as_ref(),
            };
            session::open(txn, opened).await
        }
        AgentBindV2 { session, serv_id } => agent::bind(txn, session, serv_id).await,
        AgentUnbindV2 { session, serv_id } => agent::unbind(txn, session, serv_id).await,
        QuestionCreateV1 {
            question_id,
            app_id,
            user_id,
            title,
            labels,
            im_session_id,
        } => {
            let asked = question::Asked {
                id: question_id,
                app_id: *app_id,
                user_id,
                title,
                labels,
                im_session_id: im_session_id.as_ref(),
            };
            question::create(txn, rules, asked).await
        }
        QuestionServeV1 {
            question_id,
            serv_id,
            message_id,
        } => question::serve(txn, rules, question_id, serv_id, message_id).await,
        QuestionQuitV1 {
            question_id,
            serv_id,
            message_id,
        } => question::leave(txn, rules, Leave::Quit, question_id, serv_id, message_id).await,
        QuestionFinishV1 {
            question_id,
            serv_id,
            message_id,
        } => question::leave(txn, rules, Leave::Finish, question_id, serv_id, message_id).await,
        QuestionRequestFinishV1 {
            question_id,
            serv_id,
            message_id,
        } => question::leave(txn, rules, Leave::RequestFinish, question_id, serv_id, message_id).await,
        QuestionReopenV1 {
            question_id,
            actor,
            message_id,
        } => question::reopen(txn, rules, question_id, actor, message_id).await,
        MessageSendTextV1 {
            question_id,
            message_id,
            actor,
            sender_type,
            text,
            exclude_from_timeout,
        } => {
            let sent = message::Sent {
                question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: message::Content::Text(text),
                exclude_from_timeout: *exclude_from_timeout,
            };
            message::send(txn, rules, sent).await
        }
        MessageSendImageV1 {
            question_id,
            message_id,
            actor,
            sender_type,
            media_key,
            exclude_from_timeout,
        } => {
            let sent = message::Sent {
                question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: message::Content::Image(media_key),
                exclude_from_timeout: *exclude_from_timeout,
            };
            message::send(txn, rules, sent).await
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
            let sent = message::Sent {
                question_id,
                message_id,
                actor,
                sender_type: *sender_type,
                content: message::Content::Audio(media_key, *audio_len),
                exclude_from_timeout: *exclude_from_timeout,
            };
            message::send(txn, rules, sent).await
        }
        LeaveMessageCreateV1(left) => leave_message::create(txn, left).await,
        LeaveMessageTagV1 { id, serv_id, tag } => leave_message::tag(txn, id, Some(serv_id), tag.as_ref()).await,
        LeaveMessageTagByAdminV1 { id, tag } => leave_message::tag(txn, id, None, tag.as_ref()).await,
        AgentStatusSetV1 {
            serv_id,
            status,
            app_id,
        } => agent::set_status(txn, rules, serv_id, *status, *app_id).await,
        QuestionTransferV1 {
            question_id,
            serv_id,
            to_serv_id,
            note,
            message_id,
        } => {
            let handover = handover::Handover {
                id: question_id,
                from: serv_id,
                to: to_serv_id,
                note: note.as_ref(),
                message_id,
            };
            handover::transfer(txn, rules, handover).await
        }
        QuestionRateV1 {
            question_id,
            actor,
            score,
            comment,
        } => rating::rate(txn, question_id, actor, *score, comment.as_ref()).await,
        QuestionAcceptV1 {
            question_id,
            serv_id,
            message_id,
        } => handover::accept(txn, rules, question_id, serv_id, message_id).await,
        QuestionDeclineV1 { question_id, serv_id } => handover::decline(txn, rules, question_id, serv_id).await,
    }
}
