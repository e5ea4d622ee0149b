//! The event spine: a per-question sequence number (commit order) on questions and
//! messages, the transactional outbox of domain events, and the kept dead letters.

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column, drop_index, drop_table};

use crate::m20261124_000001_create_core::{big, create, index, s, s_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Questions {
    Table,
    Seq,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    QuestionId,
    Seq,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Position,
    EventId,
    EventType,
    Subject,
    Payload,
    CreatedAt,
    ClaimedUntil,
    PublishedAt,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    Queue,
    MessageId,
    Payload,
    Reason,
    Attempts,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Questions::Table,
            ColumnDef::new(Questions::Seq).big_integer().not_null().default(0),
        )
        .await?;
        add_column(
            manager,
            Messages::Table,
            ColumnDef::new(Messages::Seq).big_integer().not_null().default(0),
        )
        .await?;
        manager
            .create_index(index(
                "idx_messages_question_seq",
                Messages::Table,
                vec![Messages::QuestionId.into_iden(), Messages::Seq.into_iden()],
            ))
            .await?;
        create(
            manager,
            Table::create()
                .table(OutboxEvents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(OutboxEvents::Position)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(s(OutboxEvents::EventId, 36).unique_key().to_owned())
                .col(s(OutboxEvents::EventType, 64))
                .col(s_null(OutboxEvents::Subject, 64))
                .col(ColumnDef::new(OutboxEvents::Payload).text().not_null())
                .col(big(OutboxEvents::CreatedAt))
                .col(ColumnDef::new(OutboxEvents::ClaimedUntil).big_integer().null())
                .col(ColumnDef::new(OutboxEvents::PublishedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        manager
            .create_index(index(
                "idx_outbox_events_published",
                OutboxEvents::Table,
                vec![
                    OutboxEvents::PublishedAt.into_iden(),
                    OutboxEvents::Position.into_iden(),
                ],
            ))
            .await?;
        create(
            manager,
            Table::create()
                .table(DeadLetters::Table)
                .if_not_exists()
                .col(s(DeadLetters::Id, 36).primary_key().to_owned())
                .col(s(DeadLetters::Queue, 64))
                .col(s(DeadLetters::MessageId, 64))
                .col(ColumnDef::new(DeadLetters::Payload).text().not_null())
                .col(ColumnDef::new(DeadLetters::Reason).text().not_null())
                .col(ColumnDef::new(DeadLetters::Attempts).integer().not_null())
                .col(big(DeadLetters::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, DeadLetters::Table).await?;
        drop_table(manager, OutboxEvents::Table).await?;
        drop_index(manager, "idx_messages_question_seq", Messages::Table).await?;
        drop_column(manager, Messages::Table, Messages::Seq).await?;
        drop_column(manager, Questions::Table, Questions::Seq).await
    }
}
