//! A version on each app, raised by every change of its settings (IM, timeouts,
//! webhooks, push): workers cache the settings and re-read them only when it moved.

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    SettingsVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Apps::Table,
            ColumnDef::new(Apps::SettingsVersion)
                .big_integer()
                .not_null()
                .default(0),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Apps::Table, Apps::SettingsVersion).await
    }
}
