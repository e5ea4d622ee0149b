//! Domain events: what a committed command changed, written to the outbox in the same
//! transaction and relayed to the `kefu.events` topic exchange as CloudEvents 1.0
//! (structured JSON), the routing key being the event's `type`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::{MessageType, NotifyAction, Presence, QuestionStatus, SenderType};
use crate::store::entity::{message, question};

/// The question an event is about, as it stands after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionFacts {
    pub question_id: String,
    pub app_id: i64,
    pub user_id: String,
    pub title: String,
    /// 1 waiting, 2 serving, 3 finished.
    pub status: QuestionStatus,
    pub serv_id: Option<String>,
    /// The question's sequence number after the change (commit order).
    pub sequence: i64,
    /// When it was asked (ms since the epoch); 0 in events written before it was carried.
    #[serde(default)]
    pub created_at: i64,
}

impl From<&question::Model> for QuestionFacts {
    fn from(q: &question::Model) -> Self {
        Self {
            question_id: q.id.clone(),
            app_id: q.app_id,
            user_id: q.user_id.clone(),
            title: q.title.clone(),
            status: q.status,
            serv_id: q.serv_id.clone(),
            sequence: q.seq,
            created_at: q.created_at,
        }
    }
}

/// A message as clients list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub message_id: String,
    pub sender: String,
    /// 1 user, 2 agent.
    pub sender_type: SenderType,
    /// 1 audio, 2 image, 3 text, 4 notification.
    #[serde(rename = "type")]
    pub msg_type: MessageType,
    pub text: Option<String>,
    pub action: Option<NotifyAction>,
    pub image_url: Option<String>,
    pub audio_url: Option<String>,
    pub audio_len: Option<i32>,
    /// Milliseconds since the epoch, from the committing worker.
    pub timestamp: i64,
    /// The agent excluded it from the user-reply countdown (only shown when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_from_timeout: bool,
}

