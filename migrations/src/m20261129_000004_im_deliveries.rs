//! IM deliveries: one row per agent message or notification of an app with IM settings,
//! written in the message's transaction, worked by the `im-deliveries` task queue.

use sea_orm_migration::prelude::*;

use crate::alter::drop_table;

use crate::m20261124_000001_create_core::{big, create, index, s};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImDeliveries {
    Table,
    MessageId,
    QuestionId,
    AppId,
    Seq,
    State,
    Attempts,
    LastError,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(ImDeliveries::Table)
                .if_not_exists()
                .col(s(ImDeliveries::MessageId, 24).primary_key().to_owned())
                .col(s(ImDeliveries::QuestionId, 24))
                .col(big(ImDeliveries::AppId))
                .col(big(ImDeliveries::Seq))
                .col(s(ImDeliveries::State, 16))
                .col(ColumnDef::new(ImDeliveries::Attempts).integer().not_null())
                .col(ColumnDef::new(ImDeliveries::LastError).text().null())
                .col(big(ImDeliveries::LeaseUntil))
                .col(big(ImDeliveries::CreatedAt))
                .col(big(ImDeliveries::UpdatedAt))
                .to_owned(),
        )
        .await?;
        manager
            .create_index(index(
                "idx_im_deliveries_question",
                ImDeliveries::Table,
                vec![
                    ImDeliveries::QuestionId.into_iden(),
                    ImDeliveries::State.into_iden(),
                    ImDeliveries::Seq.into_iden(),
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_im_deliveries_state",
                ImDeliveries::Table,
                vec![ImDeliveries::State.into_iden(), ImDeliveries::UpdatedAt.into_iden()],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, ImDeliveries::Table).await
    }
}
