use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;

/// An app's webhook endpoint, subscribed to event-type patterns.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: i64,
    pub url: String,
    /// JSON array of topic patterns over the CloudEvent type (`kefu.question.*`).
    pub event_types: String,
    /// `whsec_` + base64 of the signing key; never printed.
    pub secret: Secret,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
