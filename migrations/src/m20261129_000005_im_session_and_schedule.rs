//! A question may carry the user's Tencent IM session (`SessionId` of send_msg); an IM
//! delivery keeps when its next attempt is due (its backoff lives in the row, so a
//! sweeper re-enqueuing lost tasks never cuts a backoff short).

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_core::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Questions {
    Table,
    ImSessionId,
}

#[derive(DeriveIden)]
enum ImDeliveries {
    Table,
    State,
    NextAttemptAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Questions::Table)
                    .add_column(ColumnDef::new(Questions::ImSessionId).string_len(128).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ImDeliveries::Table)
                    .add_column(
                        ColumnDef::new(ImDeliveries::NextAttemptAt)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // The sweeper's lookup of overdue pending deliveries.
        manager
            .create_index(index(
                "idx_im_deliveries_due",
                ImDeliveries::Table,
                vec![ImDeliveries::State.into_iden(), ImDeliveries::NextAttemptAt.into_iden()],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_im_deliveries_due")
                    .table(ImDeliveries::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ImDeliveries::Table)
                    .drop_column(ImDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Questions::Table)
                    .drop_column(Questions::ImSessionId)
                    .to_owned(),
            )
            .await
    }
}
