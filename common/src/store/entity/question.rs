use sea_orm::entity::prelude::*;

use crate::domain::{DueKind, MessageType, QuestionStatus, SenderType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "questions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: i64,
    pub user_id: String,
    pub title: String,
    /// JSON array of the labels, as given.
    pub labels: String,
    pub status: QuestionStatus,
    pub serv_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_mess_text: Option<String>,
    pub last_mess_timestamp: Option<i64>,
    pub last_mess_sender: Option<String>,
    pub last_mess_sender_type: Option<SenderType>,
    /// Message type of the last chat message.
    pub last_mess_type: Option<MessageType>,
    /// When an agent last started serving it (queue-position estimates).
    pub served_at: Option<i64>,
    /// Incremented by every transaction that changes the question (commit order).
    pub seq: i64,
    /// The user's Tencent IM session (send_msg `SessionId`), when question/new gave one.
    pub im_session_id: Option<String>,
    /// The pending deadline's kind; none when no countdown runs.
    pub due_kind: Option<DueKind>,
    /// When the countdown started (ms): the deadline is this plus the app's duration.
    pub due_anchor: Option<i64>,
    /// When the deadline fires (ms); none while its duration is off. Indexed.
    pub due_at: Option<i64>,
    /// Set when a deadline closed the question (ms): a user's late reply reopens it.
    pub timed_out_at: Option<i64>,
    /// When its agent first wrote after serving it (ms): first-response figures.
    pub first_response_at: Option<i64>,
    /// The agent it is offered to (offer mode), until `offer_expires_at` (ms).
    pub offered_to: Option<String>,
    pub offer_expires_at: Option<i64>,
    /// The note of its last transfer, for the agent it was given to.
    pub transfer_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
