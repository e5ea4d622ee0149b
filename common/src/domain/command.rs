//! Commands the ingest publishes and the workers apply, and their envelope.
//!
//! Variants are versioned (`…V1`): a change of meaning gets a new variant, so workers of
//! the old and new release can both drain a queue during a rolling upgrade.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::ObjectId;
use crate::domain::leave::{Callback, Contact, Email, LeaveUserId, MessageContent, Subject, Tag, Tel};
use crate::domain::{
    DeviceId, Groups, ImSessionId, Labels, Presence, RatingComment, SenderType, ServId, SessionDigest, Text, Title,
    TransferNote, Url, UserId, UserName,
};

/// Who asks for a change, as authenticated by the ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User { app_id: i64, user_id: UserId },
    Agent { serv_id: ServId },
}

/// The queue's task model: one variant per command, its name the `type` tag (and the
/// name in logs and metrics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type")]
pub enum Command {
    /// V2: sessions are named by their digest (V1 carried the token itself; no release
    /// shipped it).
    SessionCreateV2 {
        session: SessionDigest,
        app_id: i64,
        user_id: UserId,
        user_name: UserName,
        user_image_url: Option<Url>,
        device_id: Option<DeviceId>,
        expires_at: i64,
        /// The groups the user belongs to (the user page's group count); absent in
        /// commands of older releases.
        #[serde(default)]
        groups: Option<Groups>,
    },
    AgentBindV2 {
        session: SessionDigest,
        serv_id: ServId,
    },
    AgentUnbindV2 {
        session: SessionDigest,
        serv_id: ServId,
    },
    QuestionCreateV1 {
        question_id: ObjectId,
        app_id: i64,
        user_id: UserId,
        title: Title,
        labels: Labels,
        /// Added later: commands queued before it read as `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        im_session_id: Option<ImSessionId>,
    },
    QuestionServeV1 {
        question_id: ObjectId,
        serv_id: ServId,
        message_id: ObjectId,
    },
    QuestionQuitV1 {
        question_id: ObjectId,
        serv_id: ServId,
        message_id: ObjectId,
    },
    QuestionFinishV1 {
        question_id: ObjectId,
        serv_id: ServId,
        message_id: ObjectId,
    },
    QuestionReopenV1 {
        question_id: ObjectId,
        actor: Actor,
        message_id: ObjectId,
    },
    MessageSendTextV1 {
        question_id: ObjectId,
        message_id: ObjectId,
        actor: Actor,
        sender_type: SenderType,
        text: Text,
        /// An agent's message that neither starts nor resets the user-reply countdown
        /// (added later: older commands read as false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exclude_from_timeout: bool,
    },
    /// A customer's leave message (留言), into `cc_misc_lvmsg`.
    LeaveMessageCreateV1(NewLeaveMessage),
    /// An agent sets (or, with `None`, clears) a leave message's tag.
    LeaveMessageTagV1 {
        id: Uuid,
        serv_id: ServId,
        tag: Option<Tag>,
    },
    /// An operator (admin API) sets or clears a leave message's tag.
    LeaveMessageTagByAdminV1 {
        id: Uuid,
        tag: Option<Tag>,
    },
    MessageSendImageV1 {
        question_id: ObjectId,
        message_id: ObjectId,
        actor: Actor,
        sender_type: SenderType,
        /// The JPEG's media store key; the blob is stored before the command is published.
        media_key: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exclude_from_timeout: bool,
    },
    MessageSendAudioV1 {
        question_id: ObjectId,
        message_id: ObjectId,
        actor: Actor,
        sender_type: SenderType,
        media_key: String,
        /// Seconds, 1–300.
        audio_len: i32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exclude_from_timeout: bool,
    },
    /// The serving agent asks to end (action 3); the question finishes unless the user
    /// replies or reopens within the app's end-confirmation timeout.
    QuestionRequestFinishV1 {
        question_id: ObjectId,
        serv_id: ServId,
        message_id: ObjectId,
    },
    /// A bound agent says whether it is online, busy, away or offline; in apps with
    /// automatic routing an online agent with free capacity is given waiting questions.
    AgentStatusSetV1 {
        serv_id: ServId,
        status: Presence,
        /// The app of the session that said it (the event's app).
        app_id: i64,
    },
    /// The serving agent hands the question to another agent of its app (action 7).
    QuestionTransferV1 {
        question_id: ObjectId,
        serv_id: ServId,
        to_serv_id: ServId,
        note: Option<TransferNote>,
        message_id: ObjectId,
    },
    /// The user rates a finished question, once.
    QuestionRateV1 {
        question_id: ObjectId,
        actor: Actor,
        score: i16,
        comment: Option<RatingComment>,
    },
    /// The agent a question is offered to takes it (offer mode) or passes it on.
    QuestionAcceptV1 {
        question_id: ObjectId,
        serv_id: ServId,
        message_id: ObjectId,
    },
    QuestionDeclineV1 {
        question_id: ObjectId,
        serv_id: ServId,
    },
}