impl MessageFacts {
    /// `media_base`: the prefix of media URLs (`Config::media_base`).
    pub fn new(m: &message::Model, media_base: &str) -> Self {
        let url = |kind: MessageType| {
            (m.msg_type == kind)
                .then(|| m.media_key.as_ref().map(|k| format!("{media_base}/{k}")))
                .flatten()
        };
        Self {
            message_id: m.id.clone(),
            sender: m.sender.clone(),
            sender_type: m.sender_type,
            msg_type: m.msg_type,
            text: m.text.clone(),
            action: m.action,
            image_url: url(MessageType::Image).or_else(|| m.image_url.clone()),
            audio_url: url(MessageType::Audio).or_else(|| m.audio_url.clone()),
            audio_len: m.audio_len,
            timestamp: m.created_at,
            exclude_from_timeout: m.exclude_from_timeout && m.msg_type != MessageType::Notification,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DomainEvent {
    QuestionCreated {
        question: QuestionFacts,
        labels: Vec<String>,
    },
    QuestionServed {
        question: QuestionFacts,
    },
    QuestionQuit {
        question: QuestionFacts,
    },
    QuestionFinished {
        question: QuestionFacts,
    },
    QuestionReopened {
        question: QuestionFacts,
    },
    /// The serving agent asked to end (action 3).
    QuestionFinishRequested {
        question: QuestionFacts,
    },
    /// A user-reply or waiting deadline closed the question (action 5).
    QuestionTimedOut {
        question: QuestionFacts,
    },
    MessageCreated {
        question: QuestionFacts,
        message: MessageFacts,
    },
    SessionOpened {
        app_id: i64,
        user_id: String,
        device_id: Option<String>,
    },
    AgentBound {
        app_id: i64,
        serv_id: String,
    },
    AgentUnbound {
        app_id: i64,
        serv_id: String,
    },
    LeaveMessageCreated {
        app_id: i64,
        id: String,
    },
    LeaveMessageTagged {
        app_id: i64,
        id: String,
        tag: Option<String>,
    },
    /// An agent said it is online, busy, away or offline (or went offline by unbinding).
    AgentStatusChanged {
        app_id: i64,
        serv_id: String,
        status: Presence,
    },
    /// The serving agent handed the question to another (action 7); the note is for
    /// the agent it was given to.
    QuestionTransferred {
        question: QuestionFacts,
        from_serv_id: String,
        note: Option<String>,
    },
    /// The user rated the finished question.
    QuestionRated {
        question: QuestionFacts,
        score: i16,
        comment: Option<String>,
    },
    /// A question is offered to an agent (offer mode) until `expires_at` (ms).
    QuestionOffered {
        question: QuestionFacts,
        serv_id: String,
        expires_at: i64,
    },
    /// Access ended (an operator revoked sessions, disabled an agent or an app, set a
    /// new password): live streams it concerns re-check their session and end.
    AccessRevoked {
        app_id: i64,
        /// The user whose session(s) ended, when it was one user.
        user_id: Option<String>,
        /// The agent whose devices lost access, when it was one agent.
        serv_id: Option<String>,
        reason: AccessReason,
    },
}

/// Why access ended (`kefu.access.revoked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessReason {
    SessionRevoked,
    UserSessionsRevoked,
    AgentBindingsRevoked,
    AgentDisabled,
    AgentPasswordChanged,
    AppDisabled,
}

impl DomainEvent {
    /// Every event type, for documentation and tests.
    pub const TYPES: [&'static str; 18] = [
        "kefu.question.created",
        "kefu.question.served",
        "kefu.question.quit",
        "kefu.question.finished",
        "kefu.question.reopened",
        "kefu.message.created",
        "kefu.session.opened",
        "kefu.agent.bound",
        "kefu.agent.unbound",
        "kefu.leavemessage.created",
        "kefu.leavemessage.tagged",
        "kefu.question.finish_requested",
        "kefu.question.timed_out",
        "kefu.access.revoked",
        "kefu.agent.status_changed",
        "kefu.question.transferred",
        "kefu.question.rated",
        "kefu.question.offered",
    ];

    /// The CloudEvent `type`, also the routing key on `kefu.events`.
    pub fn event_type(&self) -> &'static str {
        use DomainEvent::*;
        match self {
            QuestionCreated { .. } => Self::TYPES[0],
            QuestionServed { .. } => Self::TYPES[1],
            QuestionQuit { .. } => Self::TYPES[2],
            QuestionFinished { .. } => Self::TYPES[3],
            QuestionReopened { .. } => Self::TYPES[4],
            MessageCreated { .. } => Self::TYPES[5],
            SessionOpened { .. } => Self::TYPES[6],
            AgentBound { .. } => Self::TYPES[7],
            AgentUnbound { .. } => Self::TYPES[8],
            LeaveMessageCreated { .. } => Self::TYPES[9],
            LeaveMessageTagged { .. } => Self::TYPES[10],
            QuestionFinishRequested { .. } => Self::TYPES[11],
            QuestionTimedOut { .. } => Self::TYPES[12],
            AccessRevoked { .. } => Self::TYPES[13],
            AgentStatusChanged { .. } => Self::TYPES[14],
            QuestionTransferred { .. } => Self::TYPES[15],
            QuestionRated { .. } => Self::TYPES[16],
            QuestionOffered { .. } => Self::TYPES[17],
        }
    }

    pub fn app_id(&self) -> i64 {
        use DomainEvent::*;
        match self {
            QuestionCreated { question, .. }
            | QuestionServed { question }
            | QuestionQuit { question }
            | QuestionFinished { question }
            | QuestionReopened { question }
            | QuestionFinishRequested { question }
            | QuestionTimedOut { question }
            | QuestionTransferred { question, .. }
            | QuestionRated { question, .. }
            | QuestionOffered { question, .. }
            | MessageCreated { question, .. } => question.app_id,
            AgentStatusChanged { app_id, .. }
            | SessionOpened { app_id, .. }
            | AgentBound { app_id, .. }
            | AgentUnbound { app_id, .. }
            | LeaveMessageCreated { app_id, .. }
            | LeaveMessageTagged { app_id, .. }
            | AccessRevoked { app_id, .. } => *app_id,
        }
    }

    /// The CloudEvent `subject`: the question, leave message or user it is about.
    pub fn subject(&self) -> Option<String> {
        use DomainEvent::*;
        match self {
            QuestionCreated { question, .. }
            | QuestionServed { question }
            | QuestionQuit { question }
            | QuestionFinished { question }
            | QuestionReopened { question }
            | QuestionFinishRequested { question }
            | QuestionTimedOut { question }
            | QuestionTransferred { question, .. }
            | QuestionRated { question, .. }
            | QuestionOffered { question, .. }
            | MessageCreated { question, .. } => Some(question.question_id.clone()),
            AgentStatusChanged { serv_id, .. } => Some(serv_id.clone()),
            LeaveMessageCreated { id, .. } | LeaveMessageTagged { id, .. } => Some(id.clone()),
            SessionOpened { user_id, .. } => Some(user_id.clone()),
            AgentBound { serv_id, .. } | AgentUnbound { serv_id, .. } => Some(serv_id.clone()),
            AccessRevoked { serv_id, user_id, .. } => serv_id.clone().or_else(|| user_id.clone()),
        }
    }

    /// The CloudEvent's `data`: the event's fields, the app's `identify`, and for
    /// question events the question's `sequence` at the top level.
    pub fn data(&self, identify: &str) -> Value {
        let mut data = serde_json::to_value(self).expect("events serialize");
        let map = data.as_object_mut().expect("an object");
        map.remove("event");
        if let Some(sequence) = map.get("question").and_then(|q| q.get("sequence")).cloned() {
            map.insert("sequence".into(), sequence);
        }
        map.insert("identify".into(), json!(identify));
        data
    }

    /// The structured-mode CloudEvent 1.0.
    pub fn cloud_event(&self, id: Uuid, time_ms: i64, identify: &str) -> Value {
        let time = chrono::DateTime::from_timestamp_millis(time_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut event = json!({
            "specversion": "1.0",
            "id": id.to_string(),
            "source": format!("/kefu/apps/{identify}"),
            "type": self.event_type(),
            "time": time,
            "datacontenttype": "application/json",
            "data": self.data(identify),
        });
        if let Some(subject) = self.subject() {
            event["subject"] = json!(subject);
        }
        event
    }
}

/// Whether a type matches an AMQP topic pattern (`*` one word, `#` any number).
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    fn go(p: &[&str], t: &[&str]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let t: Vec<&str> = event_type.split('.').collect();
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/asyncapi.json documents exactly the event types there are.
    #[test]
    fn asyncapi_lists_every_event_type() {
        let doc: Value = serde_json::from_str(include_str!("../../../docs/asyncapi.json")).unwrap();
        let mut documented: Vec<String> = doc["channels"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["address"].as_str().unwrap().to_owned())
            .collect();
        documented.sort();
        let mut types: Vec<String> = DomainEvent::TYPES.iter().map(|t| t.to_string()).collect();
        types.sort();
        assert_eq!(documented, types);
    }

    #[test]
    fn topic_patterns() {
        assert!(type_matches("kefu.question.*", "kefu.question.served"));
        assert!(!type_matches("kefu.question.*", "kefu.message.created"));
        assert!(type_matches("kefu.#", "kefu.message.created"));
        assert!(type_matches("#", "kefu.agent.bound"));
        assert!(!type_matches("kefu.*", "kefu.agent.bound"));
    }

    #[test]
    fn cloud_event_shape() {
        let q = QuestionFacts {
            question_id: "q1".into(),
            app_id: 1,
            user_id: "u1".into(),
            title: "t".into(),
            status: QuestionStatus::Serving,
            serv_id: Some("alice".into()),
            sequence: 3,
            created_at: 0,
        };
        let e = DomainEvent::QuestionServed { question: q };
        let ce = e.cloud_event(Uuid::nil(), 0, "com.example.shop");
        assert_eq!(ce["type"], "kefu.question.served");
        assert_eq!(ce["subject"], "q1");
        assert_eq!(ce["data"]["sequence"], 3);
        assert_eq!(ce["data"]["identify"], "com.example.shop");
        assert_eq!(ce["specversion"], "1.0");
    }
}
