//! `kefu admin`: apps (tenants), agents, sessions and quick-answer templates, through
//! the same service functions as the admin API. Prints the result as JSON on stdout.
//! Passwords are read from a prompt or `--password-stdin`, never from the command line
//! (other users can read it in the process list).

use std::io::BufRead;

use clap::{Args, Subcommand};
use kefu_common::domain::{AppName, Identify, ImAccount, ImSecretKey, Invalid, ServId, SessionToken, Url, UserId};
use kefu_common::store::operators::{self, OperatorError};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

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
        command: crate::admin_agents::AgentCmd,
    },
    /// User and agent sessions.
    Session {
        #[command(subcommand)]
        command: SessionCmd,
    },
    /// Questions of every app, as operators see them.
    Questions {
        #[command(subcommand)]
        command: crate::admin_questions::QuestionsCmd,
    },
    /// Quick-answer templates (快速回答).
    Template {
        #[command(subcommand)]
        command: crate::admin_templates::TemplateCmd,
    },
    /// Messages on their way to the users' Tencent IM.
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCmd,
    },
    /// Webhook endpoints: CloudEvents of the types they subscribe to, signed (Standard
    /// Webhooks).
    Webhook {
        #[command(subcommand)]
        command: WebhookCmd,
    },
    /// Messages a queue gave up on: list them, put them back.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCmd,
    },
    /// An app's figures for the questions asked in a window: asked, served, timed out,
    /// waiting and first-response times, ratings, per agent.
    Report {
        #[arg(long)]
        identify: String,
        /// From when: seconds since the epoch or a span back like 7d, 24h (default 7d).
        #[arg(long)]
        since: Option<String>,
        /// Until when, excluded (default now).
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum DeliveriesCmd {
    /// List IM deliveries (JSON array): state, attempts, last error.
    List {
        /// Only the failed ones.
        #[arg(long)]
        failed: bool,
        /// Only this app's.
        #[arg(long)]
        identify: Option<String>,
    },
    /// Send failed deliveries again: one (--id, the message id) or all of an app
    /// (--identify … --all).
    Redrive {
        #[arg(long, conflicts_with_all = ["identify", "all"], required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, requires = "all")]
        identify: Option<String>,
        #[arg(long, requires = "identify")]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// Create an endpoint; prints it with its `whsec_` signing secret (JSON).
    Create {
        #[arg(long)]
        identify: String,
        /// Where the events are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// Event-type patterns, comma-separated or repeated: `kefu.question.*`,
        /// `kefu.message.created`, `#` for all.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
    },
    /// List endpoints (JSON array; never the secrets).
    List {
        /// Only this app's.
        #[arg(long)]
        identify: Option<String>,
    },
    /// Stop sending to an endpoint.
    Disable {
        #[arg(long)]
        id: String,
    },
    /// Send to a disabled endpoint again.
    Enable {
        #[arg(long)]
        id: String,
    },
    /// A new signing secret (printed); the old one stops at once.
    RotateSecret {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub enum DeadLettersCmd {
    /// List dead letters with their reason and attempts (JSON array).
    List {
        /// Only this queue's (`commands`).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Put dead letters back on their queue: one (--id) or all of a queue (--queue … --all).
    Redrive {
        #[arg(long, conflicts_with_all = ["queue", "all"], required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, requires = "all")]
        queue: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args)]
pub struct AppRef {
    /// The app's package name, e.g. com.example.shop.
    #[arg(long)]
    identify: String,
}

#[derive(Subcommand)]
pub enum AppCmd {
    /// Create an app; prints its id and signing secret.
    Create {
        #[arg(long)]
        identify: String,
        /// Display name (defaults to the identify).
        #[arg(long)]
        name: Option<String>,
        /// Avatar listed for this app's users without one (http or https URL).
        #[arg(long)]
        default_avatar_url: Option<String>,
    },
    /// List every app.
    List,
    /// Change an app's settings.
    Update {
        #[arg(long)]
        identify: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Avatar listed for this app's users without one; "" for the built-in default.
        #[arg(long)]
        default_avatar_url: Option<String>,
        /// Ask users for a rating after a question is finished (notification action 8).
        #[arg(long)]
        ask_rating: Option<bool>,
    },
    /// How the app's waiting questions reach agents: picked from the waiting list
    /// (manual, the default) or given to an online agent with room (auto).
    SetRouting {
        #[arg(long)]
        identify: String,
        /// manual or auto.
        #[arg(long)]
        mode: String,
        /// In auto: offer each question for this long (e.g. 30s) before passing it on.
        #[arg(long)]
        offer_timeout: Option<String>,
    },
    /// Show the app's routing.
    ShowRouting(AppRef),
    /// Disable an app: its sessions and signed calls are refused (30018).
    Disable(AppRef),
    /// Enable a disabled app again.
    Enable(AppRef),
    /// Replace the app's signing secret; prints the new one (the old stops working).
    RotateSecret(AppRef),
    /// Set the app's Tencent Cloud IM settings: agents' replies are then delivered to
    /// its users' IM through desk_http_svc/send_msg.
    SetIm {
        #[arg(long)]
        identify: String,
        /// The IM REST domain (default https://console.tim.qq.com).
        #[arg(long)]
        base_url: Option<String>,
        /// The IM app's SDKAppID.
        #[arg(long)]
        sdkappid: u32,
        /// The IM administrator account REST calls are signed as.
        #[arg(long)]
        identifier: String,
        /// The key UserSigs are generated from (or --secret-key-stdin).
        #[arg(long, required_unless_present = "secret_key_stdin")]
        secret_key: Option<String>,
        /// Read the secret key from the first line of standard input.
        #[arg(long)]
        secret_key_stdin: bool,
        /// The customer-service account messages are sent from, e.g. @customer_service_account.
        #[arg(long)]
        from_account: String,
    },
    /// Show the app's IM settings (never the key).
    ShowIm(AppRef),
    /// Set the app's question timeouts (durations like 90s, 10m, 24h; 0 for off); the
    /// ones not given stay as they are. Open questions follow at once.
    SetTimeouts {
        #[arg(long)]
        identify: String,
        /// No user reply to the agent's latest message for this long (default 10m).
        #[arg(long)]
        user_reply: Option<String>,
        /// Waiting for an agent this long (default 0: off).
        #[arg(long)]
        wait: Option<String>,
        /// After the agent's end request, finished unless the user replies (default 2m).
        #[arg(long)]
        end_confirm: Option<String>,
    },
    /// Show the app's question timeouts (seconds; 0 is off).
    ShowTimeouts(AppRef),
    /// Set where the app's backend receives push payloads for its users and agents
    /// (signed like webhooks); prints the endpoint with its new secret.
    SetPush {
        #[arg(long)]
        identify: String,
        #[arg(long)]
        url: String,
    },
    /// Show the app's push endpoint (never the secret).
    ShowPush(AppRef),
    /// Remove the app's push endpoint.
    ClearPush(AppRef),
    /// Remove the app's IM settings: no more IM deliveries.
    ClearIm(AppRef),
}

#[derive(Subcommand)]
pub enum SessionCmd {
    /// End sessions: one (--session), every session of a user (--identify with
    /// --user-id), or every device binding of an agent (--serv-id).
    Revoke {
        #[arg(long, conflicts_with_all = ["identify", "user_id", "serv_id"])]
        session: Option<String>,
        #[arg(long, requires = "user_id")]
        identify: Option<String>,
        #[arg(long, requires = "identify")]
        user_id: Option<String>,
        #[arg(long, conflicts_with_all = ["identify", "user_id"])]
        serv_id: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("--{0}: {1}")]
    Invalid(&'static str, Invalid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    DeadLetters(#[from] kefu_common::store::dead_letters::DeadLetterError),
    #[error("broker: {0}")]
    Broker(#[from] kefu_common::infra::broker::BrokerError),
}

pub(crate) fn arg<T>(
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
    raw: &str,
) -> Result<T, AdminError> {
    parse(raw).map_err(|e| AdminError::Invalid(name, e))
}

pub(crate) fn identifies(raw: &[String]) -> Result<Vec<Identify>, AdminError> {
    raw.iter().map(|a| arg("app", Identify::parse, a)).collect()
}

/// The first line of standard input.
pub(crate) fn read_line(what: &str) -> Result<String, AdminError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| AdminError::Usage(format!("reading the {what} from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// An http(s) URL, or "" for none.
fn avatar_url(raw: &str) -> Result<Option<Url>, Invalid> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Url::parse(raw).map(Some)
    }
}

pub async fn run(
    db: &DatabaseConnection,
    config: &kefu_common::infra::config::Config,
    command: AdminCmd,
) -> Result<(), AdminError> {
    let printed: Value = match command {
        AdminCmd::Deliveries { command } => {
            use kefu_common::store::im::deliveries;
            let app_id = |identify: Option<String>| async move {
                match identify {
                    Some(raw) => {
                        let identify = arg("identify", Identify::parse, &raw)?;
                        Ok::<_, AdminError>(Some(operators::get_app(db, &identify).await?.app_id))
                    }
                    None => Ok(None),
                }
            };
            match command {
                DeliveriesCmd::List { failed, identify } => {
                    to_json(deliveries::list(db, failed, app_id(identify).await?).await?)
                }
                DeliveriesCmd::Redrive { id, identify, all: _ } => {
                    let app = app_id(identify).await?;
                    let broker = kefu_common::infra::broker::Broker::connect(config, db.clone()).await?;
                    let queue = config.task_queue(deliveries::QUEUE);
                    let n = deliveries::redrive(db, &broker, &queue, id.as_deref(), app).await;
                    broker.close().await;
                    json!({ "redriven": n? })
                }
            }
        }
        AdminCmd::Webhook { command } => {
            use kefu_common::store::webhooks;
            let identify = |raw: &str| arg("identify", Identify::parse, raw);
            let found = |v: Option<webhooks::EndpointView>, id: &str| {
                v.map(to_json)
                    .ok_or_else(|| AdminError::Usage(format!("no webhook endpoint {id}")))
            };
            match command {
                WebhookCmd::Create {
                    identify: raw,
                    url,
                    events,
                } => {
                    let app = operators::get_app(db, &identify(&raw)?).await?;
                    let url = arg("url", Url::parse, &url)?;
                    let events = events
                        .into_iter()
                        .map(|e| arg("events", kefu_common::store::webhooks::event_pattern, &e))
                        .collect::<Result<Vec<_>, _>>()?;
                    to_json(webhooks::create(db, app.app_id, url.as_str(), &events).await?)
                }
                WebhookCmd::List { identify: raw } => {
                    let app_id = match raw {
                        Some(raw) => Some(operators::get_app(db, &identify(&raw)?).await?.app_id),
                        None => None,
                    };
                    to_json(webhooks::list(db, app_id).await?)
                }
                WebhookCmd::Disable { id } => found(webhooks::set_disabled(db, &id, true).await?, &id)?,
                WebhookCmd::Enable { id } => found(webhooks::set_disabled(db, &id, false).await?, &id)?,
                WebhookCmd::RotateSecret { id } => found(webhooks::rotate_secret(db, &id).await?, &id)?,
            }
        }
        AdminCmd::DeadLetters {
            command: DeadLettersCmd::List { queue },
        } => to_json(kefu_common::store::dead_letters::list(db, queue.as_deref()).await?),
        AdminCmd::DeadLetters {
            command: DeadLettersCmd::Redrive { id, queue, all },
        } => {
            if id.is_none() && !all {
                return Err(AdminError::Usage("give --id ID, or --queue Q --all".into()));
            }
            let broker = kefu_common::infra::broker::Broker::connect(config, db.clone()).await?;
            let n = kefu_common::store::dead_letters::redrive(db, &broker, id.as_deref(), queue.as_deref()).await;
            broker.close().await;
            json!({ "redriven": n? })
        }
        AdminCmd::Template { command } => crate::admin_templates::run(db, command).await?,
        AdminCmd::Questions { command } => crate::admin_questions::run(db, &config.media_base(), command).await?,
        AdminCmd::App { command } => {
            app(db, &kefu_common::store::timeouts::Timeouts::defaults(config), command).await?
        }
        AdminCmd::Agent { command } => crate::admin_agents::run(db, command).await?,
        AdminCmd::Report { identify, since, until } => {
            crate::admin_routing::report(db, &identify, since.as_deref(), until.as_deref()).await?
        }
        AdminCmd::Session {
            command:
                SessionCmd::Revoke {
                    session,
                    identify,
                    user_id,
                    serv_id,
                },
        } => {
            let revoked = match (session, identify, user_id, serv_id) {
                (Some(s), None, None, None) => {
                    operators::revoke_session(db, &arg("session", SessionToken::parse, &s)?).await?
                }
                (None, Some(identify), Some(user_id), None) => {
                    let identify = arg("identify", Identify::parse, &identify)?;
                    operators::revoke_user_sessions(db, &identify, &arg("user-id", UserId::parse, &user_id)?).await?
                }
                (None, None, None, Some(serv_id)) => {
                    operators::revoke_agent_bindings(db, &arg("serv-id", ServId::parse, &serv_id)?).await?
                }
                _ => {
                    return Err(AdminError::Usage(
                        "give --session, or --identify with --user-id, or --serv-id".into(),
                    ))
                }
            };
            json!({ "revoked": revoked })
        }
    };
    println!("{printed}");
    Ok(())
}

pub(crate) fn to_json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("views serialize")
}

async fn app(
    db: &DatabaseConnection,
    timeouts: &kefu_common::store::timeouts::Timeouts,
    command: AppCmd,
) -> Result<Value, AdminError> {
    let identify = |raw: &str| arg("identify", Identify::parse, raw);
    Ok(match command {
        AppCmd::Create {
            identify: raw,
            name,
            default_avatar_url,
        } => {
            let identify = identify(&raw)?;
            let name = name.map(|n| arg("name", AppName::parse, &n)).transpose()?;
            let avatar = default_avatar_url
                .map(|u| arg("default-avatar-url", avatar_url, &u))
                .transpose()?
                .flatten();
            to_json(operators::create_app(db, &identify, name.as_ref(), avatar.as_ref()).await?)
        }
        AppCmd::List => to_json(operators::list_apps(db).await?),
        AppCmd::Update {
            identify: raw,
            name,
            default_avatar_url,
            ask_rating,
        } => {
            let identify = identify(&raw)?;
            let name = name.map(|n| arg("name", AppName::parse, &n)).transpose()?;
            let avatar = default_avatar_url
                .map(|u| arg("default-avatar-url", avatar_url, &u))
                .transpose()?;
            if let Some(ask) = ask_rating {
                crate::admin_routing::set_ask_rating(db, &raw, ask).await?;
            }
            to_json(operators::update_app(db, &identify, name.as_ref(), avatar.as_ref().map(Option::as_ref)).await?)
        }
        AppCmd::SetRouting {
            identify,
            mode,
            offer_timeout,
        } => crate::admin_routing::set_routing(db, &identify, &mode, offer_timeout.as_deref()).await?,
        AppCmd::ShowRouting(r) => crate::admin_routing::show_routing(db, &r.identify).await?,
        AppCmd::Disable(r) => to_json(operators::set_app_disabled(db, &identify(&r.identify)?, true).await?),
        AppCmd::Enable(r) => to_json(operators::set_app_disabled(db, &identify(&r.identify)?, false).await?),
        AppCmd::RotateSecret(r) => to_json(operators::rotate_app_secret(db, &identify(&r.identify)?).await?),
        AppCmd::SetIm {
            identify: raw,
            base_url,
            sdkappid,
            identifier,
            secret_key,
            secret_key_stdin,
            from_account,
        } => {
            let identify = identify(&raw)?;
            let secret_key = match (secret_key, secret_key_stdin) {
                (Some(key), false) => key,
                (None, true) => read_line("secret key")?,
                _ => return Err(AdminError::Usage("give --secret-key or --secret-key-stdin".into())),
            };
            let settings = operators::ImSettings {
                base_url: base_url.map(|u| arg("base-url", Url::parse, &u)).transpose()?,
                sdkappid,
                identifier: arg("identifier", ImAccount::parse, &identifier)?,
                secret_key: arg("secret-key", ImSecretKey::parse, &secret_key)?,
                from_account: arg("from-account", ImAccount::parse, &from_account)?,
            };
            to_json(operators::set_im(db, &identify, settings).await?)
        }
        AppCmd::ShowIm(r) => to_json(operators::get_im(db, &identify(&r.identify)?).await?),
        AppCmd::SetTimeouts {
            identify: raw,
            user_reply,
            wait,
            end_confirm,
        } => {
            use kefu_common::store::timeouts::{parse_duration, TimeoutsChange};
            let identify = identify(&raw)?;
            let duration =
                |name: &'static str, raw: Option<String>| raw.map(|r| arg(name, parse_duration, &r)).transpose();
            let change = TimeoutsChange {
                user_reply_secs: duration("user-reply", user_reply)?,
                wait_secs: duration("wait", wait)?,
                end_confirm_secs: duration("end-confirm", end_confirm)?,
            };
            to_json(operators::set_timeouts(db, &identify, change, timeouts).await?)
        }
        AppCmd::SetPush { identify: raw, url } => {
            let app = operators::get_app(db, &identify(&raw)?).await?;
            let url = arg("url", Url::parse, &url)?;
            to_json(kefu_common::store::webhooks::set_push(db, app.app_id, url.as_str()).await?)
        }
        AppCmd::ShowPush(r) => {
            let app = operators::get_app(db, &identify(&r.identify)?).await?;
            to_json(kefu_common::store::webhooks::get_push(db, app.app_id).await?)
        }
        AppCmd::ClearPush(r) => {
            let app = operators::get_app(db, &identify(&r.identify)?).await?;
            json!({ "cleared": kefu_common::store::webhooks::clear_push(db, app.app_id).await? })
        }
        AppCmd::ShowTimeouts(r) => to_json(operators::get_timeouts(db, &identify(&r.identify)?, timeouts).await?),
        AppCmd::ClearIm(r) => json!({ "cleared": operators::clear_im(db, &identify(&r.identify)?).await? }),
    })
}
