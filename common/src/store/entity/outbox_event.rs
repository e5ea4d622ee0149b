use sea_orm::entity::prelude::*;

/// A domain event written in the transaction of its change, waiting for (or kept after)
/// the relay.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    /// Commit order across all events (auto-increment).
    #[sea_orm(primary_key)]
    pub position: i64,
    /// The CloudEvent id: the same on every publish of this event.
    #[sea_orm(unique)]
    pub event_id: String,
    pub event_type: String,
    pub subject: Option<String>,
    /// The CloudEvent, structured JSON.
    pub payload: String,
    pub created_at: i64,
    /// A relay's lease (databases without SKIP LOCKED).
    pub claimed_until: Option<i64>,
    pub published_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
