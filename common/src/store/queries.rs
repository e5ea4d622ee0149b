//! Read queries shared by the ingest (lists, authentication) and the workers.

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::domain::{Page, QuestionStatus, SessionDigest, Sort};
use crate::store::entity::{
    agent, agent_app, answer_item, answer_template, app, leave_message, leave_message_app, message, processed_command,
    question, question_label, session, user,
};

/// An authenticated session: the app user behind it and, once bound, its agent.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub session: session::Model,
    /// The agent the session is bound to, unless that agent is disabled.
    pub serv_id: Option<String>,
    /// The agent the session is bound to when that agent is disabled.
    pub disabled_agent: Option<String>,
    pub app_disabled: bool,
}

#[derive(Debug, sea_orm::FromQueryResult)]
struct SessionRow {
    session: String,
    app_id: i64,
    user_id: String,
    device_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    serv_id: Option<String>,
    app_disabled_at: Option<i64>,
    agent_disabled_at: Option<i64>,
}

/// The session stored under this digest (expired or not), its binding, and whether its
/// app or agent is disabled: one query, as it runs on every authenticated request.
pub async fn session(db: &impl ConnectionTrait, digest: &SessionDigest) -> Result<Option<SessionInfo>, DbErr> {
    use sea_orm::{DbBackend, FromQueryResult, Statement};
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let sql = format!(
        "SELECT s.session, s.app_id, s.user_id, s.device_id, s.created_at, s.expires_at, \
         b.serv_id, a.disabled_at AS app_disabled_at, g.disabled_at AS agent_disabled_at \
         FROM sessions s JOIN apps a ON a.id = s.app_id \
         LEFT JOIN agent_bindings b ON b.session = s.session \
         LEFT JOIN agents g ON g.serv_id = b.serv_id \
         WHERE s.session = {placeholder}"
    );
    let row = SessionRow::find_by_statement(Statement::from_sql_and_values(backend, sql, [digest.as_str().into()]))
        .one(db)
        .await?;
    Ok(row.map(|r| {
        let agent_disabled = r.agent_disabled_at.is_some();
        SessionInfo {
            session: session::Model {
                session: r.session,
                app_id: r.app_id,
                user_id: r.user_id,
                device_id: r.device_id,
                created_at: r.created_at,
                expires_at: r.expires_at,
            },
            serv_id: r.serv_id.clone().filter(|_| !agent_disabled),
            disabled_agent: r.serv_id.filter(|_| agent_disabled),
            app_disabled: r.app_disabled_at.is_some(),
        }
    }))
}

pub async fn app_by_identify(db: &impl ConnectionTrait, identify: &str) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find()
        .filter(app::Column::Identify.eq(identify))
        .one(db)
        .await
}

/// The oldest app that is not disabled (the demo customer's default).
pub async fn first_enabled_app(db: &impl ConnectionTrait) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find()
        .filter(app::Column::DisabledAt.is_null())
        .order_by_asc(app::Column::Id)
        .one(db)
        .await
}

/// Every app's id.
pub async fn app_ids(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    Ok(app::Entity::find().all(db).await?.into_iter().map(|a| a.id).collect())
}

pub async fn app_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find_by_id(id).one(db).await
}

pub async fn agent(db: &impl ConnectionTrait, serv_id: &str) -> Result<Option<agent::Model>, DbErr> {
    agent::Entity::find_by_id(serv_id.to_owned()).one(db).await
}

/// Ids of the apps an agent serves (a disabled app is served by nobody).
pub async fn agent_app_ids(db: &impl ConnectionTrait, serv_id: &str) -> Result<Vec<i64>, DbErr> {
    Ok(agent_app::Entity::find()
        .filter(agent_app::Column::ServId.eq(serv_id))
        .filter(
            agent_app::Column::AppId.in_subquery(
                Query::select()
                    .column(app::Column::Id)
                    .from(app::Entity)
                    .and_where(app::Column::DisabledAt.is_null())
                    .to_owned(),
            ),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.app_id)
        .collect())
}

