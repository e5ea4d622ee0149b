use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub question_id: String,
    pub sender: String,
    /// 1 user, 2 agent.
    pub sender_type: i16,
    /// 1 audio, 2 image, 3 text, 4 notification.
    pub msg_type: i16,
    pub text: Option<String>,
    pub action: Option<i16>,
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
