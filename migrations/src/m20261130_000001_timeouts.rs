//! Question timeouts: per-app durations, and on each question its next deadline (kind,
//! the moment it counts from, when it is due; indexed for the sweep). Messages record
//! whether they were excluded from the user-reply countdown.

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column, drop_index, drop_table};

use crate::m20261124_000001_create_core::{big, create, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppTimeouts {
    Table,
    AppId,
    UserReplySecs,
    WaitSecs,
    EndConfirmSecs,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Questions {
    Table,
    DueKind,
    DueAnchor,
    DueAt,
    TimedOutAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    ExcludeFromTimeout,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(AppTimeouts::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AppTimeouts::AppId)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(AppTimeouts::UserReplySecs).big_integer().null())
                .col(ColumnDef::new(AppTimeouts::WaitSecs).big_integer().null())
                .col(ColumnDef::new(AppTimeouts::EndConfirmSecs).big_integer().null())
                .col(big(AppTimeouts::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // One column per statement: SQLite adds one at a time.
        for mut col in [
            ColumnDef::new(Questions::DueKind).small_integer().null().to_owned(),
            ColumnDef::new(Questions::DueAnchor).big_integer().null().to_owned(),
            ColumnDef::new(Questions::DueAt).big_integer().null().to_owned(),
            ColumnDef::new(Questions::TimedOutAt).big_integer().null().to_owned(),
        ] {
            add_column(manager, Questions::Table, &mut col).await?;
        }
        add_column(
            manager,
            Messages::Table,
            ColumnDef::new(Messages::ExcludeFromTimeout)
                .boolean()
                .not_null()
                .default(false),
        )
        .await?;
        manager
            .create_index(index(
                "idx_questions_due_at",
                Questions::Table,
                vec![Questions::DueAt.into_iden()],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, "idx_questions_due_at", Questions::Table).await?;
        drop_column(manager, Messages::Table, Messages::ExcludeFromTimeout).await?;
        for col in [
            Questions::DueKind,
            Questions::DueAnchor,
            Questions::DueAt,
            Questions::TimedOutAt,
        ] {
            drop_column(manager, Questions::Table, col).await?;
        }
        drop_table(manager, AppTimeouts::Table).await
    }
}
