//! `kefu admin agent …`: agent accounts, their passwords, apps and login locks.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use kefu_common::domain::{Invalid, NewPassword, ServId};
use kefu_common::store::operators;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::admin::{arg, identifies, read_line, to_json, AdminError};

#[derive(Args)]
pub struct PasswordInput {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Deprecated: visible to every user of this machine in the process list.
    #[arg(long, hide = true)]
    password: Option<String>,
}

#[derive(Args)]
pub struct AgentRef {
    /// The agent account (客服账号).
    #[arg(long)]
    serv_id: String,
}

#[derive(Subcommand)]
pub enum AgentCmd {
    /// Create an agent serving one or more apps (password from a prompt or --password-stdin).
    Create {
        /// The agent account (客服账号), 1–20 characters.
        #[arg(long)]
        serv_id: String,
        #[command(flatten)]
        password: PasswordInput,
        /// An app (identify) the agent serves; repeat for several.
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
    },
    /// List every agent with the apps it serves.
    List,
    /// Disable an agent: it cannot bind and its devices are refused (30019).
    Disable(AgentRef),
    /// Enable a disabled agent again.
    Enable(AgentRef),
    /// Set a new password (from a prompt or --password-stdin); unbinds its devices.
    SetPassword {
        #[arg(long)]
        serv_id: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Lift a login lock (too many failed passwords): an agent's (--serv-id) or a
    /// client address's (--address); its failed logins are forgotten.
    Unlock {
        #[arg(long, required_unless_present = "address", conflicts_with = "address")]
        serv_id: Option<String>,
        /// A client address (IPv4 or IPv6) whose agent logins are locked.
        #[arg(long)]
        address: Option<String>,
    },
    /// Change an agent's settings.
    Update {
        #[arg(long)]
        serv_id: String,
        /// Serving questions it may hold at once (0: no limit); a manual serve beyond
        /// it is refused (30025) and automatic routing gives it no more.
        #[arg(long)]
        max_concurrent: Option<u32>,
    },
    /// Replace the apps the agent serves.
    SetApps {
        #[arg(long)]
        serv_id: String,
        /// An app (identify) the agent serves; repeat for several.
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
    },
}

impl PasswordInput {
    fn read(self) -> Result<NewPassword, AdminError> {
        let raw = if let Some(p) = self.password {
            eprintln!("kefu: --password is visible in the process list; use --password-stdin or the prompt");
            p
        } else if self.password_stdin || !std::io::stdin().is_terminal() {
            read_line("password")?
        } else {
            let first = rpassword::prompt_password("Password: ")
                .map_err(|e| AdminError::Usage(format!("password prompt: {e}")))?;
            let again = rpassword::prompt_password("Password (again): ")
                .map_err(|e| AdminError::Usage(format!("password prompt: {e}")))?;
            if first != again {
                return Err(AdminError::Usage("the passwords differ".into()));
            }
            first
        };
        arg("password", NewPassword::parse, &raw)
    }
}

pub async fn run(db: &DatabaseConnection, command: AgentCmd) -> Result<Value, AdminError> {
    let serv = |raw: &str| arg("serv-id", ServId::parse, raw);
    Ok(match command {
        AgentCmd::Create {
            serv_id,
            password,
            apps,
        } => {
            let (serv_id, apps) = (serv(&serv_id)?, identifies(&apps)?);
            to_json(operators::create_agent(db, &serv_id, &password.read()?, &apps).await?)
        }
        AgentCmd::List => to_json(operators::list_agents(db).await?),
        AgentCmd::Disable(r) => to_json(operators::set_agent_disabled(db, &serv(&r.serv_id)?, true).await?),
        AgentCmd::Enable(r) => to_json(operators::set_agent_disabled(db, &serv(&r.serv_id)?, false).await?),
        AgentCmd::SetPassword { serv_id, password } => {
            let serv_id = serv(&serv_id)?;
            to_json(operators::set_agent_password(db, &serv_id, &password.read()?).await?)
        }
        AgentCmd::Unlock { serv_id, address } => match (serv_id, address) {
            (Some(serv_id), _) => to_json(operators::unlock_agent(db, &serv(&serv_id)?).await?),
            (None, Some(address)) => {
                let address = address
                    .parse::<std::net::IpAddr>()
                    .map_err(|e| AdminError::Invalid("address", Invalid(format!("not an IP address: {e}"))))?;
                to_json(operators::unlock_address(db, address).await?)
            }
            (None, None) => return Err(AdminError::Usage("give --serv-id or --address".into())),
        },
        AgentCmd::Update {
            serv_id,
            max_concurrent,
        } => {
            let serv_id = serv(&serv_id)?;
            match max_concurrent {
                Some(max) => to_json(kefu_common::store::routing::set_max_concurrent(db, &serv_id, Some(max)).await?),
                None => to_json(operators::get_agent(db, &serv_id).await?),
            }
        }
        AgentCmd::SetApps { serv_id, apps } => {
            let (serv_id, apps) = (serv(&serv_id)?, identifies(&apps)?);
            to_json(operators::set_agent_apps(db, &serv_id, &apps).await?)
        }
    })
}
