//! `kefu admin`: create apps (tenants) and agents. Prints the result as JSON on stdout.

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::{Argon2, PasswordHasher};
use clap::Subcommand;
use kefu_common::domain::{AppName, Identify, Invalid, Password, ServId, Url};
use kefu_common::entity::{agent, agent_app, app};
use kefu_common::{now_ms, store};
use rand::distributions::{Alphanumeric, DistString};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde_json::json;

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Apps (tenants).
    App {
        #[command(subcommand)]
        command: AppCmd,
    },
    /// Agents (客服).
    Agent {
        #[command(subcommand)]
        command: AgentCmd,
    },
    /// Quick-answer templates (快速回答).
    Template {
        #[command(subcommand)]
        command: crate::admin_templates::TemplateCmd,
    },
}

#[derive(Subcommand)]
pub enum AppCmd {
    /// Create an app; prints its id and signing secret.
    Create {
        /// The app's package name, e.g. com.example.shop.
        #[arg(long)]
        identify: String,
        /// Display name (defaults to the identify).
        #[arg(long)]
        name: Option<String>,
        /// Avatar listed for this app's users without one (http or https URL).
        #[arg(long)]
        default_avatar_url: Option<String>,
    },
    /// Change an app's settings.
    Update {
        /// The app to change.
        #[arg(long)]
        identify: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Avatar listed for this app's users without one; "" for the built-in default.
        #[arg(long)]
        default_avatar_url: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AgentCmd {
    /// Create an agent serving one or more apps.
    Create {
        /// The agent account (客服账号), 1–20 characters.
        #[arg(long)]
        serv_id: String,
        /// 1–20 characters; stored only as an argon2 hash.
        #[arg(long)]
        password: String,
        /// An app (identify) the agent serves; repeat for several.
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("--{0}: {1}")]
    Invalid(&'static str, Invalid),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("password hashing: {0}")]
    Hash(String),
}

/// An http(s) URL, or "" for none.
fn avatar_url(raw: &str) -> Result<Option<String>, Invalid> {
    if raw.is_empty() {
        return Ok(None);
    }
    let url = Url::parse(raw)?;
    if !(raw.starts_with("http://") || raw.starts_with("https://")) {
        return Err(Invalid("must be an http:// or https:// URL".into()));
    }
    Ok(Some(url.to_string()))
}

pub(crate) fn arg<T>(name: &'static str, parse: impl FnOnce(&str) -> Result<T, Invalid>, raw: &str) -> Result<T, AdminError> {
    parse(raw).map_err(|e| AdminError::Invalid(name, e))
}

pub async fn run(db: &DatabaseConnection, command: AdminCmd) -> Result<(), AdminError> {
    let printed = match command {
        AdminCmd::Template { command } => crate::admin_templates::run(db, command).await?,
        AdminCmd::App {
            command:
                AppCmd::Create {
                    identify,
                    name,
                    default_avatar_url,
                },
        } => {
            let avatar = default_avatar_url.map(|u| arg("default-avatar-url", avatar_url, &u)).transpose()?;
            let identify = arg("identify", Identify::parse, &identify)?;
            let name = arg("name", AppName::parse, name.as_deref().unwrap_or(identify.as_str()))?;
            if store::app_by_identify(db, identify.as_str()).await?.is_some() {
                return Err(AdminError::Conflict(format!(
                    "an app with identify {identify} already exists"
                )));
            }
            let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
            let created = app::ActiveModel {
                identify: Set(identify.to_string()),
                name: Set(name.to_string()),
                secret: Set(secret.clone()),
                created_at: Set(now_ms()),
                default_avatar_url: Set(avatar.flatten()),
                ..Default::default()
            }
            .insert(db)
            .await?;
            json!({ "app_id": created.id, "identify": created.identify, "name": created.name, "secret": secret,
                    "default_avatar_url": created.default_avatar_url })
        }
        AdminCmd::App {
            command:
                AppCmd::Update {
                    identify,
                    name,
                    default_avatar_url,
                },
        } => {
            let identify = arg("identify", Identify::parse, &identify)?;
            let found = store::app_by_identify(db, identify.as_str())
                .await?
                .ok_or_else(|| AdminError::Conflict(format!("no app with identify {identify}")))?;
            let mut row: app::ActiveModel = found.into();
            if let Some(name) = name {
                row.name = Set(arg("name", AppName::parse, &name)?.to_string());
            }
            if let Some(url) = default_avatar_url {
                row.default_avatar_url = Set(arg("default-avatar-url", avatar_url, &url)?);
            }
            let updated = row.update(db).await?;
            json!({ "app_id": updated.id, "identify": updated.identify, "name": updated.name,
                    "default_avatar_url": updated.default_avatar_url })
        }
        AdminCmd::Agent {
            command:
                AgentCmd::Create {
                    serv_id,
                    password,
                    apps,
                },
        } => {
            let serv_id = arg("serv-id", ServId::parse, &serv_id)?;
            let password = arg("password", Password::parse, &password)?;
            let mut app_rows = Vec::new();
            for identify in &apps {
                let identify = arg("app", Identify::parse, identify)?;
                let found = store::app_by_identify(db, identify.as_str())
                    .await?
                    .ok_or_else(|| AdminError::Conflict(format!("no app with identify {identify}; create it first")))?;
                app_rows.push(found);
            }
            if store::agent(db, serv_id.as_str()).await?.is_some() {
                return Err(AdminError::Conflict(format!("agent {serv_id} already exists")));
            }
            let salt = SaltString::generate(&mut OsRng);
            let hash = Argon2::default()
                .hash_password(password.as_str().as_bytes(), &salt)
                .map_err(|e| AdminError::Hash(e.to_string()))?
                .to_string();
            let txn = db.begin().await?;
            agent::ActiveModel {
                serv_id: Set(serv_id.to_string()),
                password_hash: Set(hash),
                created_at: Set(now_ms()),
            }
            .insert(&txn)
            .await?;
            for row in &app_rows {
                if agent_app::Entity::find_by_id((serv_id.to_string(), row.id))
                    .one(&txn)
                    .await?
                    .is_none()
                {
                    agent_app::ActiveModel {
                        serv_id: Set(serv_id.to_string()),
                        app_id: Set(row.id),
                    }
                    .insert(&txn)
                    .await?;
                }
            }
            txn.commit().await?;
            json!({
                "serv_id": serv_id.as_str(),
                "apps": app_rows.iter().map(|a| a.identify.clone()).collect::<Vec<_>>(),
                "app_ids": app_rows.iter().map(|a| a.id).collect::<Vec<_>>(),
            })
        }
    };
    println!("{printed}");
    Ok(())
}
