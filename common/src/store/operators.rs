//! What operators do to apps, agents and sessions: the one service layer behind both
//! the admin API (`/admin/v1`) and the `kefu admin` CLI. These are configuration
//! changes, written directly (not through the command queue); the workers and the
//! ingest re-read them on every request, so a disable or revoke takes effect at once.

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::{Argon2, PasswordHasher};
use rand::distributions::{Alphanumeric, DistString};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use serde::Serialize;

use crate::domain::events::{AccessReason, DomainEvent};
use crate::domain::secret::{self, Secret};
use crate::domain::{AppName, Identify, NewPassword, ServId, SessionToken, Url, UserId};
use crate::store::db;
use crate::store::entity::{agent, agent_app, agent_binding, app, session};
use crate::store::login_locks;
use crate::{now_ms, store};

pub use crate::store::app_settings::{
    clear_im, get_im, get_timeouts, set_im, set_timeouts, ImSettings, ImSettingsView, TimeoutsView, DEFAULT_IM_BASE_URL,
};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no app with identify {0}")]
    UnknownApp(String),
    #[error("no agent {0}")]
    UnknownAgent(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("password hashing: {0}")]
    Hash(String),
}

/// An app as operators see it (its secret only when created or rotated).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppView {
    pub app_id: i64,
    pub identify: String,
    pub name: String,
    pub default_avatar_url: Option<String>,
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// After finishing, the user is asked for a rating (notification action 8).
    pub ask_rating: bool,
}

impl From<app::Model> for AppView {
    fn from(a: app::Model) -> Self {
        Self {
            app_id: a.id,
            identify: a.identify,
            name: a.name,
            default_avatar_url: a.default_avatar_url,
            disabled: a.disabled_at.is_some(),
            created_at: a.created_at / 1000,
            ask_rating: a.ask_rating,
        }
    }
}

/// An app with its signing secret: the answer of create and rotate-secret, the only
/// times the secret is shown.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppWithSecret {
    #[serde(flatten)]
    pub app: AppView,
    #[serde(serialize_with = "secret::shown")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub secret: Secret,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentView {
    pub serv_id: String,
    /// The identifies of the apps the agent serves.
    pub apps: Vec<String>,
    pub app_ids: Vec<i64>,
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// While too many failed logins lock the account: when the lock ends (seconds since
    /// the epoch); `null` when it is not locked.
    pub locked_until: Option<i64>,
    /// Serving questions it may hold at once; `null`: no limit.
    pub max_concurrent: Option<i32>,
}

fn new_secret() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

pub(crate) async fn app_row(db: &impl ConnectionTrait, identify: &Identify) -> Result<app::Model, OperatorError> {
    store::app_by_identify(db, identify.as_str())
        .await?
        .ok_or_else(|| OperatorError::UnknownApp(identify.to_string()))
}

pub(crate) async fn agent_row(db: &impl ConnectionTrait, serv_id: &ServId) -> Result<agent::Model, OperatorError> {
    store::agent(db, serv_id.as_str())
        .await?
        .ok_or_else(|| OperatorError::UnknownAgent(serv_id.to_string()))
}

