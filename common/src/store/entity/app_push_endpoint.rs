use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;

/// Where an app's backend receives the push payloads for its users and agents.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_push_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
    pub url: String,
    /// `whsec_` + base64 of the signing key; never printed.
    pub secret: Secret,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
