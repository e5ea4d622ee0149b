//! `kefu admin template …`: quick-answer templates of an app and their items.

use clap::Subcommand;
use kefu_common::domain::ids::{IdGen, ObjectId};
use kefu_common::domain::{AnswerContent, AnswerQuestion, Identify, TemplateTitle};
use kefu_common::store::entity::{answer_item, answer_template};
use kefu_common::store::{self, quick_answers};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

use crate::admin::{arg, AdminError};

#[derive(Subcommand)]
pub enum TemplateCmd {
    /// Create a template; prints {"template_id":…}.
    Create {
        /// The app (identify) whose agents see it.
        #[arg(long)]
        identify: String,
        /// 1–100 characters.
        #[arg(long)]
        title: String,
    },
    /// Add a quick answer to a template; prints {"item_id":…}.
    AddItem {
        #[arg(long)]
        template: String,
        /// The question, 1–500 characters.
        #[arg(long)]
        question: String,
        /// The answer, 1–4000 characters.
        #[arg(long)]
        content: String,
    },
    /// List an app's templates with their items.
    List {
        #[arg(long)]
        identify: String,
    },
    /// Rename a template.
    Update {
        #[arg(long)]
        template: String,
        #[arg(long)]
        title: String,
    },
    /// Change a quick answer.
    UpdateItem {
        #[arg(long)]
        item: String,
        #[arg(long)]
        question: Option<String>,
        #[arg(long)]
        content: Option<String>,
    },
    /// Delete a template and its items.
    Delete {
        #[arg(long)]
        template: String,
    },
    /// Delete one quick answer.
    DeleteItem {
        #[arg(long)]
        item: String,
    },
}

fn id(name: &'static str, raw: &str) -> Result<ObjectId, AdminError> {
    ObjectId::parse(raw).map_err(|e| AdminError::Invalid(name, kefu_common::domain::Invalid(e.to_string())))
}

async fn template_of(db: &DatabaseConnection, raw: &str) -> Result<answer_template::Model, AdminError> {
    let id = id("template", raw)?;
    store::template(db, id.as_str())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no template {id}")))
}

async fn item_of(db: &DatabaseConnection, raw: &str) -> Result<answer_item::Model, AdminError> {
    let id = id("item", raw)?;
    quick_answers::item(db, &id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no quick answer {id}")))
}

async fn app_of(db: &DatabaseConnection, raw: &str) -> Result<i64, AdminError> {
    let identify = arg("identify", Identify::parse, raw)?;
    store::app_by_identify(db, identify.as_str())
        .await?
        .map(|app| app.id)
        .ok_or_else(|| AdminError::NotFound(format!("no app with identify {identify}")))
}

pub async fn run(db: &DatabaseConnection, command: TemplateCmd) -> Result<Value, AdminError> {
    let ids = IdGen::default();
    Ok(match command {
        TemplateCmd::Create { identify, title } => {
            let app_id = app_of(db, &identify).await?;
            let title = arg("title", TemplateTitle::parse, &title)?;
            let id = ids.next_id();
            quick_answers::create(db, &id, app_id, &title).await?;
            json!({ "template_id": id.as_str() })
        }
        TemplateCmd::AddItem {
            template,
            question,
            content,
        } => {
            let template = template_of(db, &template).await?;
            let question = arg("question", AnswerQuestion::parse, &question)?;
            let content = arg("content", AnswerContent::parse, &content)?;
            let id = ids.next_id();
            quick_answers::add_item(db, &id, &template.id, &question, &content).await?;
            json!({ "item_id": id.as_str() })
        }
        TemplateCmd::List { identify } => {
            let app_id = app_of(db, &identify).await?;
            let mut out = Vec::new();
            for t in store::templates(db, &[app_id]).await? {
                let items = quick_answers::items_of(db, &t.id).await?;
                out.push(json!({
                    "template_id": t.id,
                    "title": t.title,
                    "items": items.iter().map(|i| json!({ "item_id": i.id, "question": i.question, "content": i.content })).collect::<Vec<_>>(),
                }));
            }
            json!({ "templates": out })
        }
        TemplateCmd::Update { template, title } => {
            let found = template_of(db, &template).await?;
            let title = arg("title", TemplateTitle::parse, &title)?;
            let updated = quick_answers::rename(db, found, &title).await?;
            json!({ "template_id": updated.id, "title": updated.title })
        }
        TemplateCmd::UpdateItem {
            item,
            question,
            content,
        } => {
            let found = item_of(db, &item).await?;
            let question = question
                .map(|q| arg("question", AnswerQuestion::parse, &q))
                .transpose()?;
            let content = content.map(|c| arg("content", AnswerContent::parse, &c)).transpose()?;
            let updated = quick_answers::update_item(db, found, question.as_ref(), content.as_ref()).await?;
            json!({ "item_id": updated.id, "question": updated.question, "content": updated.content })
        }
        TemplateCmd::Delete { template } => {
            let found = template_of(db, &template).await?;
            let deleted_items = quick_answers::delete(db, &found.id).await?;
            json!({ "template_id": found.id, "deleted_items": deleted_items })
        }
        TemplateCmd::DeleteItem { item } => {
            let found = item_of(db, &item).await?;
            quick_answers::delete_item(db, &found.id).await?;
            json!({ "item_id": found.id, "deleted": true })
        }
    })
}
