//! An app's settings beyond its name: Tencent IM credentials and question timeouts,
//! as operators set them (admin API and `kefu admin app set-im|set-timeouts`).

use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde::Serialize;

use crate::domain::secret::{ExposeSecret, Secret};
use crate::domain::{Identify, ImAccount, ImSecretKey, Url};
use crate::now_ms;
use crate::store::entity::app_im_settings;
use crate::store::operators::{app_row, OperatorError};
use crate::store::settings_cache::touch;

/// The public IM REST domain.
pub const DEFAULT_IM_BASE_URL: &str = "https://console.tim.qq.com";

/// An app's IM settings as operators see them (the key only as set or not).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImSettingsView {
    pub identify: String,
    pub base_url: String,
    pub sdkappid: i64,
    pub identifier: String,
    pub from_account: String,
    /// The secret key is never shown.
    pub secret_key_set: bool,
}

/// New IM settings of an app.
pub struct ImSettings {
    /// Default: the public REST domain.
    pub base_url: Option<Url>,
    pub sdkappid: u32,
    pub identifier: ImAccount,
    pub secret_key: ImSecretKey,
    pub from_account: ImAccount,
}

fn im_view(identify: &str, row: app_im_settings::Model) -> ImSettingsView {
    ImSettingsView {
        identify: identify.to_owned(),
        base_url: row.base_url,
        sdkappid: row.sdkappid,
        identifier: row.identifier,
        from_account: row.from_account,
        secret_key_set: !row.secret_key.expose_secret().is_empty(),
    }
}

/// Sets (or replaces) an app's IM settings; from now on its agents' messages are
/// delivered to its users' IM.
pub async fn set_im(
    db: &DatabaseConnection,
    identify: &Identify,
    settings: ImSettings,
) -> Result<ImSettingsView, OperatorError> {
    let app = app_row(db, identify).await?;
    let row = app_im_settings::ActiveModel {
        app_id: Set(app.id),
        base_url: Set(settings.base_url.map_or_else(
            || DEFAULT_IM_BASE_URL.to_owned(),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        )),
        sdkappid: Set(i64::from(settings.sdkappid)),
        identifier: Set(settings.identifier.to_string()),
        secret_key: Set(Secret::new(settings.secret_key.as_str())),
        from_account: Set(settings.from_account.to_string()),
        updated_at: Set(now_ms()),
    };
    let txn = db.begin().await?;
    app_im_settings::Entity::delete_by_id(app.id).exec(&txn).await?;
    let saved = row.insert(&txn).await?;
    touch(&txn, app.id).await?;
    txn.commit().await?;
    Ok(im_view(identify.as_str(), saved))
}

pub async fn get_im(db: &DatabaseConnection, identify: &Identify) -> Result<Option<ImSettingsView>, OperatorError> {
    let app = app_row(db, identify).await?;
    Ok(app_im_settings::Entity::find_by_id(app.id)
        .one(db)
        .await?
        .map(|row| im_view(identify.as_str(), row)))
}

/// Removes an app's IM settings: no more deliveries. Answers whether it had any.
pub async fn clear_im(db: &DatabaseConnection, identify: &Identify) -> Result<bool, OperatorError> {
    let app = app_row(db, identify).await?;
    let txn = db.begin().await?;
    let had = app_im_settings::Entity::delete_by_id(app.id)
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    touch(&txn, app.id).await?;
    txn.commit().await?;
    Ok(had)
}

/// An app's question timeouts as operators see them (seconds; 0 off).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeoutsView {
    pub identify: String,
    /// Served question, no user reply to the agent's latest counting message.
    pub user_reply_secs: u64,
    /// Waiting question.
    pub wait_secs: u64,
    /// After the agent's end request.
    pub end_confirm_secs: u64,
}

fn timeouts_view(identify: &Identify, t: crate::store::timeouts::Timeouts) -> TimeoutsView {
    TimeoutsView {
        identify: identify.to_string(),
        user_reply_secs: t.user_reply_secs,
        wait_secs: t.wait_secs,
        end_confirm_secs: t.end_confirm_secs,
    }
}

/// Changes an app's timeouts (the given ones); its open questions' deadlines follow at
/// once. `defaults`: the configured ones, for what the app never set.
pub async fn set_timeouts(
    db: &DatabaseConnection,
    identify: &Identify,
    change: crate::store::timeouts::TimeoutsChange,
    defaults: &crate::store::timeouts::Timeouts,
) -> Result<TimeoutsView, OperatorError> {
    let app = app_row(db, identify).await?;
    let txn = db.begin().await?;
    let now = crate::store::timeouts::set(&txn, app.id, change, defaults).await?;
    touch(&txn, app.id).await?;
    txn.commit().await?;
    Ok(timeouts_view(identify, now))
}

pub async fn get_timeouts(
    db: &DatabaseConnection,
    identify: &Identify,
    defaults: &crate::store::timeouts::Timeouts,
) -> Result<TimeoutsView, OperatorError> {
    let app = app_row(db, identify).await?;
    Ok(timeouts_view(
        identify,
        crate::store::timeouts::of_app(db, app.id, defaults).await?,
    ))
}
