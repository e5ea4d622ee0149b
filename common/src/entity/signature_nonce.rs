use sea_orm::entity::prelude::*;

/// Signatures of app-signed requests already accepted: a signed request is used once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signature_nonces")]
pub struct Model {
    /// hex SHA-256 of the app id and the signature.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
