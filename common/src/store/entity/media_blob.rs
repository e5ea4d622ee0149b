use sea_orm::entity::prelude::*;

/// A stored image or audio file (`crate::infra::media`), recorded before the command that
/// refers to it is published.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_blobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub content_type: String,
    pub size: i64,
    /// When it was last uploaded; unreferenced blobs are collected after a grace period.
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
