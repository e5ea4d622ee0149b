//! Quick answers (快速回答): templates of an app and their question/answer items, for
//! the agents serving that app.

use axum::extract::State;
use axum::Json;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::store;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::input::{PathParam, Valid};
use crate::requests::{AnswerItemsQuery, TemplatesQuery};
use crate::routes::lists::{agent_apps, filter_identify};
use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
pub struct Template {
    pub template_id: String,
    pub title: String,
}

#[derive(Serialize, ToSchema)]
pub struct Templates {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub templates: Vec<Template>,
}

#[derive(Serialize, ToSchema)]
pub struct AnswerItem {
    pub item_id: String,
    /// 提问
    pub question: String,
    /// 应答
    pub content: String,
}

#[derive(Serialize, ToSchema)]
pub struct AnswerItems {
    #[schema(minimum = 200, maximum = 200)]
    pub status: u16,
    pub items: Vec<AnswerItem>,
}

/// The quick-answer templates of the apps the bound agent serves (快速回答模板列表).
#[utoipa::path(get, path = "/v1/answer/templates", operation_id = "answer_templates", tag = "answers",
    params(TemplatesQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Templates, oldest first (at most 200)", body = Templates), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn templates(
    State(state): State<AppState>,
    caller: Caller,
    Valid(query): Valid<TemplatesQuery>,
) -> Result<Json<Templates>, ApiError> {
    let apps = agent_apps(&state, &caller, query.identify.as_ref()).await?;
    let templates = store::templates(&state.db, &apps).await?;
    Ok(Json(Templates {
        status: 200,
        templates: templates
            .into_iter()
            .map(|t| Template {
                template_id: t.id,
                title: t.title,
            })
            .collect(),
    }))
}

/// A template's quick answers (快速回答列表), paged like the other lists, with an
/// optional keyword `q` over question and content.
#[utoipa::path(get, path = "/v1/answer/template/{template_id}", operation_id = "answer_items", tag = "answers",
    params(("template_id" = ObjectId, Path, description = "模板id"), AnswerItemsQuery, crate::openapi::SessionQuery),
    responses((status = 200, description = "Quick answers", body = AnswerItems), crate::openapi::Errors),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(template_id = %template_id.0))]
pub async fn items(
    State(state): State<AppState>,
    PathParam(template_id): PathParam<TemplateId>,
    caller: Caller,
    Valid(query): Valid<AnswerItemsQuery>,
) -> Result<Json<AnswerItems>, ApiError> {
    let serv_id = caller.bound_agent()?;
    let apps = store::agent_app_ids(&state.db, &serv_id).await?;
    // Another app's template is answered as no template at all: nothing leaks.
    let template = store::template(&state.db, template_id.0.as_str())
        .await?
        .filter(|t| apps.contains(&t.app_id))
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownTemplate, "template_id", "no such template"))?;
    let items = if filter_identify(&state, query.identify.as_ref(), vec![template.app_id])
        .await?
        .is_empty()
    {
        Vec::new()
    } else {
        let keyword = query.q.as_ref().map(|k| k.as_str());
        store::answer_items(&state.db, &template.id, keyword, &query.page()).await?
    };
    Ok(Json(AnswerItems {
        status: 200,
        items: items
            .into_iter()
            .map(|i| AnswerItem {
                item_id: i.id,
                question: i.question,
                content: i.content,
            })
            .collect(),
    }))
}

/// A template id in a path (a 24-hex id named `template_id`).
pub struct TemplateId(pub ObjectId);

impl crate::input::PathValue for TemplateId {
    const FIELD: &'static str = "template_id";
    fn parse_path(raw: &str) -> Result<Self, String> {
        ObjectId::parse(raw).map(TemplateId).map_err(|e| e.to_string())
    }
}