pub async fn question(db: &impl ConnectionTrait, id: &str) -> Result<Option<question::Model>, DbErr> {
    question::Entity::find_by_id(id.to_owned()).one(db).await
}

pub async fn processed(db: &impl ConnectionTrait, id: &str) -> Result<Option<processed_command::Model>, DbErr> {
    processed_command::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The records of those of `ids` already applied (one statement for a batch).
pub async fn processed_among(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<processed_command::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    processed_command::Entity::find()
        .filter(processed_command::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await
}

/// Which questions a list shows.
#[derive(Debug, Clone, Default)]
pub struct QuestionFilter {
    /// Only these apps (always set: a caller sees only apps it belongs to).
    pub app_ids: Vec<i64>,
    pub statuses: Vec<QuestionStatus>,
    pub user_id: Option<String>,
    pub serv_id: Option<String>,
    /// Only questions carrying every one of these labels.
    pub labels: Vec<String>,
    /// Only questions asked at or after this time (ms since the epoch).
    pub created_since: Option<i64>,
}

fn paged<E: EntityTrait>(select: Select<E>, id: impl ColumnTrait, page: &Page) -> Select<E> {
    let select = match (&page.cursor, page.sort) {
        (Some(c), Sort::Desc) => select.filter(id.lt(c.as_str())),
        (Some(c), Sort::Asc) => select.filter(id.gt(c.as_str())),
        (None, _) => select,
    };
    let select = match page.sort {
        Sort::Desc => select.order_by_desc(id),
        Sort::Asc => select.order_by_asc(id),
    };
    select.offset(page.offset()).limit(page.num)
}

pub async fn questions(
    db: &impl ConnectionTrait,
    filter: &QuestionFilter,
    page: &Page,
) -> Result<Vec<question::Model>, DbErr> {
    if filter.app_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut select = question::Entity::find().filter(question::Column::AppId.is_in(filter.app_ids.clone()));
    if !filter.statuses.is_empty() {
        select = select.filter(question::Column::Status.is_in(filter.statuses.clone()));
    }
    if let Some(user_id) = &filter.user_id {
        select = select.filter(question::Column::UserId.eq(user_id.as_str()));
    }
    if let Some(serv_id) = &filter.serv_id {
        select = select.filter(question::Column::ServId.eq(serv_id.as_str()));
    }
    if let Some(since) = filter.created_since {
        select = select.filter(question::Column::CreatedAt.gte(since));
    }
    for label in &filter.labels {
        select = select.filter(
            question::Column::Id.in_subquery(
                Query::select()
                    .column(question_label::Column::QuestionId)
                    .from(question_label::Entity)
                    .and_where(question_label::Column::Label.eq(label.as_str()))
                    .to_owned(),
            ),
        );
    }
    paged(select, question::Column::Id, page).all(db).await
}

/// The users behind a page of questions (name and avatar of the list responses).
pub async fn users_of(db: &impl ConnectionTrait, questions: &[question::Model]) -> Result<Vec<user::Model>, DbErr> {
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for q in questions {
        any = any.add(
            Condition::all()
                .add(user::Column::AppId.eq(q.app_id))
                .add(user::Column::UserId.eq(q.user_id.as_str())),
        );
    }
    user::Entity::find().filter(any).all(db).await
}

/// A question's messages in commit order (its sequence numbers, then ids): a message
/// whose command committed late still lands where it happened, behind any cursor a
/// client holds. A cursor id is resolved to its sequence number.
pub async fn messages(db: &impl ConnectionTrait, question_id: &str, page: &Page) -> Result<Vec<message::Model>, DbErr> {
    use message::Column::{Id, QuestionId, Seq};
    let mut select = message::Entity::find().filter(QuestionId.eq(question_id));
    if let Some(cursor) = &page.cursor {
        let at = message::Entity::find_by_id(cursor.as_str())
            .filter(QuestionId.eq(question_id))
            .one(db)
            .await?;
        select = match (at, page.sort) {
            (Some(at), Sort::Desc) => select.filter(
                Condition::any()
                    .add(Seq.lt(at.seq))
                    .add(Condition::all().add(Seq.eq(at.seq)).add(Id.lt(cursor.as_str()))),
            ),
            (Some(at), Sort::Asc) => select.filter(
                Condition::any()
                    .add(Seq.gt(at.seq))
                    .add(Condition::all().add(Seq.eq(at.seq)).add(Id.gt(cursor.as_str()))),
            ),
            // Not a message of this question: ids are time-ordered, so compare them.
            (None, Sort::Desc) => select.filter(Id.lt(cursor.as_str())),
            (None, Sort::Asc) => select.filter(Id.gt(cursor.as_str())),
        };
    }
    let select = match page.sort {
        Sort::Desc => select.order_by_desc(Seq).order_by_desc(Id),
        Sort::Asc => select.order_by_asc(Seq).order_by_asc(Id),
    };
    select.offset(page.offset()).limit(page.num).all(db).await
}

/// The apps behind a page of questions (their default avatars).
pub async fn apps_of(db: &impl ConnectionTrait, questions: &[question::Model]) -> Result<Vec<app::Model>, DbErr> {
    let mut ids: Vec<i64> = questions.iter().map(|q| q.app_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    app::Entity::find().filter(app::Column::Id.is_in(ids)).all(db).await
}

/// Those of `app_ids` in which `user_id` exists.
pub async fn apps_with_user(db: &impl ConnectionTrait, app_ids: &[i64], user_id: &str) -> Result<Vec<i64>, DbErr> {
    if app_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::AppId.is_in(app_ids.to_vec()))
        .filter(user::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.app_id)
        .collect())
}

/// Quick-answer templates of these apps, oldest first (at most 200).
pub async fn templates(db: &impl ConnectionTrait, app_ids: &[i64]) -> Result<Vec<answer_template::Model>, DbErr> {
    if app_ids.is_empty() {
        return Ok(Vec::new());
    }
    answer_template::Entity::find()
        .filter(answer_template::Column::AppId.is_in(app_ids.to_vec()))
        .order_by_asc(answer_template::Column::Id)
        .limit(200)
        .all(db)
        .await
}

pub async fn template(db: &impl ConnectionTrait, id: &str) -> Result<Option<answer_template::Model>, DbErr> {
    answer_template::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A page of a template's quick answers; `keyword` matches question or content.
pub async fn answer_items(
    db: &impl ConnectionTrait,
    template_id: &str,
    keyword: Option<&str>,
    page: &Page,
) -> Result<Vec<answer_item::Model>, DbErr> {
    let mut select = answer_item::Entity::find().filter(answer_item::Column::TemplateId.eq(template_id));
    if let Some(keyword) = keyword {
        select = select.filter(
            Condition::any()
                .add(sea_orm::sea_query::Expr::col(answer_item::Column::Question).like(contains_pattern(keyword)))
                .add(sea_orm::sea_query::Expr::col(answer_item::Column::Content).like(contains_pattern(keyword))),
        );
    }
    paged(select, answer_item::Column::Id, page).all(db).await
}

pub async fn user(db: &impl ConnectionTrait, app_id: i64, user_id: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id((app_id, user_id.to_owned())).one(db).await
}

/// Distinct devices the user opened sessions from.
pub async fn device_count(db: &impl ConnectionTrait, app_id: i64, user_id: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    session::Entity::find()
        .select_only()
        .column(session::Column::DeviceId)
        .distinct()
        .filter(session::Column::AppId.eq(app_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::DeviceId.is_not_null())
        .count(db)
        .await
}

/// A waiting question's place: questions of its app waiting since no later than it
/// (itself included), and all waiting ones — both from one range read of the
/// (status, app_id, id) index, never a table scan.
pub async fn queue_position(db: &impl ConnectionTrait, q: &question::Model) -> Result<(u64, u64), DbErr> {
    use sea_orm::sea_query::{CaseStatement, Expr, Func, SimpleExpr};
    let ahead: SimpleExpr = CaseStatement::new()
        .case(Expr::col(question::Column::Id).lte(q.id.as_str()), Expr::val(1))
        .into();
    let (position, waiting): (i64, i64) = question::Entity::find()
        .select_only()
        .column_as(SimpleExpr::from(Func::count(ahead)), "position")
        .column_as(
            SimpleExpr::from(Func::count(Expr::col(question::Column::Id))),
            "waiting",
        )
        .filter(question::Column::Status.eq(QuestionStatus::Waiting))
        .filter(question::Column::AppId.eq(q.app_id))
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, 0));
    Ok((position as u64, waiting as u64))
}

/// Questions of an app an agent started serving since `since_ms`.
pub async fn served_since(db: &impl ConnectionTrait, app_id: i64, since_ms: i64) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    question::Entity::find()
        .filter(question::Column::AppId.eq(app_id))
        .filter(question::Column::ServedAt.gte(since_ms))
        .count(db)
        .await
}

