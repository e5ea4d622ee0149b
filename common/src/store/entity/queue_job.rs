use sea_orm::entity::prelude::*;

/// The embedded queue: one row per queued message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `commands`, or `dead` once it exceeded the delivery limit.
    pub queue: String,
    pub message_id: String,
    pub payload: String,
    pub attempts: i32,
    pub available_at: i64,
    pub locked_until: i64,
    pub created_at: i64,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
