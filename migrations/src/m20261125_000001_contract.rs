//! The original's list defaults: a per-app default avatar, and the type of the last
//! chat message (shown as `[图片]` / `[语音]`).

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    DefaultAvatarUrl,
}

#[derive(DeriveIden)]
enum Questions {
    Table,
    LastMessType,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite takes no more.
        add_column(
            manager,
            Apps::Table,
            ColumnDef::new(Apps::DefaultAvatarUrl).string_len(512).null(),
        )
        .await?;
        add_column(
            manager,
            Questions::Table,
            ColumnDef::new(Questions::LastMessType).small_integer().null(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Questions::Table, Questions::LastMessType).await?;
        drop_column(manager, Apps::Table, Apps::DefaultAvatarUrl).await
    }
}
