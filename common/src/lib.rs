//! Shared pieces of Kefu: domain types, ids, commands and outcomes, configuration,
//! the storage entities and read queries, and the broker abstraction.

#[macro_use]
pub mod domain;
pub mod app_settings;
pub mod broker;
pub mod command;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod entity;
pub mod events;
pub mod ids;
pub mod im;
pub mod leave;
pub mod login_locks;
pub mod media;
pub mod metrics;
pub mod operators;
pub mod outbox;
pub mod outcome;
pub mod question_overview;
pub mod retry;
pub mod store;
pub mod timeouts;
pub mod webhooks;

/// Milliseconds since the Unix epoch; every stored timestamp uses this unit.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
