//! The figures a team lead asks for, from the questions' own timestamps (asked, served,
//! first response, timed out) and the ratings, over an index range of one app or one
//! agent: never a scan of the messages.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::domain::{Invalid, QuestionStatus};
use crate::store::entity::{question, question_rating};

/// The longest span back a moment may name: ten years.
const MAX_SPAN_SECS: u64 = 10 * 366 * 24 * 3600;
/// The last second of the year 9999.
const MAX_EPOCH_SECS: i64 = 253_402_300_799;

/// A moment as figures take it: seconds since the epoch, or a span back from now
/// (`7d`, `24h`, `30m`); answers milliseconds since the epoch.
pub fn moment_ms(text: &str) -> Result<i64, Invalid> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        if !(0..=MAX_EPOCH_SECS).contains(&secs) {
            return Err(Invalid(format!("must be between 0 and {MAX_EPOCH_SECS}, got {secs}")));
        }
        return Ok(secs * 1000);
    }
    let span = humantime::parse_duration(text).map_err(|_| {
        Invalid(format!(
            "seconds since the epoch, or a span like 7d, 24h or 30m; got {text:?}"
        ))
    })?;
    if span.as_secs() > MAX_SPAN_SECS {
        return Err(Invalid("at most ten years back".into()));
    }
    Ok(crate::now_ms() - span.as_millis() as i64)
}

/// Percentiles of durations, in seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Spread {
    /// How many durations there were.
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// The nearest-rank percentile `p` (0–100) of sorted values.
fn percentile(sorted: &[i64], p: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p as f64 / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1] as f64 / 1000.0)
}

fn spread(mut ms: Vec<i64>) -> Spread {
    ms.sort_unstable();
    Spread {
        count: ms.len() as u64,
        p50: percentile(&ms, 50),
        p90: percentile(&ms, 90),
    }
}

/// Ratings: how many of each score, and their average.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ratings {
    pub count: u64,
    pub average: Option<f64>,
    /// Score ("1"–"5") to how many.
    pub histogram: BTreeMap<String, u64>,
}

fn ratings(scores: &[i16]) -> Ratings {
    let mut histogram: BTreeMap<String, u64> = (1..=5).map(|s| (s.to_string(), 0)).collect();
    for s in scores {
        *histogram.entry(s.to_string()).or_default() += 1;
    }
    let sum: i64 = scores.iter().map(|s| i64::from(*s)).sum();
    Ratings {
        count: scores.len() as u64,
        average: (!scores.is_empty()).then(|| ((sum as f64 / scores.len() as f64) * 100.0).round() / 100.0),
        histogram,
    }
}

type Row = (
    String,
    Option<String>,
    QuestionStatus,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// One agent's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentFigures {
    pub serv_id: String,
    /// Questions it was serving or served (by its last serve) in the window.
    pub served: u64,
    /// Of those, finished.
    pub finished: u64,
    /// From serving to its first message.
    pub first_response: Spread,
    pub ratings: Ratings,
}

/// An app's figures over a window of asking times.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppReport {
    pub identify: String,
    /// The window: seconds since the epoch, `until` excluded.
    pub since: i64,
    pub until: i64,
    pub asked: u64,
    pub served: u64,
    pub finished: u64,
    pub timed_out: u64,
    /// From asking to serving.
    pub waiting: Spread,
    pub first_response: Spread,
    pub ratings: Ratings,
    /// Per agent (by the agent who served last), by serv_id.
    pub agents: Vec<AgentFigures>,
}

/// The questions of the app asked in `[since, until)` (ms), through `(app_id, created_at)`.
async fn rows(db: &impl ConnectionTrait, filter: sea_orm::Condition) -> Result<Vec<Row>, DbErr> {
    question::Entity::find()
        .select_only()
        .column(question::Column::Id)
        .column(question::Column::ServId)
        .column(question::Column::Status)
        .column(question::Column::CreatedAt)
        .column(question::Column::ServedAt)
        .column(question::Column::FirstResponseAt)
        .column(question::Column::TimedOutAt)
        .filter(filter)
        .into_tuple()
        .all(db)
        .await
}

