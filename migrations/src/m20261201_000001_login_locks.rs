//! Failed agent logins and the locks they lead to, per agent and per client address:
//! in the database, so every ingest counts together and a restart forgets nothing.

use sea_orm_migration::prelude::*;

use crate::alter::drop_table;

use crate::m20261124_000001_create_core::{big, create, s};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginLocks {
    Table,
    Scope,
    Subject,
    Failures,
    LastFailureAt,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(LoginLocks::Table)
                .if_not_exists()
                .col(s(LoginLocks::Scope, 16))
                .col(s(LoginLocks::Subject, 255))
                .col(ColumnDef::new(LoginLocks::Failures).integer().not_null())
                .col(big(LoginLocks::LastFailureAt))
                .col(ColumnDef::new(LoginLocks::LockedUntil).big_integer().null())
                .primary_key(Index::create().col(LoginLocks::Scope).col(LoginLocks::Subject))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, LoginLocks::Table).await
    }
}
