//! The requests of presence, transfer, offers, ratings and figures.

use kefu_common::domain::Invalid;
use kefu_common::domain::{Presence, RatingComment, ServId, SessionToken, TransferNote};
use serde::de::IgnoredAny;
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::fields::{bounded, int_schema, LenientInt};

/// `online`, `busy`, `away` or `offline`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct PresenceField(pub Presence);

impl TryFrom<String> for PresenceField {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Presence::parse(s.trim())
            .map(PresenceField)
            .ok_or_else(|| Invalid(format!("must be one of {}, got {s:?}", Presence::NAMES)))
    }
}

impl PartialSchema for PresenceField {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["online", "busy", "away", "offline"]))
            .into()
    }
}
impl ToSchema for PresenceField {}

/// POST /v1/serv/<serv_id>/status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusChange {
    /// 用户session of the agent's bound device.
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    pub status: PresenceField,
}

/// POST /v1/question/<id>/transfer.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Transfer {
    /// 用户session of the serving agent's bound device.
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// The serving agent (the session's).
    pub serv_id: ServId,
    /// The agent to take it over.
    pub to_serv_id: ServId,
    /// For the next agent only, 1–200 characters.
    pub note: Option<TransferNote>,
}

/// A score of 1 to 5.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct Score(pub i16);

impl TryFrom<LenientInt> for Score {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        let score = bounded(v.0, 1, 5)?;
        i16::try_from(score)
            .map(Score)
            .map_err(|_| Invalid(format!("must be 1 to 5, got {score}")))
    }
}

impl PartialSchema for Score {
    fn schema() -> RefOr<Schema> {
        int_schema(1, 5, None, "1 (worst) to 5 (best)")
    }
}
impl ToSchema for Score {}

/// POST /v1/question/<id>/rate.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Rate {
    /// 用户session of the user who asked.
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    pub score: Score,
    /// 1–500 characters.
    pub comment: Option<RatingComment>,
}

/// A moment: seconds since the epoch, or a span back from now (`7d`, `24h`, `30m`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Since(i64);

impl Since {
    /// Milliseconds since the epoch.
    pub fn ms(self) -> i64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        kefu_common::store::figures::moment_ms(text).map(Since)
    }
}

impl TryFrom<serde_json::Value> for Since {
    type Error = Invalid;
    fn try_from(v: serde_json::Value) -> Result<Self, Invalid> {
        match v {
            serde_json::Value::Number(n) => Since::parse(&n.to_string()),
            serde_json::Value::String(s) => Since::parse(&s),
            _ => Err(Invalid("seconds since the epoch, or a span like 7d".into())),
        }
    }
}

impl PartialSchema for Since {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .item(ObjectBuilder::new().schema_type(Type::String).examples(["7d"]))
            .description(Some(
                "Seconds since the epoch, or a span back from now like 7d, 24h, 30m",
            ))
            .into()
    }
}
impl ToSchema for Since {}

/// GET /v1/serv/<serv_id>/stats.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// From when (default: 7 days back).
    #[param(value_type = Option<String>, example = "7d")]
    pub since: Option<Since>,
}

/// GET /admin/v1/apps/<app>/report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// From when (default: 7 days back).
    #[param(value_type = Option<String>, example = "7d")]
    pub since: Option<Since>,
    /// Until when, excluded (default: now).
    #[param(value_type = Option<String>, example = "7d")]
    pub until: Option<Since>,
}
