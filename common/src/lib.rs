//! Shared pieces of Kefu, cut by concern:
//! - [`domain`]: the values Kefu accepts, the commands, events and outcomes (no I/O);
//! - [`store`]: persistence and the service layer (entities, queries, operators,
//!   webhooks, dead letters, IM deliveries, timeouts), over sea-orm;
//! - [`infra`]: the broker, configuration, metrics, retries and the media store.

pub mod domain;
pub mod infra;
pub mod store;

/// Milliseconds since the Unix epoch; every stored timestamp uses this unit.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
