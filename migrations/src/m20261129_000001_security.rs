//! Security: apps and agents can be disabled, sessions are stored as SHA-256 digests
//! (a leaked table gives no usable session), and expired sessions are pruned by index.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column, drop_index};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    DisabledAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    DisabledAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Session,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AgentBindings {
    Table,
    Session,
}

/// The digest a session is stored under (kefu_common::domain::SessionToken::digest).
fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Replaces every plaintext token of `table.session` by its digest.
async fn hash_tokens(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let q = |s: &str| match backend {
        DbBackend::MySql => s.replace('"', "`"),
        _ => s.to_owned(),
    };
    let rows = db
        .query_all(Statement::from_string(
            backend,
            q(&format!(r#"SELECT "session" FROM "{table}""#)),
        ))
        .await?;
    let update = q(&format!(r#"UPDATE "{table}" SET "session" = $1 WHERE "session" = $2"#));
    let update = match backend {
        DbBackend::Postgres => update,
        _ => update.replace("$1", "?").replace("$2", "?"),
    };
    for row in rows {
        let token: String = row.try_get("", "session")?;
        if token.len() == 64 {
            continue;
        }
        db.execute(Statement::from_sql_and_values(
            backend,
            update.clone(),
            [digest(&token).into(), token.into()],
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite takes no more.
        add_column(
            manager,
            Apps::Table,
            ColumnDef::new(Apps::DisabledAt).big_integer().null(),
        )
        .await?;
        add_column(
            manager,
            Agents::Table,
            ColumnDef::new(Agents::DisabledAt).big_integer().null(),
        )
        .await?;
        // SQLite does not enforce varchar lengths (and cannot MODIFY a column).
        if manager.get_database_backend() != DbBackend::Sqlite {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .modify_column(ColumnDef::new(Sessions::Session).string_len(64).not_null())
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(AgentBindings::Table)
                        .modify_column(ColumnDef::new(AgentBindings::Session).string_len(64).not_null())
                        .to_owned(),
                )
                .await?;
        }
        hash_tokens(manager, "sessions").await?;
        hash_tokens(manager, "agent_bindings").await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Digests cannot be turned back into tokens: the sessions end.
        let db = manager.get_connection();
        db.execute_unprepared("DELETE FROM agent_bindings").await?;
        db.execute_unprepared("DELETE FROM sessions").await?;
        drop_index(manager, "idx_sessions_expires_at", Sessions::Table).await?;
        drop_column(manager, Agents::Table, Agents::DisabledAt).await?;
        drop_column(manager, Apps::Table, Apps::DisabledAt).await
    }
}
