use sea_orm::entity::prelude::*;

/// A client's `Idempotency-Key`, recorded before its command is published: a retry
/// re-publishes the same envelope (same ids) and a different request with the key is refused.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// The command id derived from the scope and the key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the request's method, path and fields (secrets left out).
    pub fingerprint: String,
    /// The serialized `Envelope`.
    pub envelope: String,
    /// The ids assigned by the ingest, as a JSON object (the 202 body).
    pub assigned: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
