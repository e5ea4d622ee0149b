//! The states Kefu stores, as Rust enums mapped by sea-orm (`DeriveActiveEnum`): the
//! numbers and words below are the only place their stored values are written. The
//! numeric ones travel as the same integers on the wire (serde through `i16`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::values::Invalid;

/// Serde (and plain conversions) through the stored integer.
macro_rules! as_i16 {
    ($name:ident, $values:expr) => {
        impl From<$name> for i16 {
            fn from(v: $name) -> i16 {
                v.to_value()
            }
        }

        impl TryFrom<i16> for $name {
            type Error = Invalid;
            fn try_from(v: i16) -> Result<Self, Invalid> {
                <$name as ActiveEnum>::try_from_value(&v).map_err(|_| Invalid(format!("must be {}, got {v}", $values)))
            }
        }
    };
}

/// Who sent a message (发送者类型): 1 user, 2 agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(into = "i16", try_from = "i16")]
pub enum SenderType {
    #[sea_orm(num_value = 1)]
    User,
    #[sea_orm(num_value = 2)]
    Agent,
}
as_i16!(SenderType, "1 (user) or 2 (agent)");

/// Question status: 1 waiting (待解决), 2 serving (解决中), 3 finished (已解决).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(into = "i16", try_from = "i16")]
pub enum QuestionStatus {
    #[sea_orm(num_value = 1)]
    Waiting,
    #[sea_orm(num_value = 2)]
    Serving,
    #[sea_orm(num_value = 3)]
    Finished,
}
as_i16!(QuestionStatus, "1 (waiting), 2 (serving) or 3 (finished)");

/// Message type: 1 audio, 2 image, 3 text, 4 notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(into = "i16", try_from = "i16")]
pub enum MessageType {
    #[sea_orm(num_value = 1)]
    Audio,
    #[sea_orm(num_value = 2)]
    Image,
    #[sea_orm(num_value = 3)]
    Text,
    #[sea_orm(num_value = 4)]
    Notification,
}
as_i16!(MessageType, "1 (audio), 2 (image), 3 (text) or 4 (notification)");

/// Notification actions (动作类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(into = "i16", try_from = "i16")]
pub enum NotifyAction {
    #[sea_orm(num_value = 1)]
    Serve,
    #[sea_orm(num_value = 2)]
    Quit,
    #[sea_orm(num_value = 3)]
    RequestFinish,
    #[sea_orm(num_value = 4)]
    Finish,
    #[sea_orm(num_value = 5)]
    Timeout,
    #[sea_orm(num_value = 6)]
    Reopen,
    /// The serving agent handed the question to a colleague.
    #[sea_orm(num_value = 7)]
    Transfer,
    /// The finished question's user is asked to rate it.
    #[sea_orm(num_value = 8)]
    RatingRequested,
}
as_i16!(NotifyAction, "an action from 1 to 8");

/// An agent's presence: only an `online` one is given questions automatically.
/// Stored as 0 offline (the default), 1 online, 2 busy, 3 away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    #[sea_orm(num_value = 0)]
    Offline,
    #[sea_orm(num_value = 1)]
    Online,
    #[sea_orm(num_value = 2)]
    Busy,
    #[sea_orm(num_value = 3)]
    Away,
}

impl Presence {
    pub const NAMES: &'static str = "online, busy, away or offline";

    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Offline => "offline",
            Presence::Online => "online",
            Presence::Busy => "busy",
            Presence::Away => "away",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Presence::Online, Presence::Busy, Presence::Away, Presence::Offline]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// How an app's waiting questions reach agents: picked by hand from the waiting list
/// (the original's way, the default), or given to an online agent with free capacity.
/// Stored as 0 manual, 1 auto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, Default)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    #[default]
    #[sea_orm(num_value = 0)]
    Manual,
    #[sea_orm(num_value = 1)]
    Auto,
}

impl RoutingMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(RoutingMode::Manual),
            "auto" => Some(RoutingMode::Auto),
            _ => None,
        }
    }
}

/// What a question's countdown is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
pub enum DueKind {
    #[sea_orm(num_value = 1)]
    UserReply,
    #[sea_orm(num_value = 2)]
    Wait,
    #[sea_orm(num_value = 3)]
    EndConfirm,
}

impl DueKind {
    pub const ALL: [DueKind; 3] = [DueKind::UserReply, DueKind::Wait, DueKind::EndConfirm];

    /// The question status the countdown belongs to.
    pub fn status(self) -> QuestionStatus {
        match self {
            DueKind::Wait => QuestionStatus::Waiting,
            DueKind::UserReply | DueKind::EndConfirm => QuestionStatus::Serving,
        }
    }
}

/// Where an outbound delivery (IM, webhook, push) stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryState {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "delivered")]
    Delivered,
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// Which kind of HTTP receiver a delivery goes to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    /// An app's webhook endpoint (signed CloudEvents).
    #[sea_orm(string_value = "webhook")]
    Webhook,
    /// The app's push endpoint (new-message notifications for offline users).
    #[sea_orm(string_value = "push")]
    Push,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_are_the_spec_numbers() {
        assert_eq!(i16::from(QuestionStatus::Serving), 2);
        assert_eq!(i16::from(MessageType::Notification), 4);
        assert_eq!(i16::from(NotifyAction::Reopen), 6);
        assert_eq!(DueKind::EndConfirm.to_value(), 3);
        assert_eq!(DeliveryState::Failed.to_value(), "failed");
        assert_eq!(<&str>::from(DeliveryState::Failed), "failed");
        assert_eq!(Channel::Push.to_string(), "push");
        assert_eq!(serde_json::to_string(&SenderType::Agent).unwrap(), "2");
        assert_eq!(serde_json::from_str::<SenderType>("1").unwrap(), SenderType::User);
        assert!(SenderType::try_from(3).is_err());
        assert!(QuestionStatus::try_from(0).is_err());
    }
}
