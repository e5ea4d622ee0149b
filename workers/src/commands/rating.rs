//! A finished question's rating by its user: once, 1 to 5, with an optional comment.

use kefu_common::domain::command::Actor;
use kefu_common::domain::events::{DomainEvent, QuestionFacts};
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::{ErrorCode, Failure, Nothing, Reply};
use kefu_common::domain::{QuestionStatus, RatingComment};
use kefu_common::now_ms;
use kefu_common::store;
use kefu_common::store::entity::question_rating;
use sea_orm::EntityTrait;

use super::transitions::{self, Owner};
use super::{refuse, Applied, Handled};

/// The lowest and highest score.
pub const SCORES: std::ops::RangeInclusive<i16> = 1..=5;

pub async fn rate(
    txn: &sea_orm::DatabaseTransaction,
    id: &ObjectId,
    actor: &Actor,
    score: i16,
    comment: Option<&RatingComment>,
) -> Handled {
    let Some(q) = store::question(txn, id.as_str()).await? else {
        return refuse(ErrorCode::UnknownQuestion, "no such question");
    };
    let owner = Owner {
        app_id: q.app_id,
        user_id: &q.user_id,
    };
    if let Some(refusal) = transitions::user_refusal(owner, actor, "rate the question") {
        return Err(refusal.into());
    }
    if q.status != QuestionStatus::Finished {
        return refuse(ErrorCode::QuestionNotFinished, "only a finished question can be rated");
    }
    if !SCORES.contains(&score) {
        return Err(Failure::field(ErrorCode::InvalidField, "score", "score must be 1 to 5").into());
    }
    if question_rating::Entity::find_by_id(q.id.clone())
        .one(txn)
        .await?
        .is_some()
    {
        return Err(Failure::field(ErrorCode::AlreadyRated, "question_id", "the question was rated already").into());
    }
    let row = question_rating::Model {
        question_id: q.id.clone(),
        app_id: q.app_id,
        user_id: q.user_id.clone(),
        serv_id: q.serv_id.clone(),
        score,
        comment: comment.map(|c| c.to_string()),
        created_at: now_ms(),
    };
    question_rating::Entity::insert(question_rating::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    let event = DomainEvent::QuestionRated {
        question: QuestionFacts::from(&q),
        score,
        comment: row.comment,
    };
    Ok(Applied::new(Reply::Done(Nothing {}), vec![event]))
}