pub async fn create_app(
    db: &DatabaseConnection,
    identify: &Identify,
    name: Option<&AppName>,
    default_avatar_url: Option<&Url>,
) -> Result<AppWithSecret, OperatorError> {
    let secret = new_secret();
    let row = app::ActiveModel {
        identify: Set(identify.to_string()),
        name: Set(name.map_or_else(
            || identify.as_str().chars().take(AppName::MAX).collect(),
            |n| n.to_string(),
        )),
        secret: Set(Secret::new(secret.clone())),
        created_at: Set(now_ms()),
        default_avatar_url: Set(default_avatar_url.map(|u| u.to_string())),
        disabled_at: Set(None),
        ..Default::default()
    };
    match row.insert(db).await {
        Ok(created) => Ok(AppWithSecret {
            app: created.into(),
            secret: Secret::new(secret),
        }),
        Err(err) if db::is_unique_violation(&err) => {
            Err(OperatorError::AlreadyExists(format!("an app with identify {identify}")))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn list_apps(db: &DatabaseConnection) -> Result<Vec<AppView>, OperatorError> {
    Ok(app::Entity::find()
        .order_by_asc(app::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(AppView::from)
        .collect())
}

pub async fn get_app(db: &DatabaseConnection, identify: &Identify) -> Result<AppView, OperatorError> {
    Ok(app_row(db, identify).await?.into())
}

/// Changes what is given: `default_avatar_url: Some(None)` returns to the built-in one.
pub async fn update_app(
    db: &DatabaseConnection,
    identify: &Identify,
    name: Option<&AppName>,
    default_avatar_url: Option<Option<&Url>>,
) -> Result<AppView, OperatorError> {
    let mut row: app::ActiveModel = app_row(db, identify).await?.into();
    if let Some(name) = name {
        row.name = Set(name.to_string());
    }
    if let Some(url) = default_avatar_url {
        row.default_avatar_url = Set(url.map(|u| u.to_string()));
    }
    Ok(row.update(db).await?.into())
}

/// A disabled app's sessions and signed calls are refused (30018) until it is enabled
/// again; its agents no longer see its questions.
pub async fn set_app_disabled(
    db: &DatabaseConnection,
    identify: &Identify,
    disabled: bool,
) -> Result<AppView, OperatorError> {
    let found = app_row(db, identify).await?;
    if found.disabled_at.is_some() == disabled {
        return Ok(found.into());
    }
    let txn = db.begin().await?;
    let app_id = found.id;
    let mut row: app::ActiveModel = found.into();
    row.disabled_at = Set(disabled.then(now_ms));
    let updated = row.update(&txn).await?;
    if disabled {
        access_revoked(&txn, &[app_id], None, None, AccessReason::AppDisabled).await?;
    }
    txn.commit().await?;
    Ok(updated.into())
}

/// A new secret; the old one stops verifying at once.
pub async fn rotate_app_secret(db: &DatabaseConnection, identify: &Identify) -> Result<AppWithSecret, OperatorError> {
    let mut row: app::ActiveModel = app_row(db, identify).await?.into();
    let secret = Secret::new(new_secret());
    row.secret = Set(secret.clone());
    Ok(AppWithSecret {
        app: row.update(db).await?.into(),
        secret,
    })
}

/// argon2id with a random salt (off the async threads: it takes ~19 MiB and tens of ms).
async fn hash_password(password: &NewPassword) -> Result<String, OperatorError> {
    let password = password.as_str().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| OperatorError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| OperatorError::Hash(e.to_string()))?
}

pub(crate) async fn agent_view(db: &impl ConnectionTrait, row: agent::Model) -> Result<AgentView, OperatorError> {
    let links = agent_app::Entity::find()
        .filter(agent_app::Column::ServId.eq(row.serv_id.as_str()))
        .order_by_asc(agent_app::Column::AppId)
        .all(db)
        .await?;
    let app_ids: Vec<i64> = links.iter().map(|l| l.app_id).collect();
    let apps = app::Entity::find()
        .filter(app::Column::Id.is_in(app_ids.clone()))
        .order_by_asc(app::Column::Id)
        .all(db)
        .await?;
    let locked_until = login_locks::agent_locked_until(db, &row.serv_id, now_ms())
        .await?
        .map(|until| (until + 999) / 1000);
    Ok(AgentView {
        locked_until,
        serv_id: row.serv_id,
        apps: apps.into_iter().map(|a| a.identify).collect(),
        app_ids,
        disabled: row.disabled_at.is_some(),
        created_at: row.created_at / 1000,
        max_concurrent: row.max_concurrent.filter(|m| *m > 0),
    })
}

async fn app_ids_of(db: &impl ConnectionTrait, apps: &[Identify]) -> Result<Vec<i64>, OperatorError> {
    let mut ids = Vec::with_capacity(apps.len());
    for identify in apps {
        let id = app_row(db, identify).await?.id;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn link_apps(txn: &impl ConnectionTrait, serv_id: &ServId, app_ids: &[i64]) -> Result<(), DbErr> {
    agent_app::Entity::delete_many()
        .filter(agent_app::Column::ServId.eq(serv_id.as_str()))
        .exec(txn)
        .await?;
    for app_id in app_ids {
        agent_app::ActiveModel {
            serv_id: Set(serv_id.to_string()),
            app_id: Set(*app_id),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

pub async fn create_agent(
    db: &DatabaseConnection,
    serv_id: &ServId,
    password: &NewPassword,
    apps: &[Identify],
) -> Result<AgentView, OperatorError> {
    let app_ids = app_ids_of(db, apps).await?;
    let hash = hash_password(password).await?;
    let txn = db.begin().await?;
    let inserted = agent::ActiveModel {
        serv_id: Set(serv_id.to_string()),
        password_hash: Set(Secret::new(hash)),
        created_at: Set(now_ms()),
        disabled_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(err) if db::is_unique_violation(&err) => {
            return Err(OperatorError::AlreadyExists(format!("agent {serv_id}")))
        }
        Err(err) => return Err(err.into()),
    };
    link_apps(&txn, serv_id, &app_ids).await?;
    let view = agent_view(&txn, row).await?;
    txn.commit().await?;
    Ok(view)
}

pub async fn list_agents(db: &DatabaseConnection) -> Result<Vec<AgentView>, OperatorError> {
    let rows = agent::Entity::find()
        .order_by_asc(agent::Column::ServId)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(agent_view(db, row).await?);
    }
    Ok(views)
}

pub async fn get_agent(db: &DatabaseConnection, serv_id: &ServId) -> Result<AgentView, OperatorError> {
    let row = agent_row(db, serv_id).await?;
    agent_view(db, row).await
}

/// Tells live streams (and downstream consumers) that access ended, as events written in
/// the change's own transaction: one per app concerned.
async fn access_revoked(
    txn: &impl ConnectionTrait,
    app_ids: &[i64],
    user_id: Option<&str>,
    serv_id: Option<&str>,
    reason: AccessReason,
) -> Result<(), DbErr> {
    let events: Vec<DomainEvent> = app_ids
        .iter()
        .map(|app_id| DomainEvent::AccessRevoked {
            app_id: *app_id,
            user_id: user_id.map(str::to_owned),
            serv_id: serv_id.map(str::to_owned),
            reason,
        })
        .collect();
    let settings = crate::store::settings_cache::read(txn, app_ids).await?;
    crate::store::outbox::write(txn, &events, &settings).await.map(|_| ())
}

/// An agent's access ended: an event for each app it serves.
async fn agent_access_revoked(txn: &impl ConnectionTrait, serv_id: &ServId, reason: AccessReason) -> Result<(), DbErr> {
    let app_ids = store::agent_app_ids(txn, serv_id.as_str()).await?;
    access_revoked(txn, &app_ids, None, Some(serv_id.as_str()), reason).await
}

/// Ends every device binding of the agent.
async fn end_bindings(db: &impl ConnectionTrait, serv_id: &ServId) -> Result<u64, DbErr> {
    Ok(agent_binding::Entity::delete_many()
        .filter(agent_binding::Column::ServId.eq(serv_id.as_str()))
        .exec(db)
        .await?
        .rows_affected)
}

/// A disabled agent cannot bind (30019) and its bound devices are refused (30019);
/// enabling it again restores them.
pub async fn set_agent_disabled(
    db: &DatabaseConnection,
    serv_id: &ServId,
    disabled: bool,
) -> Result<AgentView, OperatorError> {
    let found = agent_row(db, serv_id).await?;
    let txn = db.begin().await?;
    let mut row: agent::ActiveModel = found.into();
    row.disabled_at = Set(disabled.then(now_ms));
    let updated = row.update(&txn).await?;
    if disabled {
        agent_access_revoked(&txn, serv_id, AccessReason::AgentDisabled).await?;
    }
    let view = agent_view(&txn, updated).await?;
    txn.commit().await?;
    Ok(view)
}

/// A new password; every device bound with the old one is unbound.
pub async fn set_agent_password(
    db: &DatabaseConnection,
    serv_id: &ServId,
    password: &NewPassword,
) -> Result<AgentView, OperatorError> {
    let found = agent_row(db, serv_id).await?;
    let hash = hash_password(password).await?;
    let txn = db.begin().await?;
    let mut row: agent::ActiveModel = found.into();
    row.password_hash = Set(Secret::new(hash));
    let updated = row.update(&txn).await?;
    end_bindings(&txn, serv_id).await?;
    // Whoever was locked out by failures before gets a clean start with the new password.
    login_locks::clear_agent(&txn, serv_id.as_str(), now_ms()).await?;
    agent_access_revoked(&txn, serv_id, AccessReason::AgentPasswordChanged).await?;
    let view = agent_view(&txn, updated).await?;
    txn.commit().await?;
    Ok(view)
}

/// Lifts the agent's login lock and forgets its failed logins.
pub async fn unlock_agent(db: &DatabaseConnection, serv_id: &ServId) -> Result<AgentView, OperatorError> {
    let row = agent_row(db, serv_id).await?;
    if login_locks::clear_agent(db, serv_id.as_str(), now_ms()).await? {
        tracing::info!(serv_id = %serv_id.as_str().escape_debug(), "agent login lock lifted by an operator");
    }
    agent_view(db, row).await
}

/// A client address's login lock, lifted.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressUnlocked {
    pub address: String,
    /// Whether a lock was in force.
    pub unlocked: bool,
}

/// Lifts the login lock of a client address and forgets its failed logins.
pub async fn unlock_address(
    db: &DatabaseConnection,
    address: std::net::IpAddr,
) -> Result<AddressUnlocked, OperatorError> {
    let address = address.to_string();
    let unlocked = login_locks::clear_address(db, &address, now_ms()).await?;
    if unlocked {
        tracing::info!(%address, "address login lock lifted by an operator");
    }
    Ok(AddressUnlocked { address, unlocked })
}

/// Replaces the apps the agent serves.
pub async fn set_agent_apps(
    db: &DatabaseConnection,
    serv_id: &ServId,
    apps: &[Identify],
) -> Result<AgentView, OperatorError> {
    let found = agent_row(db, serv_id).await?;
    let app_ids = app_ids_of(db, apps).await?;
    let txn = db.begin().await?;
    link_apps(&txn, serv_id, &app_ids).await?;
    let view = agent_view(&txn, found).await?;
    txn.commit().await?;
    Ok(view)
}

/// Ends sessions (and their bindings): answers how many.
pub async fn revoke_session(db: &DatabaseConnection, token: &SessionToken) -> Result<u64, OperatorError> {
    let digest = token.digest();
    let txn = db.begin().await?;
    let found = session::Entity::find_by_id(digest.as_str()).one(&txn).await?;
    let binding = agent_binding::Entity::find_by_id(digest.as_str()).one(&txn).await?;
    agent_binding::Entity::delete_by_id(digest.as_str()).exec(&txn).await?;
    let n = session::Entity::delete_by_id(digest.as_str())
        .exec(&txn)
        .await?
        .rows_affected;
    if let Some(found) = found {
        let serv_id = binding.map(|b| b.serv_id);
        access_revoked(
            &txn,
            &[found.app_id],
            Some(&found.user_id),
            serv_id.as_deref(),
            AccessReason::SessionRevoked,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(n)
}

/// Ends every session of one user of an app.
pub async fn revoke_user_sessions(
    db: &DatabaseConnection,
    identify: &Identify,
    user_id: &UserId,
) -> Result<u64, OperatorError> {
    let app = app_row(db, identify).await?;
    let txn = db.begin().await?;
    let digests: Vec<String> = session::Entity::find()
        .filter(session::Column::AppId.eq(app.id))
        .filter(session::Column::UserId.eq(user_id.as_str()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| s.session)
        .collect();
    agent_binding::Entity::delete_many()
        .filter(agent_binding::Column::Session.is_in(digests.clone()))
        .exec(&txn)
        .await?;
    let n = session::Entity::delete_many()
        .filter(session::Column::Session.is_in(digests))
        .exec(&txn)
        .await?
        .rows_affected;
    access_revoked(
        &txn,
        &[app.id],
        Some(user_id.as_str()),
        None,
        AccessReason::UserSessionsRevoked,
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

/// Ends every device binding of an agent (the admin's "sign this agent out").
pub async fn revoke_agent_bindings(db: &DatabaseConnection, serv_id: &ServId) -> Result<u64, OperatorError> {
    agent_row(db, serv_id).await?;
    let txn = db.begin().await?;
    let n = end_bindings(&txn, serv_id).await?;
    agent_access_revoked(&txn, serv_id, AccessReason::AgentBindingsRevoked).await?;
    txn.commit().await?;
    Ok(n)
}

/// Deletes expired sessions and their bindings (the janitor).
pub async fn prune_expired_sessions(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = now_ms();
    let txn = db.begin().await?;
    agent_binding::Entity::delete_many()
        .filter(
            agent_binding::Column::Session.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(session::Column::Session)
                    .from(session::Entity)
                    .and_where(session::Column::ExpiresAt.lt(now))
                    .to_owned(),
            ),
        )
        .exec(&txn)
        .await?;
    let n = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let app = app::Model {
            id: 1,
            identify: "com.example.shop".into(),
            name: "Shop".into(),
            secret: Secret::new("the-app-secret-value"),
            created_at: 0,
            default_avatar_url: None,
            disabled_at: None,
            settings_version: 0,
            routing_mode: Default::default(),
            offer_timeout_ms: None,
            ask_rating: false,
        };
        let agent = agent::Model {
            serv_id: "alice".into(),
            password_hash: Secret::new("$argon2id$the-hash"),
            created_at: 0,
            disabled_at: None,
            max_concurrent: None,
            presence: crate::domain::Presence::Offline,
            presence_at: None,
            assigned_at: 0,
        };
        let shown = AppWithSecret {
            app: app.clone().into(),
            secret: Secret::new("the-app-secret-value"),
        };
        for printed in [format!("{app:?}"), format!("{agent:?}"), format!("{shown:?}")] {
            assert!(
                !printed.contains("the-app-secret-value") && !printed.contains("the-hash"),
                "{printed}"
            );
            assert!(printed.contains("***"), "{printed}");
        }
    }
}
