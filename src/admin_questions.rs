//! `kefu admin questions …`: every app's questions, as operators see them.

use clap::Subcommand;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::{Identify, Page, QuestionStatus, ServId, UserId};
use kefu_common::store::question_overview::{self, Filter};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

use crate::admin::{arg, to_json, AdminError};

#[derive(Subcommand)]
pub enum QuestionsCmd {
    /// List questions, newest first (JSON: questions and next_cursor).
    List {
        /// Only this app.
        #[arg(long)]
        identify: Option<String>,
        /// Only this status: 1 waiting, 2 serving, 3 finished.
        #[arg(long, value_parser = clap::value_parser!(i16).range(1..=3))]
        status: Option<i16>,
        /// Only questions this agent serves or last served.
        #[arg(long)]
        serv_id: Option<String>,
        /// Only this user's questions.
        #[arg(long)]
        user_id: Option<String>,
        /// Asked at or after (seconds since the epoch).
        #[arg(long)]
        since: Option<i64>,
        /// The next_cursor of the previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Questions per page, 1–50.
        #[arg(long, default_value_t = Page::DEFAULT_NUM, value_parser = clap::value_parser!(u64).range(1..=Page::MAX_NUM))]
        num: u64,
    },
    /// One question with its messages.
    Show {
        #[arg(long)]
        id: String,
    },
}

pub async fn run(db: &DatabaseConnection, media_base: &str, command: QuestionsCmd) -> Result<Value, AdminError> {
    let object_id = |name: &'static str, raw: &str| {
        arg(
            name,
            |s| ObjectId::parse(s).map_err(|e| kefu_common::domain::Invalid(e.to_string())),
            raw,
        )
    };
    Ok(match command {
        QuestionsCmd::List {
            identify,
            status,
            serv_id,
            user_id,
            since,
            cursor,
            num,
        } => {
            let filter = Filter {
                identify: identify.map(|r| arg("identify", Identify::parse, &r)).transpose()?,
                status: status
                    .map(QuestionStatus::try_from)
                    .transpose()
                    .map_err(|e| AdminError::Invalid("status", e))?,
                serv_id: serv_id.map(|r| arg("serv-id", ServId::parse, &r)).transpose()?,
                user_id: user_id.map(|r| arg("user-id", UserId::parse, &r)).transpose()?,
                since_ms: since.map(|s| s * 1000),
                cursor: cursor.map(|r| object_id("cursor", &r)).transpose()?,
                num,
            };
            to_json(question_overview::list(db, &filter).await?)
        }
        QuestionsCmd::Show { id } => {
            let id = object_id("id", &id)?;
            let (question, messages) = question_overview::one(db, &id)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no question {id}")))?;
            let messages: Vec<_> = messages
                .iter()
                .map(|m| kefu_ingest::views::message(m, media_base, None))
                .collect();
            json!({ "question": question, "messages": messages })
        }
    })
}
