//! A question may carry the user's Tencent IM session (`SessionId` of send_msg); an IM
//! delivery keeps when its next attempt is due (its backoff lives in the row, so a
//! sweeper re-enqueuing lost tasks never cuts a backoff short).

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column, drop_index};

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
        add_column(
            manager,
            Questions::Table,
            ColumnDef::new(Questions::ImSessionId).string_len(128).null(),
        )
        .await?;
        add_column(
            manager,
            ImDeliveries::Table,
            ColumnDef::new(ImDeliveries::NextAttemptAt)
                .big_integer()
                .not_null()
                .default(0),
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
        drop_index(manager, "idx_im_deliveries_due", ImDeliveries::Table).await?;
        drop_column(manager, ImDeliveries::Table, ImDeliveries::NextAttemptAt).await?;
        drop_column(manager, Questions::Table, Questions::ImSessionId).await
    }
}
