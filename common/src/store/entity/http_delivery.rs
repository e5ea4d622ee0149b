use sea_orm::entity::prelude::*;

use crate::domain::{Channel, DeliveryState};

/// One signed POST to a webhook or push endpoint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "http_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: i64,
    pub channel: Channel,
    /// The webhook endpoint's id, or `push`.
    pub endpoint_id: String,
    /// `webhook-id`: the CloudEvent id (webhooks) or message id and recipient (push);
    /// the same on every attempt, so receivers de-duplicate.
    pub message_id: String,
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
