use sea_orm::entity::prelude::*;

/// The apps an agent serves.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_apps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub serv_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
