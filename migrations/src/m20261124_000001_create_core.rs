use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Identify,
    Name,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    AppId,
    UserId,
    UserName,
    UserImageUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Session,
    AppId,
    UserId,
    DeviceId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    ServId,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentApps {
    Table,
    ServId,
    AppId,
}

#[derive(DeriveIden)]
enum AgentBindings {
    Table,
    Session,
    ServId,
    BoundAt,
}

#[derive(DeriveIden)]
enum Questions {
    Table,
    Id,
    AppId,
    UserId,
    Title,
    Labels,
    Status,
    ServId,
    CreatedAt,
    UpdatedAt,
    LastMessText,
    LastMessTimestamp,
    LastMessSender,
    LastMessSenderType,
}

#[derive(DeriveIden)]
enum QuestionLabels {
    Table,
    QuestionId,
    Label,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    QuestionId,
    Sender,
    SenderType,
    MsgType,
    Text,
    Action,
    AudioUrl,
    AudioLen,
    ImageUrl,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ProcessedCommands {
    Table,
    Id,
    Outcome,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    Fingerprint,
    Envelope,
    Assigned,
    CreatedAt,
}

#[derive(DeriveIden)]
enum QueueJobs {
    Table,
    Id,
    Queue,
    MessageId,
    Payload,
    Attempts,
    AvailableAt,
    LockedUntil,
    CreatedAt,
    LastError,
}

pub(crate) fn s(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

pub(crate) fn s_null(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

pub(crate) fn big(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

pub(crate) fn index(name: &str, table: impl IntoIden + 'static, cols: Vec<DynIden>) -> IndexCreateStatement {
    let mut idx = Index::create().name(name).table(table).to_owned();
    for col in cols {
        idx.col(col);
    }
    idx
}

/// Creates a table; on MySQL/MariaDB as InnoDB utf8mb4 with a binary collation, so ids
/// compare exactly as on PostgreSQL and SQLite (`Alice` is not `alice`).
pub(crate) async fn create(m: &SchemaManager<'_>, mut table: TableCreateStatement) -> Result<(), DbErr> {
    if m.get_database_backend() == sea_orm::DbBackend::MySql {
        table.engine("InnoDB").character_set("utf8mb4").collate("utf8mb4_bin");
    }
    m.create_table(table).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            Table::create()
                .table(Apps::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Apps::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(s(Apps::Identify, 80).unique_key().to_owned())
                .col(s(Apps::Name, 64))
                .col(s(Apps::Secret, 128))
                .col(big(Apps::CreatedAt))
                .to_owned(),
        )
        .await?;

        create(
            m,
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(big(Users::AppId))
                .col(s(Users::UserId, 64))
                .col(s(Users::UserName, 64))
                .col(s_null(Users::UserImageUrl, 512))
                .col(big(Users::CreatedAt))
                .col(big(Users::UpdatedAt))
                .primary_key(Index::create().col(Users::AppId).col(Users::UserId))
                .to_owned(),
        )
        .await?;

        create(
            m,
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(s(Sessions::Session, 12).primary_key().to_owned())
                .col(big(Sessions::AppId))
                .col(s(Sessions::UserId, 64))
                .col(s_null(Sessions::DeviceId, 64))
                .col(big(Sessions::CreatedAt))
                .col(big(Sessions::ExpiresAt))
                .to_owned(),
        )
        .await?;

        create(
            m,
            Table::create()
                .table(Agents::Table)
                .if_not_exists()
                .col(s(Agents::ServId, 20).primary_key().to_owned())
                .col(s(Agents::PasswordHash, 255))
                .col(big(Agents::CreatedAt))
                .to_owned(),
        )
        .await?;

        create(
            m,
            Table::create()
                .table(AgentApps::Table)
                .if_not_exists()
                .col(s(AgentApps::ServId, 20))
                .col(big(AgentApps::AppId))
                .primary_key(Index::create().col(AgentApps::ServId).col(AgentApps::AppId))
                .to_owned(),
        )
        .await?;

        create(
            m,
            Table::create()
                .table(AgentBindings::Table)
                .if_not_exists()
                .col(s(AgentBindings::Session, 12).primary_key().to_owned())
                .col(s(AgentBindings::ServId, 20))
                .col(big(AgentBindings::BoundAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_agent_bindings_serv",
            AgentBindings::Table,
            vec![AgentBindings::ServId.into_iden()],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(Questions::Table)
                .if_not_exists()
                .col(s(Questions::Id, 24).primary_key().to_owned())
                .col(big(Questions::AppId))
                .col(s(Questions::UserId, 64))
                .col(s(Questions::Title, 200))
                .col(ColumnDef::new(Questions::Labels).text().not_null())
                .col(ColumnDef::new(Questions::Status).small_integer().not_null())
                .col(s_null(Questions::ServId, 20))
                .col(big(Questions::CreatedAt))
                .col(big(Questions::UpdatedAt))
                .col(ColumnDef::new(Questions::LastMessText).text().null())
                .col(ColumnDef::new(Questions::LastMessTimestamp).big_integer().null())
                .col(s_null(Questions::LastMessSender, 64))
                .col(ColumnDef::new(Questions::LastMessSenderType).small_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_questions_status_app",
            Questions::Table,
            vec![
                Questions::Status.into_iden(),
                Questions::AppId.into_iden(),
                Questions::Id.into_iden(),
            ],
        ))
        .await?;
        m.create_index(index(
            "idx_questions_user",
            Questions::Table,
            vec![
                Questions::AppId.into_iden(),
                Questions::UserId.into_iden(),
                Questions::Id.into_iden(),
            ],
        ))
        .await?;
        m.create_index(index(
            "idx_questions_serv",
            Questions::Table,
            vec![
                Questions::ServId.into_iden(),
                Questions::Status.into_iden(),
                Questions::Id.into_iden(),
            ],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(QuestionLabels::Table)
                .if_not_exists()
                .col(s(QuestionLabels::QuestionId, 24))
                .col(s(QuestionLabels::Label, 32))
                .primary_key(
                    Index::create()
                        .col(QuestionLabels::QuestionId)
                        .col(QuestionLabels::Label),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_question_labels_label",
            QuestionLabels::Table,
            vec![QuestionLabels::Label.into_iden()],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(Messages::Table)
                .if_not_exists()
                .col(s(Messages::Id, 24).primary_key().to_owned())
                .col(s(Messages::QuestionId, 24))
                .col(s(Messages::Sender, 64))
                .col(ColumnDef::new(Messages::SenderType).small_integer().not_null())
                .col(ColumnDef::new(Messages::MsgType).small_integer().not_null())
                .col(ColumnDef::new(Messages::Text).text().null())
                .col(ColumnDef::new(Messages::Action).small_integer().null())
                .col(s_null(Messages::AudioUrl, 512))
                .col(ColumnDef::new(Messages::AudioLen).integer().null())
                .col(s_null(Messages::ImageUrl, 512))
                .col(big(Messages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_messages_question",
            Messages::Table,
            vec![Messages::QuestionId.into_iden(), Messages::Id.into_iden()],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(ProcessedCommands::Table)
                .if_not_exists()
                .col(s(ProcessedCommands::Id, 36).primary_key().to_owned())
                .col(ColumnDef::new(ProcessedCommands::Outcome).text().not_null())
                .col(big(ProcessedCommands::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_processed_commands_created",
            ProcessedCommands::Table,
            vec![ProcessedCommands::CreatedAt.into_iden()],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(IdempotencyKeys::Table)
                .if_not_exists()
                .col(s(IdempotencyKeys::Id, 36).primary_key().to_owned())
                .col(s(IdempotencyKeys::Fingerprint, 64))
                .col(ColumnDef::new(IdempotencyKeys::Envelope).text().not_null())
                .col(ColumnDef::new(IdempotencyKeys::Assigned).text().not_null())
                .col(big(IdempotencyKeys::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_idempotency_keys_created",
            IdempotencyKeys::Table,
            vec![IdempotencyKeys::CreatedAt.into_iden()],
        ))
        .await?;

        create(
            m,
            Table::create()
                .table(QueueJobs::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(QueueJobs::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(s(QueueJobs::Queue, 64))
                .col(s(QueueJobs::MessageId, 36))
                .col(ColumnDef::new(QueueJobs::Payload).text().not_null())
                .col(ColumnDef::new(QueueJobs::Attempts).integer().not_null())
                .col(big(QueueJobs::AvailableAt))
                .col(big(QueueJobs::LockedUntil))
                .col(big(QueueJobs::CreatedAt))
                .col(ColumnDef::new(QueueJobs::LastError).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "idx_queue_jobs_ready",
            QueueJobs::Table,
            vec![QueueJobs::Queue.into_iden(), QueueJobs::AvailableAt.into_iden()],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            QueueJobs::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            ProcessedCommands::Table.into_iden(),
            Messages::Table.into_iden(),
            QuestionLabels::Table.into_iden(),
            Questions::Table.into_iden(),
            AgentBindings::Table.into_iden(),
            AgentApps::Table.into_iden(),
            Agents::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            Apps::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
