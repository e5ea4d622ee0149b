use sea_orm::entity::prelude::*;

/// An app's own question timeouts (seconds; 0 off); a missing row or column means the
/// configured default.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_timeouts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
    pub user_reply_secs: Option<i64>,
    pub wait_secs: Option<i64>,
    pub end_confirm_secs: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
