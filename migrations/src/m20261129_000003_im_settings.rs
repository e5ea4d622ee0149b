//! Per-app Tencent Cloud IM settings (outbound deliveries through desk_http_svc/send_msg).

use sea_orm_migration::prelude::*;

use crate::alter::drop_table;

use crate::m20261124_000001_create_core::{big, create, s};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppImSettings {
    Table,
    AppId,
    BaseUrl,
    Sdkappid,
    Identifier,
    SecretKey,
    FromAccount,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(AppImSettings::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AppImSettings::AppId)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(s(AppImSettings::BaseUrl, 512))
                .col(big(AppImSettings::Sdkappid))
                .col(s(AppImSettings::Identifier, 64))
                .col(s(AppImSettings::SecretKey, 256))
                .col(s(AppImSettings::FromAccount, 64))
                .col(big(AppImSettings::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, AppImSettings::Table).await
    }
}
