//! The original's list defaults: a per-app default avatar, and the type of the last
//! chat message (shown as `[图片]` / `[语音]`).

use sea_orm_migration::prelude::*;

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
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .add_column(ColumnDef::new(Apps::DefaultAvatarUrl).string_len(512).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Questions::Table)
                    .add_column(ColumnDef::new(Questions::LastMessType).small_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Questions::Table)
                    .drop_column(Questions::LastMessType)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .drop_column(Apps::DefaultAvatarUrl)
                    .to_owned(),
            )
            .await
    }
}
