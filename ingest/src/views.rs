//! The answers, typed: what the OpenAPI document describes is what is serialized. List
//! items never carry null; the original's defaults fill the gaps (docs/api.md, "How lists show questions").

use kefu_common::domain::{MessageType, SenderType};
use kefu_common::store::entity::{app, im_delivery, message, question, user};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds as the spec's `< float >` timestamps.
pub fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The name shown for a user without one.
pub const NO_NAME: &str = "未填";

/// A successful answer: the body's own fields beside `"status": 200`, the envelope of
/// every answer of the spec. Handlers build the body; this adds the status.
#[derive(Serialize, ToSchema)]
pub struct Answer<T> {
    #[schema(minimum = 200, maximum = 200)]
    status: u16,
    #[serde(flatten)]
    body: T,
}

impl<T> Answer<T> {
    pub fn ok(body: T) -> axum::Json<Self> {
        axum::Json(Answer { status: 200, body })
    }
}

/// `{"status": 200}`.
#[derive(Serialize, ToSchema)]
pub struct Done {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
}

/// session/new's answer.
#[derive(Serialize, ToSchema)]
pub struct SessionOpened {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    /// The 12-character session for the user's further calls.
    pub session: String,
    /// Unix seconds when the session expires.
    pub expires_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct QuestionRef {
    pub id: String,
    /// 1 waiting (待解决), 2 serving (解决中), 3 finished (已解决).
    pub status: i16,
}

/// question/new's answer.
#[derive(Serialize, ToSchema)]
pub struct QuestionCreated {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub question_id: String,
    pub question: QuestionRef,
}

/// serve / quit / finish / reopen / send_text: the new message's id.
#[derive(Serialize, ToSchema)]
pub struct MessageCreated {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub message_id: String,
}

/// send_image's answer.
#[derive(Serialize, ToSchema)]
pub struct ImageSent {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub message_id: String,
    /// Serves the same bytes, `image/jpeg`.
    pub image_url: String,
}

/// send_audio's answer.
#[derive(Serialize, ToSchema)]
pub struct AudioSent {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub message_id: String,
    /// Serves the same bytes with the audio's content type.
    pub audio_url: String,
}

/// `Prefer: respond-async` (or an outcome slower than the reply timeout): the command is
/// durably queued; the ids it will create are already known.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(minimum = 202, maximum = 202)]
    pub status: u16,
    /// The command's id; also in `x-command-id`.
    pub request_id: String,
}

/// An item of question/list and serv/<serv_id>/tasks.
#[derive(Serialize, ToSchema)]
pub struct AgentQuestion {
    pub question_id: String,
    pub user_id: String,
    /// The user's avatar, else the app's default avatar.
    pub user_image_url: String,
    /// The user's name, else `未填`.
    pub user_name: String,
    pub title: String,
    /// 1 waiting, 2 serving, 3 finished.
    pub status: i16,
    pub labels: Vec<String>,
    /// The last chat message's text (`[图片]` for an image, `[语音]` for audio), `""` before any.
    pub last_mess_text: String,
    /// Its time (seconds), else the question's.
    pub last_mess_timestamp: f64,
    /// Its sender's id, else the asking user. A string: ids of users and agents are strings.
    pub last_mess_sender: String,
    /// 1 user, 2 agent; 1 before any message.
    pub last_mess_sender_type: i16,
    /// Creation time (seconds).
    pub timestamp: f64,
}

#[derive(Serialize, ToSchema)]
pub struct AgentQuestions {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub questions: Vec<AgentQuestion>,
}

/// An item of user/<user_id>/waits.
#[derive(Serialize, ToSchema)]
pub struct UserWait {
    pub question_id: String,
    pub title: String,
    pub timestamp: f64,
}

/// An item of user/<user_id>/tasks and overs.
#[derive(Serialize, ToSchema)]
pub struct UserTask {
    pub question_id: String,
    pub title: String,
    pub timestamp: f64,
    /// The question's agent (`""` if none).
    pub serv_id: String,
}

/// An item of user/<user_id>/alls.
#[derive(Serialize, ToSchema)]
pub struct UserQuestion {
    pub question_id: String,
    pub title: String,
    /// 1 waiting, 2 serving, 3 finished.
    pub status: i16,
    pub timestamp: f64,
    /// The question's agent (`""` if none yet).
    pub serv_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserWaits {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub questions: Vec<UserWait>,
}

#[derive(Serialize, ToSchema)]
pub struct UserTasks {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub questions: Vec<UserTask>,
}

#[derive(Serialize, ToSchema)]
pub struct UserQuestions {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub questions: Vec<UserQuestion>,
}

/// A chat message, by `type`: 1 audio, 2 image, 3 text, 4 notification.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Message {
    Audio {
        message_id: String,
        sender: String,
        sender_type: i16,
        timestamp: f64,
        /// Its delivery to the user's IM, for messages of apps with IM settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
        #[serde(rename = "type")]
        #[schema(minimum = 1, maximum = 1)]
        kind: i16,
        audio_url: String,
        /// Seconds.
        audio_len: i32,
    },
    Image {
        message_id: String,
        sender: String,
        sender_type: i16,
        timestamp: f64,
        /// Its delivery to the user's IM, for messages of apps with IM settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
        #[serde(rename = "type")]
        #[schema(minimum = 2, maximum = 2)]
        kind: i16,
        image_url: String,
    },
    Text {
        message_id: String,
        sender: String,
        sender_type: i16,
        timestamp: f64,
        /// Its delivery to the user's IM, for messages of apps with IM settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
        #[serde(rename = "type")]
        #[schema(minimum = 3, maximum = 3)]
        kind: i16,
        text: String,
    },
    Notification {
        message_id: String,
        sender: String,
        sender_type: i16,
        timestamp: f64,
        /// Its delivery to the user's IM, for messages of apps with IM settings.
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
        #[serde(rename = "type")]
        #[schema(minimum = 4, maximum = 4)]
        kind: i16,
        /// 1 serve, 2 quit, 3 end requested, 4 finished, 5 timed out, 6 reopened, 7
        /// transferred, 8 rating requested.
        #[schema(minimum = 1, maximum = 8)]
        action: i16,
    },
}

