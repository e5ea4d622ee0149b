//! Routing: agents' presence, capacity and the time of their last assignment; each
//! app's routing mode, offer timeout and rating request; on each question its first
//! response, the current offer and the note of its last transfer; ratings.

use sea_orm_migration::prelude::*;

use crate::alter::{add_column, drop_column, drop_index, drop_table};
use crate::m20261124_000001_create_core::{big, create, index, s};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    MaxConcurrent,
    Presence,
    PresenceAt,
    AssignedAt,
}

#[derive(DeriveIden)]
enum Apps {
    Table,
    RoutingMode,
    OfferTimeoutMs,
    AskRating,
}

#[derive(DeriveIden)]
enum Questions {
    Table,
    AppId,
    CreatedAt,
    FirstResponseAt,
    OfferedTo,
    OfferExpiresAt,
    TransferNote,
}

#[derive(DeriveIden)]
enum QuestionRatings {
    Table,
    QuestionId,
    AppId,
    UserId,
    ServId,
    Score,
    Comment,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut col in [
            ColumnDef::new(Agents::MaxConcurrent).integer().null().to_owned(),
            ColumnDef::new(Agents::Presence)
                .small_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Agents::PresenceAt).big_integer().null().to_owned(),
            ColumnDef::new(Agents::AssignedAt)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            add_column(manager, Agents::Table, &mut col).await?;
        }
        for mut col in [
            ColumnDef::new(Apps::RoutingMode)
                .small_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Apps::OfferTimeoutMs).big_integer().null().to_owned(),
            ColumnDef::new(Apps::AskRating)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            add_column(manager, Apps::Table, &mut col).await?;
        }
        for mut col in [
            ColumnDef::new(Questions::FirstResponseAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Questions::OfferedTo).string_len(20).null().to_owned(),
            ColumnDef::new(Questions::OfferExpiresAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Questions::TransferNote)
                .string_len(800)
                .null()
                .to_owned(),
        ] {
            add_column(manager, Questions::Table, &mut col).await?;
        }
        manager
            .create_index(index(
                "idx_questions_app_created",
                Questions::Table,
                vec![Questions::AppId.into_iden(), Questions::CreatedAt.into_iden()],
            ))
            .await?;
        create(
            manager,
            Table::create()
                .table(QuestionRatings::Table)
                .if_not_exists()
                .col(s(QuestionRatings::QuestionId, 24).primary_key())
                .col(big(QuestionRatings::AppId))
                .col(s(QuestionRatings::UserId, 64))
                .col(ColumnDef::new(QuestionRatings::ServId).string_len(20).null())
                .col(ColumnDef::new(QuestionRatings::Score).small_integer().not_null())
                .col(ColumnDef::new(QuestionRatings::Comment).string_len(2000).null())
                .col(big(QuestionRatings::CreatedAt))
                .to_owned(),
        )
        .await?;
        manager
            .create_index(index(
                "idx_question_ratings_app_created",
                QuestionRatings::Table,
                vec![
                    QuestionRatings::AppId.into_iden(),
                    QuestionRatings::CreatedAt.into_iden(),
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, QuestionRatings::Table).await?;
        drop_index(manager, "idx_questions_app_created", Questions::Table).await?;
        for col in [
            Questions::FirstResponseAt,
            Questions::OfferedTo,
            Questions::OfferExpiresAt,
            Questions::TransferNote,
        ] {
            drop_column(manager, Questions::Table, col).await?;
        }
        for col in [Apps::RoutingMode, Apps::OfferTimeoutMs, Apps::AskRating] {
            drop_column(manager, Apps::Table, col).await?;
        }
        for col in [
            Agents::MaxConcurrent,
            Agents::Presence,
            Agents::PresenceAt,
            Agents::AssignedAt,
        ] {
            drop_column(manager, Agents::Table, col).await?;
        }
        Ok(())
    }
}