/// Which leave messages a list shows.
#[derive(Debug, Clone, Default)]
pub struct LeaveFilter {
    /// Only these apps (always set: an agent sees only its apps).
    pub app_ids: Vec<i64>,
    pub callback: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// `Some("")`: untagged ones.
    pub tag: Option<String>,
    /// Matches subject or content.
    pub keyword: Option<String>,
    /// The id of the last message of the previous page.
    pub cursor: Option<String>,
    pub newest_first: bool,
    pub offset: u64,
    pub limit: u64,
}

/// `%`, `_` and `\` of user input match themselves in a LIKE pattern.
fn contains_pattern(keyword: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped: String = keyword
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// A page of leave messages, ordered by `create_time` then `id`.
pub async fn leave_messages(db: &impl ConnectionTrait, f: &LeaveFilter) -> Result<Vec<leave_message::Model>, DbErr> {
    use leave_message::Column as C;
    use sea_orm::sea_query::Expr;
    if f.app_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut select = leave_message::Entity::find().filter(
        C::Id.in_subquery(
            Query::select()
                .column(leave_message_app::Column::MessageId)
                .from(leave_message_app::Entity)
                .and_where(leave_message_app::Column::AppId.is_in(f.app_ids.clone()))
                .to_owned(),
        ),
    );
    if let Some(callback) = &f.callback {
        select = select.filter(C::Callback.eq(callback.as_str()));
    }
    if let Some(since) = f.since {
        select = select.filter(C::CreateTime.gte(since));
    }
    if let Some(until) = f.until {
        select = select.filter(C::CreateTime.lt(until));
    }
    match f.tag.as_deref() {
        Some("") => select = select.filter(C::Tag.is_null()),
        Some(tag) => select = select.filter(C::Tag.eq(tag)),
        None => {}
    }
    if let Some(keyword) = &f.keyword {
        select = select.filter(
            Condition::any()
                .add(Expr::col(C::Subject).like(contains_pattern(keyword)))
                .add(Expr::col(C::Content).like(contains_pattern(keyword))),
        );
    }
    if let Some(cursor) = &f.cursor {
        if let Some(last) = leave_message::Entity::find_by_id(cursor.clone()).one(db).await? {
            let (time, id) = (last.create_time, last.id);
            select = select.filter(if f.newest_first {
                Condition::any()
                    .add(C::CreateTime.lt(time))
                    .add(Condition::all().add(C::CreateTime.eq(time)).add(C::Id.lt(id)))
            } else {
                Condition::any()
                    .add(C::CreateTime.gt(time))
                    .add(Condition::all().add(C::CreateTime.eq(time)).add(C::Id.gt(id)))
            });
        }
    }
    select = if f.newest_first {
        select.order_by_desc(C::CreateTime).order_by_desc(C::Id)
    } else {
        select.order_by_asc(C::CreateTime).order_by_asc(C::Id)
    };
    select.offset(f.offset).limit(f.limit).all(db).await
}

/// A leave message with the app it came to.
pub async fn leave_message(db: &impl ConnectionTrait, id: &str) -> Result<Option<(leave_message::Model, i64)>, DbErr> {
    let Some(owner) = leave_message_app::Entity::find_by_id(id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    Ok(leave_message::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(|m| (m, owner.app_id)))
}
