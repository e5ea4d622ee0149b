//! Quick-answer templates and their items as operators change them (`kefu admin
//! template …`); agents read them through `store::templates` / `store::answer_items`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use crate::domain::ids::ObjectId;
use crate::domain::{AnswerContent, AnswerQuestion, TemplateTitle};
use crate::now_ms;
use crate::store::entity::{answer_item, answer_template};

pub async fn create(db: &DatabaseConnection, id: &ObjectId, app_id: i64, title: &TemplateTitle) -> Result<(), DbErr> {
    let now = now_ms();
    let row = answer_template::ActiveModel {
        id: Set(id.to_string()),
        app_id: Set(app_id),
        title: Set(title.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    answer_template::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

pub async fn add_item(
    db: &DatabaseConnection,
    id: &ObjectId,
    template_id: &str,
    question: &AnswerQuestion,
    content: &AnswerContent,
) -> Result<(), DbErr> {
    let now = now_ms();
    let row = answer_item::ActiveModel {
        id: Set(id.to_string()),
        template_id: Set(template_id.to_owned()),
        question: Set(question.to_string()),
        content: Set(content.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    answer_item::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

pub async fn item(db: &DatabaseConnection, id: &ObjectId) -> Result<Option<answer_item::Model>, DbErr> {
    answer_item::Entity::find_by_id(id.to_string()).one(db).await
}

/// A template's items, oldest first.
pub async fn items_of(db: &DatabaseConnection, template_id: &str) -> Result<Vec<answer_item::Model>, DbErr> {
    answer_item::Entity::find()
        .filter(answer_item::Column::TemplateId.eq(template_id))
        .order_by_asc(answer_item::Column::Id)
        .all(db)
        .await
}

pub async fn rename(
    db: &DatabaseConnection,
    found: answer_template::Model,
    title: &TemplateTitle,
) -> Result<answer_template::Model, DbErr> {
    let mut row: answer_template::ActiveModel = found.into();
    row.title = Set(title.to_string());
    row.updated_at = Set(now_ms());
    row.update(db).await
}

/// Changes what is given of a quick answer.
pub async fn update_item(
    db: &DatabaseConnection,
    found: answer_item::Model,
    question: Option<&AnswerQuestion>,
    content: Option<&AnswerContent>,
) -> Result<answer_item::Model, DbErr> {
    let mut row: answer_item::ActiveModel = found.into();
    if let Some(question) = question {
        row.question = Set(question.to_string());
    }
    if let Some(content) = content {
        row.content = Set(content.to_string());
    }
    row.updated_at = Set(now_ms());
    row.update(db).await
}

/// Deletes a template and its items in one transaction; answers how many items went.
pub async fn delete(db: &DatabaseConnection, template_id: &str) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let items = answer_item::Entity::delete_many()
        .filter(answer_item::Column::TemplateId.eq(template_id))
        .exec(&txn)
        .await?;
    answer_template::Entity::delete_by_id(template_id.to_owned())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(items.rows_affected)
}

pub async fn delete_item(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    answer_item::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(())
}