fn agent_figures(serv_id: &str, rows: &[&Row], scores: &[i16]) -> AgentFigures {
    AgentFigures {
        serv_id: serv_id.to_owned(),
        served: rows.iter().filter(|r| r.4.is_some()).count() as u64,
        finished: rows.iter().filter(|r| r.2 == QuestionStatus::Finished).count() as u64,
        first_response: spread(
            rows.iter()
                .filter_map(|r| Some(r.5? - r.4?))
                .filter(|d| *d >= 0)
                .collect(),
        ),
        ratings: ratings(scores),
    }
}

pub async fn app_report(
    db: &impl ConnectionTrait,
    app_id: i64,
    identify: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<AppReport, DbErr> {
    use sea_orm::Condition;
    let found = rows(
        db,
        Condition::all()
            .add(question::Column::AppId.eq(app_id))
            .add(question::Column::CreatedAt.gte(since_ms))
            .add(question::Column::CreatedAt.lt(until_ms)),
    )
    .await?;
    let rated: Vec<(Option<String>, i16)> = question_rating::Entity::find()
        .select_only()
        .column(question_rating::Column::ServId)
        .column(question_rating::Column::Score)
        .filter(question_rating::Column::AppId.eq(app_id))
        .filter(question_rating::Column::CreatedAt.gte(since_ms))
        .filter(question_rating::Column::CreatedAt.lt(until_ms))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_agent: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &found {
        if let Some(serv_id) = &r.1 {
            by_agent.entry(serv_id.clone()).or_default().push(r);
        }
    }
    for (serv_id, _) in &rated {
        if let Some(serv_id) = serv_id {
            by_agent.entry(serv_id.clone()).or_default();
        }
    }
    let agents = by_agent
        .iter()
        .map(|(serv_id, rows)| {
            let scores: Vec<i16> = rated
                .iter()
                .filter(|(s, _)| s.as_deref() == Some(serv_id))
                .map(|r| r.1)
                .collect();
            agent_figures(serv_id, rows, &scores)
        })
        .collect();
    let all: Vec<&Row> = found.iter().collect();
    let whole = agent_figures("", &all, &rated.iter().map(|r| r.1).collect::<Vec<_>>());
    Ok(AppReport {
        identify: identify.to_owned(),
        since: since_ms / 1000,
        until: until_ms / 1000,
        asked: found.len() as u64,
        served: whole.served,
        finished: whole.finished,
        timed_out: found.iter().filter(|r| r.6.is_some()).count() as u64,
        waiting: spread(
            found
                .iter()
                .filter_map(|r| Some(r.4? - r.3))
                .filter(|d| *d >= 0)
                .collect(),
        ),
        first_response: whole.first_response,
        ratings: whole.ratings,
        agents,
    })
}

/// An agent's own figures since `since_ms`: the questions it served last that were
/// served since then (by `served_at`).
pub async fn agent_stats(db: &impl ConnectionTrait, serv_id: &str, since_ms: i64) -> Result<AgentFigures, DbErr> {
    use sea_orm::Condition;
    let found = rows(
        db,
        Condition::all()
            .add(question::Column::ServId.eq(serv_id))
            .add(question::Column::ServedAt.gte(since_ms)),
    )
    .await?;
    let scores: Vec<i16> = question_rating::Entity::find()
        .select_only()
        .column(question_rating::Column::Score)
        .filter(question_rating::Column::ServId.eq(serv_id))
        .filter(question_rating::Column::CreatedAt.gte(since_ms))
        .into_tuple()
        .all(db)
        .await?;
    let all: Vec<&Row> = found.iter().collect();
    Ok(agent_figures(serv_id, &all, &scores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = spread(vec![4000, 1000, 3000, 2000]);
        assert_eq!((s.count, s.p50, s.p90), (4, Some(2.0), Some(4.0)));
        assert_eq!(spread(vec![]).p50, None);
        let r = ratings(&[5, 4, 5]);
        assert_eq!(
            (r.count, r.average, r.histogram["5"], r.histogram["1"]),
            (3, Some(4.67), 2, 0)
        );
    }
}
