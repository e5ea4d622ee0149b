//! Operators' view of questions across every app and agent: the one service behind
//! `GET /admin/v1/questions[/<id>]` and `kefu admin questions list|show`.

use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;

use crate::domain::ids::ObjectId;
use crate::domain::{Identify, MessageType, Page, QuestionStatus, ServId, Sort, UserId};
use crate::store::entity::{app, message, question};
use crate::store::operators::OperatorError;
use crate::store::{self, QuestionFilter};

/// The most messages `show` answers (oldest first).
pub const MAX_MESSAGES: u64 = 1000;

/// Which questions to list: every filter is optional, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub identify: Option<Identify>,
    pub status: Option<QuestionStatus>,
    pub serv_id: Option<ServId>,
    pub user_id: Option<UserId>,
    /// Asked at or after (ms since the epoch).
    pub since_ms: Option<i64>,
    /// The last question_id of the previous page.
    pub cursor: Option<ObjectId>,
    pub num: u64,
}

/// A question as operators see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionOverview {
    pub question_id: String,
    pub identify: String,
    pub user_id: String,
    pub title: String,
    pub labels: Vec<String>,
    /// 1 waiting, 2 serving, 3 finished.
    pub status: i16,
    /// The agent serving it, or who served it last; `null` if none ever did.
    pub serv_id: Option<String>,
    /// When it was asked (float seconds).
    pub timestamp: f64,
    /// The last message's text (`[图片]`, `[语音]` for media), `null` before any.
    pub last_mess_text: Option<String>,
    pub last_mess_timestamp: Option<f64>,
    /// When its running countdown (timeout) fires, float seconds; `null` if none runs.
    pub due_at: Option<f64>,
}

/// A page of questions and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionPage {
    pub questions: Vec<QuestionOverview>,
    pub next_cursor: Option<String>,
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The last message as lists show it: `[语音]` for audio, `[图片]` for an image, else
/// its text (`None` before any message).
pub fn last_message_text(q: &question::Model) -> Option<String> {
    match q.last_mess_type {
        Some(MessageType::Audio) => Some("[语音]".to_owned()),
        Some(MessageType::Image) => Some("[图片]".to_owned()),
        _ => q.last_mess_text.clone(),
    }
}

fn overview(q: &question::Model, apps: &[app::Model]) -> QuestionOverview {
    let last_text = last_message_text(q);
    QuestionOverview {
        question_id: q.id.clone(),
        identify: apps
            .iter()
            .find(|a| a.id == q.app_id)
            .map(|a| a.identify.clone())
            .unwrap_or_default(),
        user_id: q.user_id.clone(),
        title: q.title.clone(),
        labels: serde_json::from_str(&q.labels).unwrap_or_default(),
        status: q.status.into(),
        serv_id: q.serv_id.clone(),
        timestamp: secs(q.created_at),
        last_mess_text: last_text,
        last_mess_timestamp: q.last_mess_timestamp.map(secs),
        due_at: q.due_at.map(secs),
    }
}

/// One page of questions matching `f`, newest first.
pub async fn list(db: &impl ConnectionTrait, f: &Filter) -> Result<QuestionPage, OperatorError> {
    let app_ids = match &f.identify {
        Some(identify) => vec![
            store::app_by_identify(db, identify.as_str())
                .await?
                .ok_or_else(|| OperatorError::UnknownApp(identify.to_string()))?
                .id,
        ],
        None => store::app_ids(db).await?,
    };
    let filter = QuestionFilter {
        app_ids,
        statuses: f.status.into_iter().collect(),
        user_id: f.user_id.as_ref().map(|u| u.to_string()),
        serv_id: f.serv_id.as_ref().map(|s| s.to_string()),
        labels: Vec::new(),
        created_since: f.since_ms,
    };
    let page = Page {
        page: 0,
        num: f.num,
        cursor: f.cursor.clone(),
        sort: Sort::Desc,
    };
    let rows = store::questions(db, &filter, &page).await?;
    let apps = store::apps_of(db, &rows).await?;
    let next_cursor = (rows.len() as u64 == f.num)
        .then(|| rows.last().map(|q| q.id.clone()))
        .flatten();
    Ok(QuestionPage {
        questions: rows.iter().map(|q| overview(q, &apps)).collect(),
        next_cursor,
    })
}

/// One question with its messages (oldest first, at most [`MAX_MESSAGES`]).
pub async fn one(
    db: &impl ConnectionTrait,
    id: &ObjectId,
) -> Result<Option<(QuestionOverview, Vec<message::Model>)>, DbErr> {
    let Some(q) = store::question(db, id.as_str()).await? else {
        return Ok(None);
    };
    let apps = store::apps_of(db, std::slice::from_ref(&q)).await?;
    let page = Page {
        page: 0,
        num: MAX_MESSAGES,
        cursor: None,
        sort: Sort::Asc,
    };
    let messages = store::messages(db, id.as_str(), &page).await?;
    Ok(Some((overview(&q, &apps), messages)))
}
