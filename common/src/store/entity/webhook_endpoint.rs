use sea_orm::entity::prelude::*;

/// An app's webhook endpoint, subscribed to event-type patterns.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub app_id: i64,
    pub url: String,
    /// JSON array of topic patterns over the CloudEvent type (`kefu.question.*`).
    pub event_types: String,
    /// `whsec_` + base64 of the signing key; never printed.
    pub secret: String,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The secret is never printed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook_endpoint::Model")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("secret", &"***")
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}