/// Where a message's IM delivery stands.
#[derive(Serialize, ToSchema)]
pub struct Delivery {
    /// `pending`, `delivered` or `failed`.
    #[schema(pattern = "^(pending|delivered|failed)$")]
    pub state: String,
    /// Sends tried so far.
    pub attempts: i32,
    /// The last failure; null when there was none.
    pub last_error: Option<String>,
}

impl From<&im_delivery::Model> for Delivery {
    fn from(d: &im_delivery::Model) -> Self {
        Delivery {
            state: d.state.to_string(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Messages {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub messages: Vec<Message>,
}

/// The spec's failure body. `error` is the integer code of docs/errors.md.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(minimum = 300, maximum = 300)]
    pub status: u16,
    /// The integer code (docs/errors.md).
    pub error: u32,
    /// The code's name, e.g. `invalid_field`.
    pub error_name: String,
    /// The request field that caused the error, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why, for humans.
    pub debug: String,
}

pub fn agent_question(
    q: &question::Model,
    users: &[user::Model],
    apps: &[app::Model],
    fallback_avatar: &str,
) -> AgentQuestion {
    let user = users.iter().find(|u| u.app_id == q.app_id && u.user_id == q.user_id);
    let avatar = user
        .and_then(|u| u.user_image_url.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| {
            apps.iter()
                .find(|a| a.id == q.app_id)
                .and_then(|a| a.default_avatar_url.clone())
        })
        .unwrap_or_else(|| fallback_avatar.to_owned());
    let last_text = kefu_common::store::question_overview::last_message_text(q).unwrap_or_default();
    AgentQuestion {
        question_id: q.id.clone(),
        user_id: q.user_id.clone(),
        user_image_url: avatar,
        user_name: user
            .map(|u| u.user_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| NO_NAME.to_owned()),
        title: q.title.clone(),
        status: q.status.into(),
        labels: serde_json::from_str(&q.labels).unwrap_or_default(),
        last_mess_text: last_text,
        last_mess_timestamp: secs(q.last_mess_timestamp.unwrap_or(q.created_at)),
        last_mess_sender: q.last_mess_sender.clone().unwrap_or_else(|| q.user_id.clone()),
        last_mess_sender_type: q.last_mess_sender_type.unwrap_or(SenderType::User).into(),
        timestamp: secs(q.created_at),
    }
}

pub fn user_wait(q: &question::Model) -> UserWait {
    UserWait {
        question_id: q.id.clone(),
        title: q.title.clone(),
        timestamp: secs(q.created_at),
    }
}

pub fn user_task(q: &question::Model) -> UserTask {
    UserTask {
        question_id: q.id.clone(),
        title: q.title.clone(),
        timestamp: secs(q.created_at),
        serv_id: q.serv_id.clone().unwrap_or_default(),
    }
}

pub fn user_question(q: &question::Model) -> UserQuestion {
    UserQuestion {
        question_id: q.id.clone(),
        title: q.title.clone(),
        status: q.status.into(),
        timestamp: secs(q.created_at),
        serv_id: q.serv_id.clone().unwrap_or_default(),
    }
}

/// `media_base`: where stored files are served (`KEFU_MEDIA_BASE_URL`).
pub fn message(m: &message::Model, media_base: &str, delivery: Option<Delivery>) -> Message {
    let media_url = |legacy: &Option<String>| match &m.media_key {
        Some(key) => format!("{media_base}/{key}"),
        None => legacy.clone().unwrap_or_default(),
    };
    let (message_id, sender, sender_type, timestamp) =
        (m.id.clone(), m.sender.clone(), m.sender_type.into(), secs(m.created_at));
    match m.msg_type {
        MessageType::Audio => Message::Audio {
            message_id,
            sender,
            sender_type,
            timestamp,
            delivery,
            kind: m.msg_type.into(),
            audio_url: media_url(&m.audio_url),
            audio_len: m.audio_len.unwrap_or(0),
        },
        MessageType::Image => Message::Image {
            message_id,
            sender,
            sender_type,
            timestamp,
            delivery,
            kind: m.msg_type.into(),
            image_url: media_url(&m.image_url),
        },
        MessageType::Text => Message::Text {
            message_id,
            sender,
            sender_type,
            timestamp,
            delivery,
            kind: m.msg_type.into(),
            text: m.text.clone().unwrap_or_default(),
        },
        MessageType::Notification => Message::Notification {
            message_id,
            sender,
            sender_type,
            timestamp,
            delivery,
            kind: m.msg_type.into(),
            // 0: a notification stored without its action (none is written so).
            action: m.action.map_or(0, i16::from),
        },
    }
}
