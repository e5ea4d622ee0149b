//! Question timeouts: per-app durations, and on each question its next deadline (kind,
//! the moment it counts from, when it is due; indexed for the sweep). Messages record
//! whether they were excluded from the user-reply countdown.

use sea_orm_migration::prelude::*;

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
        for col in [
            ColumnDef::new(Questions::DueKind).small_integer().null().to_owned(),
            ColumnDef::new(Questions::DueAnchor).big_integer().null().to_owned(),
            ColumnDef::new(Questions::DueAt).big_integer().null().to_owned(),
            ColumnDef::new(Questions::TimedOutAt).big_integer().null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Questions::Table).add_column(col).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(
                        ColumnDef::new(Messages::ExcludeFromTimeout)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
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
        manager
            .drop_index(
                Index::drop()
                    .name("idx_questions_due_at")
                    .table(Questions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::ExcludeFromTimeout)
                    .to_owned(),
            )
            .await?;
        for col in [
            Questions::DueKind,
            Questions::DueAnchor,
            Questions::DueAt,
            Questions::TimedOutAt,
        ] {
            manager
                .alter_table(Table::alter().table(Questions::Table).drop_column(col).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(AppTimeouts::Table).to_owned())
            .await
    }
}