/// A customer's leave message (留言), into `cc_misc_lvmsg`. On the queue its fields sit
/// beside the `type` tag, as they did when they were the variant's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLeaveMessage {
    /// The row's UUID, chosen at the ingest (so a replay answers the same one).
    pub id: Uuid,
    pub app_id: i64,
    /// The app's name (`acc_name`).
    pub acc_name: String,
    pub user_id: Option<LeaveUserId>,
    pub contact: Contact,
    pub callback: Callback,
    pub tel: Option<Tel>,
    pub email: Option<Email>,
    pub subject: Subject,
    pub content: Option<MessageContent>,
    /// Serialized JSON, at most 2000 characters.
    pub user_data: Option<String>,
}

impl Command {
    /// The variant's name, as in the `type` tag.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// A command with what is needed to apply it once and answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The command id: also the AMQP message id and the de-duplication key. Derived from
    /// the client's `Idempotency-Key` when one is given, random otherwise.
    pub id: Uuid,
    pub created_at: i64,
    pub command: Command,
    /// The `x-request-id` of the HTTP request that asked for it, for the worker's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Envelope {
    pub fn new(id: Uuid, command: Command) -> Self {
        Self {
            id,
            created_at: crate::now_ms(),
            command,
            request_id: None,
        }
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelope serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The command id for a client's idempotency key: stable for the same scope and key.
pub fn idempotent_command_id(scope: &str, key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b65_6675_0000_4000_8000_6964_656d_706f);
    Uuid::new_v5(&NAMESPACE, format!("{scope}\n{key}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionToken;

    #[test]
    fn envelope_round_trips_with_type_tag() {
        let env = Envelope::new(
            Uuid::new_v4(),
            Command::AgentBindV2 {
                session: SessionToken::parse("abcdefabcdef").unwrap().digest(),
                serv_id: ServId::parse("alice").unwrap(),
            },
        );
        let bytes = env.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""type":"AgentBindV2""#), "{text}");
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), env);
    }

    /// A variant holding a struct is written as the struct's fields beside `type`, so
    /// commands queued by older releases still read.
    #[test]
    fn leave_messages_keep_their_flat_shape() {
        let text = r#"{"type":"LeaveMessageCreateV1","id":"5b1f8d2e-8c1a-4c59-9f5e-0a6e4f5d7c11","app_id":7,
            "acc_name":"shop","user_id":null,"contact":"Ann","callback":"tel","tel":"13800000000",
            "email":null,"subject":"refund","content":null,"user_data":null}"#;
        let command: Command = serde_json::from_str(text).unwrap();
        assert_eq!(command.name(), "LeaveMessageCreateV1");
        let Command::LeaveMessageCreateV1(left) = &command else {
            panic!("{command:?}")
        };
        assert_eq!((left.app_id, left.subject.to_string()), (7, "refund".to_owned()));
        let again: serde_json::Value = serde_json::to_value(&command).unwrap();
        assert_eq!(again["type"], "LeaveMessageCreateV1");
        assert_eq!(again["acc_name"], "shop");
    }

    #[test]
    fn invalid_values_do_not_deserialize() {
        let text = r#"{"id":"5b1f8d2e-8c1a-4c59-9f5e-0a6e4f5d7c11","created_at":1,
            "command":{"type":"AgentBindV2","session":"short","serv_id":"alice"}}"#;
        assert!(Envelope::from_bytes(text.as_bytes()).is_err());
    }

    #[test]
    fn idempotency_ids_are_stable_and_scoped() {
        assert_eq!(idempotent_command_id("a", "k"), idempotent_command_id("a", "k"));
        assert_ne!(idempotent_command_id("a", "k"), idempotent_command_id("b", "k"));
    }
}
