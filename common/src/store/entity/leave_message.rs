use sea_orm::entity::prelude::*;

/// A leave message (留言), in the leave-message spec's table `cc_misc_lvmsg`, column for
/// column. `create_time` is UTC (MySQL `timestamp`, PostgreSQL `timestamptz`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cc_misc_lvmsg")]
pub struct Model {
    /// A UUID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `app` (`weixin` is reserved for WeChat sources).
    pub acc_type: String,
    /// The app's name.
    pub acc_name: String,
    pub user_id: Option<String>,
    pub contact: String,
    pub callback: String,
    pub tel: Option<String>,
    pub email: Option<String>,
    pub subject: String,
    pub content: Option<String>,
    pub create_time: DateTimeUtc,
    /// Serialized JSON.
    pub user_data: Option<String>,
    pub tag: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
