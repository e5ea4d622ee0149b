//! Schema migrations for PostgreSQL, MariaDB/MySQL and SQLite (`kefu migrate`).

pub use sea_orm_migration::prelude::*;

mod alter;
mod m20261124_000001_create_core;
mod m20261125_000001_contract;
mod m20261125_000002_toolkit;
mod m20261125_000003_leave_messages;
mod m20261129_000001_security;
mod m20261129_000002_events;
mod m20261129_000003_im_settings;
mod m20261129_000004_im_deliveries;
mod m20261129_000005_im_session_and_schedule;
mod m20261130_000001_timeouts;
mod m20261130_000002_webhooks;
mod m20261201_000001_login_locks;
mod m20261202_000001_settings_version;
mod m20261203_000001_routing;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_core::Migration),
            Box::new(m20261125_000001_contract::Migration),
            Box::new(m20261125_000002_toolkit::Migration),
            Box::new(m20261125_000003_leave_messages::Migration),
            Box::new(m20261129_000001_security::Migration),
            Box::new(m20261129_000002_events::Migration),
            Box::new(m20261129_000003_im_settings::Migration),
            Box::new(m20261129_000004_im_deliveries::Migration),
            Box::new(m20261129_000005_im_session_and_schedule::Migration),
            Box::new(m20261130_000001_timeouts::Migration),
            Box::new(m20261130_000002_webhooks::Migration),
            Box::new(m20261201_000001_login_locks::Migration),
            Box::new(m20261202_000001_settings_version::Migration),
            Box::new(m20261203_000001_routing::Migration),
        ]
    }
}
