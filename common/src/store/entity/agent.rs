use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;
use crate::domain::Presence;

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
    /// Serving questions it may hold at once; none or 0: no limit.
    pub max_concurrent: Option<i32>,
    /// What the agent last said of itself (`POST /v1/serv/<id>/status`); offline
    /// whenever it has no live bound session, whatever is stored.
    pub presence: Presence,
    pub presence_at: Option<i64>,
    /// When it was last given a question automatically (ms; 0: never): the one idle
    /// longest goes first.
    pub assigned_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
