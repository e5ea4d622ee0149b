use sea_orm::entity::prelude::*;

use crate::domain::secret::Secret;
use crate::domain::RoutingMode;

/// A tenant: an app keyed by its package name (`identify`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub identify: String,
    pub name: String,
    /// HMAC key for the app's signed calls; never logged.
    pub secret: Secret,
    pub created_at: i64,
    /// Shown for users without an avatar; unset: `KEFU_DEFAULT_AVATAR_URL`.
    pub default_avatar_url: Option<String>,
    /// Set when an operator disabled it (ms); a disabled one is refused everywhere.
    pub disabled_at: Option<i64>,
    /// Raised by every change of the app's settings, for the workers' caches.
    pub settings_version: i64,
    /// Manual (agents pick from the waiting list) or automatic assignment.
    pub routing_mode: RoutingMode,
    /// Automatic assignment offers a question first, for this long (ms); none: assigns.
    pub offer_timeout_ms: Option<i64>,
    /// After finishing, ask the user for a rating (notification action 8).
    pub ask_rating: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
