use sea_orm::entity::prelude::*;

/// A device session bound to an agent account (serv/bind).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_bindings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session: String,
    pub serv_id: String,
    pub bound_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
