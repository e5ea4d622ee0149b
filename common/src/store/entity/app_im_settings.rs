use sea_orm::entity::prelude::*;

/// An app's Tencent Cloud IM settings; an app without a row gets no IM deliveries.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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
    pub secret_key: String,
    /// The customer-service account messages are sent from (`FromAccount`).
    pub from_account: String,
    pub updated_at: i64,
}

/// The secret key is never printed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("app_im_settings::Model")
            .field("app_id", &self.app_id)
            .field("base_url", &self.base_url)
            .field("sdkappid", &self.sdkappid)
            .field("identifier", &self.identifier)
            .field("secret_key", &"***")
            .field("from_account", &self.from_account)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
