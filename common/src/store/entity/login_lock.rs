use sea_orm::entity::prelude::*;

/// Failed agent logins of one agent or one client address (`scope` `agent` /
/// `address`), and the lock they led to.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_locks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    pub failures: i32,
    /// ms since the epoch; failures are forgotten a lock window after the last one.
    pub last_failure_at: i64,
    /// ms since the epoch, while locked.
    pub locked_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
