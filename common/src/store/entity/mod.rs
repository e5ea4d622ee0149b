//! sea-orm entities of the tables created by `kefu-migrations`.

pub mod agent;
pub mod agent_app;
pub mod agent_binding;
pub mod answer_item;
pub mod answer_template;
pub mod app;
pub mod app_im_settings;
pub mod app_push_endpoint;
pub mod app_timeouts;
pub mod dead_letter;
pub mod http_delivery;
pub mod idempotency_key;
pub mod im_delivery;
pub mod leave_message;
pub mod leave_message_app;
pub mod login_lock;
pub mod media_blob;
pub mod message;
pub mod outbox_event;
pub mod processed_command;
pub mod question;
pub mod question_label;
pub mod queue_job;
pub mod session;
pub mod user;
pub mod webhook_endpoint;
