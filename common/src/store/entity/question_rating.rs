use sea_orm::entity::prelude::*;

/// A finished question's rating by its user (once).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "question_ratings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub question_id: String,
    pub app_id: i64,
    pub user_id: String,
    /// The agent who served it last.
    pub serv_id: Option<String>,
    /// 1 to 5.
    pub score: i16,
    pub comment: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
