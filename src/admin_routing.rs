//! `kefu admin app set-routing | show-routing`, `kefu admin app update --ask-rating`
//! and `kefu admin report`: routing and the figures of an app.

use kefu_common::domain::{Identify, Invalid, RoutingMode};
use kefu_common::store::{figures, operators, routing};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::admin::{arg, to_json, AdminError};

fn identify(raw: &str) -> Result<Identify, AdminError> {
    arg("identify", Identify::parse, raw)
}

/// `--mode manual|auto [--offer-timeout 30s]`.
pub async fn set_routing(
    db: &DatabaseConnection,
    raw: &str,
    mode: &str,
    offer_timeout: Option<&str>,
) -> Result<Value, AdminError> {
    let mode = arg(
        "mode",
        |m| RoutingMode::parse(m).ok_or_else(|| Invalid(format!("manual or auto, not {m:?}"))),
        mode,
    )?;
    let offer = offer_timeout
        .map(|t| {
            arg(
                "offer-timeout",
                |t| match kefu_common::store::timeouts::parse_duration(t)? {
                    secs if secs > routing::MAX_OFFER_SECS => {
                        Err(Invalid(format!("at most {} s", routing::MAX_OFFER_SECS)))
                    }
                    secs => Ok(secs),
                },
                t,
            )
        })
        .transpose()?;
    if offer.is_some_and(|s| s > 0) && mode == RoutingMode::Manual {
        return Err(AdminError::Usage("--offer-timeout needs --mode auto".into()));
    }
    Ok(to_json(routing::set_routing(db, &identify(raw)?, mode, offer).await?))
}

pub async fn show_routing(db: &DatabaseConnection, raw: &str) -> Result<Value, AdminError> {
    Ok(to_json(routing::get_routing(db, &identify(raw)?).await?))
}

/// `--ask-rating true|false` of `app update`.
pub async fn set_ask_rating(db: &DatabaseConnection, raw: &str, ask: bool) -> Result<(), AdminError> {
    Ok(routing::set_ask_rating(db, &identify(raw)?, ask).await?)
}

/// `kefu admin report --identify X [--since 7d] [--until …]`.
pub async fn report(
    db: &DatabaseConnection,
    raw: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Value, AdminError> {
    let moment = |name: &'static str, v: Option<&str>| v.map(|v| arg(name, figures::moment_ms, v)).transpose();
    let (since, until) = (moment("since", since)?, moment("until", until)?);
    let app = operators::get_app(db, &identify(raw)?).await?;
    const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
    let until = until.unwrap_or_else(|| kefu_common::now_ms() + 1);
    let since = since.unwrap_or(until - WEEK_MS);
    if since > until {
        return Err(AdminError::Usage("--since is after --until".into()));
    }
    Ok(to_json(
        figures::app_report(db, app.app_id, &app.identify, since, until).await?,
    ))
}
