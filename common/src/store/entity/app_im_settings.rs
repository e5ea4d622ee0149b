use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;

/// An app's Tencent Cloud IM settings; an app without a row gets no IM deliveries.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_im_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: i64,
    /// The REST domain, e.g. `https://console.tim.qq.com`.
    pub base_url: String,
    pub sdkappid: i64,
    /// The IM administrator account the REST calls are signed as.
    pub identifier: String,
    /// The key UserSigs are generated from; never printed.
    pub secret_key: Secret,
    /// The customer-service account messages are sent from (`FromAccount`).
    pub from_account: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
