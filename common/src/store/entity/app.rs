use sea_orm::entity::prelude::*;

/// A tenant: an app keyed by its package name (`identify`).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub identify: String,
    pub name: String,
    /// HMAC key for the app's signed calls; never logged.
    pub secret: String,
    pub created_at: i64,
    /// Shown for users without an avatar; unset: `KEFU_DEFAULT_AVATAR_URL`.
    pub default_avatar_url: Option<String>,
    /// Set when an operator disabled it (ms); a disabled one is refused everywhere.
    pub disabled_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The secret is never printed.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("app::Model")
            .field("id", &self.id)
            .field("identify", &self.identify)
            .field("name", &self.name)
            .field("secret", &"***")
            .field("created_at", &self.created_at)
            .field("default_avatar_url", &self.default_avatar_url)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}
