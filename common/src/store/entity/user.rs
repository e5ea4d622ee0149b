use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub user_name: String,
    pub user_image_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of the groups the app sent with session/new.
    pub groups: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
