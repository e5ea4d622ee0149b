use sea_orm::entity::prelude::*;

/// Where an app's backend receives the push payloads for its users and agents.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_push_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
    pub url: String,
    /// `whsec_` + base64 of the signing key; never printed.
    pub secret: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("app_push_endpoint::Model")
            .field("app_id", &self.app_id)
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}
