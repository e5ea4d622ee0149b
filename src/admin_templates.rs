//! `kefu admin template …`: quick-answer templates of an app and their items.

use clap::Subcommand;
use kefu_common::domain::ids::{IdGen, ObjectId};
use kefu_common::domain::{AnswerContent, AnswerQuestion, Identify, TemplateTitle};
use kefu_common::store::entity::{answer_item, answer_template};
use kefu_common::{now_ms, store};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
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
    answer_item::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no quick answer {id}")))
}

pub async fn run(db: &DatabaseConnection, command: TemplateCmd) -> Result<Value, AdminError> {
    let ids = IdGen::default();
    let now = now_ms();
    Ok(match command {
        TemplateCmd::Create { identify, title } => {
            let identify = arg("identify", Identify::parse, &identify)?;
            let title = arg("title", TemplateTitle::parse, &title)?;
            let app = store::app_by_identify(db, identify.as_str())
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no app with identify {identify}")))?;
            let id = ids.next_id();
            answer_template::ActiveModel {
                id: Set(id.to_string()),
                app_id: Set(app.id),
                title: Set(title.to_string()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
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
            answer_item::ActiveModel {
                id: Set(id.to_string()),
                template_id: Set(template.id),
                question: Set(question.to_string()),
                content: Set(content.to_string()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
            json!({ "item_id": id.as_str() })
        }
        TemplateCmd::List { identify } => {
            let identify = arg("identify", Identify::parse, &identify)?;
            let app = store::app_by_identify(db, identify.as_str())
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no app with identify {identify}")))?;
            let mut out = Vec::new();
            for t in store::templates(db, &[app.id]).await? {
                let items = answer_item::Entity::find()
                    .filter(answer_item::Column::TemplateId.eq(t.id.as_str()))
                    .order_by_asc(answer_item::Column::Id)
                    .all(db)
                    .await?;
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
            let mut row: answer_template::ActiveModel = found.into();
            row.title = Set(title.to_string());
            row.updated_at = Set(now);
            let updated = row.update(db).await?;
            json!({ "template_id": updated.id, "title": updated.title })
        }
        TemplateCmd::UpdateItem {
            item,
            question,
            content,
        } => {
            let found = item_of(db, &item).await?;
            let mut row: answer_item::ActiveModel = found.into();
            if let Some(q) = question {
                row.question = Set(arg("question", AnswerQuestion::parse, &q)?.to_string());
            }
            if let Some(c) = content {
                row.content = Set(arg("content", AnswerContent::parse, &c)?.to_string());
            }
            row.updated_at = Set(now);
            let updated = row.update(db).await?;
            json!({ "item_id": updated.id, "question": updated.question, "content": updated.content })
        }
        TemplateCmd::Delete { template } => {
            let found = template_of(db, &template).await?;
            let txn = db.begin().await?;
            let items = answer_item::Entity::delete_many()
                .filter(answer_item::Column::TemplateId.eq(found.id.as_str()))
                .exec(&txn)
                .await?;
            answer_template::Entity::delete_by_id(found.id.clone())
                .exec(&txn)
                .await?;
            txn.commit().await?;
            json!({ "template_id": found.id, "deleted_items": items.rows_affected })
        }
        TemplateCmd::DeleteItem { item } => {
            let found = item_of(db, &item).await?;
            answer_item::Entity::delete_by_id(found.id.clone()).exec(db).await?;
            json!({ "item_id": found.id, "deleted": true })
        }
    })
}
