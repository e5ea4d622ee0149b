use sea_orm::entity::prelude::*;

use crate::domain::DeliveryState;

/// One message on its way to the user's IM.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "im_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: String,
    pub question_id: String,
    pub app_id: i64,
    /// The message's place in its question (commit order): deliveries go in this order.
    pub seq: i64,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// A worker sending this question's deliveries holds them until then (ms).
    pub lease_until: i64,
    /// Not tried again before this (ms): the backoff after a retriable failure.
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
