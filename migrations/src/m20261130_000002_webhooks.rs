//! Webhook endpoints (per app, subscribed to event types), each app's push endpoint,
//! and their outbound HTTP deliveries (written in the event's transaction).

use sea_orm_migration::prelude::*;

use crate::alter::drop_table;

use crate::m20261124_000001_create_core::{big, create, index, s};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    AppId,
    Url,
    EventTypes,
    Secret,
    DisabledAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppPushEndpoints {
    Table,
    AppId,
    Url,
    Secret,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HttpDeliveries {
    Table,
    Id,
    AppId,
    Channel,
    EndpointId,
    MessageId,
    Payload,
    State,
    Attempts,
    LastError,
    NextAttemptAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(WebhookEndpoints::Table)
                .if_not_exists()
                .col(s(WebhookEndpoints::Id, 40).primary_key().to_owned())
                .col(big(WebhookEndpoints::AppId))
                .col(s(WebhookEndpoints::Url, 512))
                .col(ColumnDef::new(WebhookEndpoints::EventTypes).text().not_null())
                .col(s(WebhookEndpoints::Secret, 128))
                .col(ColumnDef::new(WebhookEndpoints::DisabledAt).big_integer().null())
                .col(big(WebhookEndpoints::CreatedAt))
                .to_owned(),
        )
        .await?;
        manager
            .create_index(index(
                "idx_webhook_endpoints_app",
                WebhookEndpoints::Table,
                vec![WebhookEndpoints::AppId.into_iden()],
            ))
            .await?;
        create(
            manager,
            Table::create()
                .table(AppPushEndpoints::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AppPushEndpoints::AppId)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(s(AppPushEndpoints::Url, 512))
                .col(s(AppPushEndpoints::Secret, 128))
                .col(big(AppPushEndpoints::UpdatedAt))
                .to_owned(),
        )
        .await?;
        create(
            manager,
            Table::create()
                .table(HttpDeliveries::Table)
                .if_not_exists()
                .col(s(HttpDeliveries::Id, 40).primary_key().to_owned())
                .col(big(HttpDeliveries::AppId))
                .col(s(HttpDeliveries::Channel, 16))
                .col(s(HttpDeliveries::EndpointId, 40))
                .col(s(HttpDeliveries::MessageId, 80))
                .col(ColumnDef::new(HttpDeliveries::Payload).text().not_null())
                .col(s(HttpDeliveries::State, 16))
                .col(ColumnDef::new(HttpDeliveries::Attempts).integer().not_null())
                .col(ColumnDef::new(HttpDeliveries::LastError).text().null())
                .col(big(HttpDeliveries::NextAttemptAt))
                .col(big(HttpDeliveries::CreatedAt))
                .col(big(HttpDeliveries::UpdatedAt))
                .to_owned(),
        )
        .await?;
        manager
            .create_index(index(
                "idx_http_deliveries_due",
                HttpDeliveries::Table,
                vec![
                    HttpDeliveries::State.into_iden(),
                    HttpDeliveries::NextAttemptAt.into_iden(),
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            HttpDeliveries::Table.into_iden(),
            AppPushEndpoints::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            drop_table(manager, table).await?;
        }
        Ok(())
    }
}
