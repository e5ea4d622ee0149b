//! `/admin/v1/apps/<app>/timeouts`: an app's question timeouts.

use super::*;
use crate::views::Answer;

/// A duration: seconds as a number, or a string like `90s`, `10m`, `24h`; 0 is off.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct DurationField(u64);

impl DurationField {
    pub fn secs(self) -> u64 {
        self.0
    }
}

impl TryFrom<serde_json::Value> for DurationField {
    type Error = kefu_common::domain::Invalid;
    fn try_from(v: serde_json::Value) -> Result<Self, Self::Error> {
        use kefu_common::store::timeouts::{parse_duration, MAX_SECS};
        let invalid = || kefu_common::domain::Invalid("seconds, or a duration like \"90s\", \"10m\", \"24h\"".into());
        match v {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(secs) if secs <= MAX_SECS => Ok(DurationField(secs)),
                Some(_) => Err(kefu_common::domain::Invalid(format!("at most 30 days ({MAX_SECS} s)"))),
                None => Err(invalid()),
            },
            serde_json::Value::String(s) => parse_duration(&s).map(DurationField),
            _ => Err(invalid()),
        }
    }
}

impl utoipa::PartialSchema for DurationField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(kefu_common::store::timeouts::MAX_SECS as f64)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(32))
                    .examples(["10m"]),
            )
            .description(Some("Seconds, or a duration like 90s, 10m, 24h; 0 is off"))
            .into()
    }
}
impl utoipa::ToSchema for DurationField {}

/// Changes to an app's question timeouts; the ones left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsRequest {
    /// No user reply to the agent's latest counting message for this long.
    #[serde(default)]
    user_reply: Option<DurationField>,
    /// Waiting for an agent this long.
    #[serde(default)]
    wait: Option<DurationField>,
    /// After the agent's end request, finished unless the user replies or reopens.
    #[serde(default)]
    end_confirm: Option<DurationField>,
}

#[derive(Serialize, ToSchema)]
pub struct TimeoutsAnswer {
    #[serde(flatten)]
    timeouts: kefu_common::store::operators::TimeoutsView,
}

/// Sets the app's question timeouts; its open questions' deadlines follow at once.
#[utoipa::path(put, path = "/admin/v1/apps/{app}/timeouts", operation_id = "admin_app_set_timeouts", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    request_body(content((TimeoutsRequest = "application/json"))),
    responses((status = 200, description = "The app's timeouts now", body = Answer<TimeoutsAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn set_timeouts(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    Valid(req): Valid<TimeoutsRequest>,
) -> Result<Json<Answer<TimeoutsAnswer>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let change = kefu_common::store::timeouts::TimeoutsChange {
        user_reply_secs: req.user_reply.map(|d| d.0),
        wait_secs: req.wait.map(|d| d.0),
        end_confirm_secs: req.end_confirm.map(|d| d.0),
    };
    let defaults = kefu_common::store::timeouts::Timeouts::defaults(&state.config);
    let timeouts = operators::set_timeouts(&state.db, &identify, change, &defaults).await?;
    tracing::info!(identify = %identify.as_str().escape_debug(), ?timeouts, "admin: timeouts set");
    Ok(Answer::ok(TimeoutsAnswer { timeouts }))
}

/// The app's question timeouts (its own, else the configured defaults).
#[utoipa::path(get, path = "/admin/v1/apps/{app}/timeouts", operation_id = "admin_app_timeouts", tag = "admin",
    params(("app" = String, Path, description = "The app's numeric app_id or its identify")),
    responses((status = 200, description = "The app's timeouts", body = Answer<TimeoutsAnswer>), crate::openapi::Errors),
    security(("admin" = [])))]
pub async fn get_timeouts(
    State(state): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Answer<TimeoutsAnswer>>, ApiError> {
    let identify = app_key(&state, &raw).await?;
    let defaults = kefu_common::store::timeouts::Timeouts::defaults(&state.config);
    let timeouts = operators::get_timeouts(&state.db, &identify, &defaults).await?;
    Ok(Answer::ok(TimeoutsAnswer { timeouts }))
}
