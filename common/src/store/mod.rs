//! Persistence and the service layer: the entities, the read queries (re-exported here),
//! and the services both the CLI and the admin API call (operators, app settings,
//! webhooks, dead letters, login locks, quick answers, IM deliveries, timeouts, the
//! outbox).

pub mod app_settings;
pub mod db;
pub mod dead_letters;
pub mod entity;
pub mod figures;
pub mod im;
pub mod login_locks;
pub mod operators;
pub mod outbox;
mod queries;
pub mod question_overview;
pub mod quick_answers;
pub mod routing;
pub mod settings_cache;
pub mod timeouts;
pub mod webhooks;

pub use queries::*;
