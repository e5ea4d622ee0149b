//! The agent's toolkit: media blobs, quick-answer templates, user groups, and the
//! serve time behind queue-position estimates.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_core::{big, create, index, s, s_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MediaBlobs {
    Table,
    Key,
    ContentType,
    Size,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    MediaKey,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Groups,
}

#[derive(DeriveIden)]
enum Questions {
    Table,
    AppId,
    ServedAt,
}

#[derive(DeriveIden)]
enum AnswerTemplates {
    Table,
    Id,
    AppId,
    Title,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AnswerItems {
    Table,
    Id,
    TemplateId,
    Question,
    Content,
    CreatedAt,
    UpdatedAt,
}

async fn add_column(m: &SchemaManager<'_>, table: impl IntoIden + 'static, col: ColumnDef) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            Table::create()
                .table(MediaBlobs::Table)
                .if_not_exists()
                .col(s(MediaBlobs::Key, 80).primary_key().to_owned())
                .col(s(MediaBlobs::ContentType, 32))
                .col(big(MediaBlobs::Size))
                .col(big(MediaBlobs::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_media_blobs_created",
            MediaBlobs::Table,
            vec![MediaBlobs::CreatedAt.into_iden()],
        ))
        .await?;
        add_column(m, Messages::Table, s_null(Messages::MediaKey, 80)).await?;
        m.create_index(index(
            "idx_messages_media",
            Messages::Table,
            vec![Messages::MediaKey.into_iden()],
        ))
        .await?;
        add_column(m, Users::Table, ColumnDef::new(Users::Groups).text().null().to_owned()).await?;
        add_column(
            m,
            Questions::Table,
            ColumnDef::new(Questions::ServedAt).big_integer().null().to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_questions_served",
            Questions::Table,
            vec![Questions::AppId.into_iden(), Questions::ServedAt.into_iden()],
        ))
        .await?;
        create(
            m,
            Table::create()
                .table(AnswerTemplates::Table)
                .if_not_exists()
                .col(s(AnswerTemplates::Id, 24).primary_key().to_owned())
                .col(big(AnswerTemplates::AppId))
                .col(s(AnswerTemplates::Title, 100))
                .col(big(AnswerTemplates::CreatedAt))
                .col(big(AnswerTemplates::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_answer_templates_app",
            AnswerTemplates::Table,
            vec![AnswerTemplates::AppId.into_iden(), AnswerTemplates::Id.into_iden()],
        ))
        .await?;
        create(
            m,
            Table::create()
                .table(AnswerItems::Table)
                .if_not_exists()
                .col(s(AnswerItems::Id, 24).primary_key().to_owned())
                .col(s(AnswerItems::TemplateId, 24))
                .col(ColumnDef::new(AnswerItems::Question).text().not_null())
                .col(ColumnDef::new(AnswerItems::Content).text().not_null())
                .col(big(AnswerItems::CreatedAt))
                .col(big(AnswerItems::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_answer_items_template",
            AnswerItems::Table,
            vec![AnswerItems::TemplateId.into_iden(), AnswerItems::Id.into_iden()],
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AnswerItems::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(AnswerTemplates::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("idx_questions_served")
                .table(Questions::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Questions::Table)
                .drop_column(Questions::ServedAt)
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::Groups).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("idx_messages_media")
                .table(Messages::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Messages::Table)
                .drop_column(Messages::MediaKey)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(MediaBlobs::Table).to_owned()).await
    }
}
