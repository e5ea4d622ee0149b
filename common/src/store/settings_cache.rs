//! What a worker's transaction needs of each app's settings (identify, IM on or off,
//! webhook subscriptions, push on or off, timeouts), cached per process. Each
//! transaction checks the apps' `settings_version` in one statement and re-reads only
//! the apps whose version moved; every settings change raises the version
//! ([`touch`]) in its own statement, so nothing used is ever older than the check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::RoutingMode;
use crate::store::entity::{app, app_im_settings, app_push_endpoint, app_timeouts, webhook_endpoint};

/// Apps kept at most; past it the cache starts over (the next transactions re-read).
pub const MAX_CACHED_APPS: usize = 10_000;

/// One app's settings, as the effects of its commands need them.
#[derive(Debug, Clone, Default)]
pub struct AppSettings {
    pub identify: String,
    /// IM settings are set: agent messages and notifications are delivered to the IM.
    pub has_im: bool,
    /// The enabled webhook endpoints: id and subscribed event-type patterns.
    pub hooks: Vec<(String, Vec<String>)>,
    /// A push endpoint is set.
    pub has_push: bool,
    /// The app's own timeouts row, if any.
    pub timeouts: Option<app_timeouts::Model>,
    /// How its waiting questions reach agents.
    pub routing: RoutingMode,
    /// In automatic routing, offer each question for this long first (ms).
    pub offer_timeout_ms: Option<i64>,
    /// Ask the user for a rating after finishing.
    pub ask_rating: bool,
}

/// Settings by app id; an app missing from it (deleted) has none.
pub type SettingsOf = HashMap<i64, Arc<AppSettings>>;

#[derive(Debug, Default)]
pub struct SettingsCache {
    entries: Mutex<HashMap<i64, (i64, Arc<AppSettings>)>>,
}

impl SettingsCache {
    /// The settings of these apps, current as of this statement: one query for the
    /// versions, and the settings re-read for the apps whose version moved.
    pub async fn of_apps(&self, db: &impl ConnectionTrait, app_ids: &[i64]) -> Result<SettingsOf, DbErr> {
        let mut found = SettingsOf::with_capacity(app_ids.len());
        if app_ids.is_empty() {
            return Ok(found);
        }
        let versions: Vec<(i64, String, i64, RoutingMode, Option<i64>, bool)> = app::Entity::find()
            .select_only()
            .column(app::Column::Id)
            .column(app::Column::Identify)
            .column(app::Column::SettingsVersion)
            .column(app::Column::RoutingMode)
            .column(app::Column::OfferTimeoutMs)
            .column(app::Column::AskRating)
            .filter(app::Column::Id.is_in(app_ids.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        for (app_id, identify, version, routing, offer_timeout_ms, ask_rating) in versions {
            let cached = self
                .entries
                .lock()
                .expect("settings cache lock")
                .get(&app_id)
                .filter(|(v, _)| *v == version)
                .map(|(_, s)| Arc::clone(s));
            let settings = match cached {
                Some(s) => s,
                None => {
                    let mut loaded = load(db, app_id, identify).await?;
                    (loaded.routing, loaded.offer_timeout_ms, loaded.ask_rating) =
                        (routing, offer_timeout_ms, ask_rating);
                    let fresh = Arc::new(loaded);
                    let mut entries = self.entries.lock().expect("settings cache lock");
                    if entries.len() >= MAX_CACHED_APPS {
                        entries.clear();
                    }
                    entries.insert(app_id, (version, Arc::clone(&fresh)));
                    fresh
                }
            };
            found.insert(app_id, settings);
        }
        Ok(found)
    }
}

/// Reads one app's settings (four primary-key or indexed reads).
async fn load(db: &impl ConnectionTrait, app_id: i64, identify: String) -> Result<AppSettings, DbErr> {
    let (im, hooks, push, timeouts) = (
        app_im_settings::Entity::find_by_id(app_id).one(db).await?,
        webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::AppId.eq(app_id))
            .filter(webhook_endpoint::Column::DisabledAt.is_null())
            .all(db)
            .await?,
        app_push_endpoint::Entity::find_by_id(app_id).one(db).await?,
        app_timeouts::Entity::find_by_id(app_id).one(db).await?,
    );
    Ok(AppSettings {
        identify,
        has_im: im.is_some(),
        hooks: hooks
            .into_iter()
            .map(|h| (h.id, serde_json::from_str(&h.event_types).unwrap_or_default()))
            .collect(),
        has_push: push.is_some(),
        timeouts,
        ..Default::default()
    })
}

/// The settings of these apps, read now and not cached (for writers outside a worker).
pub async fn read(db: &impl ConnectionTrait, app_ids: &[i64]) -> Result<SettingsOf, DbErr> {
    SettingsCache::default().of_apps(db, app_ids).await
}

/// Raises the app's settings version: every cached copy is re-read by the next
/// transaction that uses it. Called by every change of IM, timeouts, webhooks or push.
pub async fn touch(db: &impl ConnectionTrait, app_id: i64) -> Result<(), DbErr> {
    app::Entity::update_many()
        .col_expr(
            app::Column::SettingsVersion,
            Expr::col(app::Column::SettingsVersion).add(1),
        )
        .filter(app::Column::Id.eq(app_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The distinct apps, in first-seen order.
pub fn distinct_apps(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut apps: Vec<i64> = Vec::new();
    for id in ids {
        if !apps.contains(&id) {
            apps.push(id);
        }
    }
    apps
}
