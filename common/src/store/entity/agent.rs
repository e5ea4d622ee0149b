use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub serv_id: String,
    /// argon2id PHC string.
    pub password_hash: Secret,
    pub created_at: i64,
    /// Set when an operator disabled it (ms); a disabled one is refused everywhere.
    pub disabled_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
