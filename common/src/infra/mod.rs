//! Infrastructure: the broker (RabbitMQ or the embedded queue), configuration,
//! metrics, retry schedules and the media store.

pub mod broker;
pub mod config;
mod flags;
pub mod media;
pub mod metrics;
pub mod retry;
