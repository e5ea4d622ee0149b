use sea_orm::entity::prelude::*;

use crate::domain::{MessageType, NotifyAction, SenderType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub question_id: String,
    pub sender: String,
    pub sender_type: SenderType,
    pub msg_type: MessageType,
    pub text: Option<String>,
    pub action: Option<NotifyAction>,
    pub audio_url: Option<String>,
    pub audio_len: Option<i32>,
    pub image_url: Option<String>,
    pub created_at: i64,
    /// The media store key of an image or audio message.
    pub media_key: Option<String>,
    /// The question's sequence number of the transaction that wrote it.
    pub seq: i64,
    /// The agent excluded it from the user-reply countdown (ExcludeFromUserRespTimeout).
    pub exclude_from_timeout: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
