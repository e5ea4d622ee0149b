use sea_orm::entity::prelude::*;

/// A message a queue gave up on, kept for operators to read and re-drive.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The queue it came from (`commands`).
    pub queue: String,
    pub message_id: String,
    pub payload: String,
    pub reason: String,
    pub attempts: i32,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
