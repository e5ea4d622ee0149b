//! `kefu`: one binary for every role.
//!
//! - `kefu serve`   — ingest and workers in one process (migrates first)
//! - `kefu ingest`  — the HTTP tier only
//! - `kefu worker`  — the command consumers only (scale these)
//! - `kefu migrate` — apply database migrations
//! - `kefu admin …` — create apps and agents
//! - `kefu openapi` — print the OpenAPI document
//! - `kefu events tail` — print domain events as they come

mod admin;
mod admin_agents;
mod admin_questions;
mod admin_routing;
mod admin_templates;
mod events_cli;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kefu_common::infra::broker::Broker;
use kefu_common::infra::config::Config;
use kefu_migrations::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "kefu", version, about = "Kefu customer-service messaging backend")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Cmd,
}

/// Flags that override the `KEFU_*` environment and the config file.
#[derive(clap::Args, Serialize, Default)]
struct Overrides {
    /// Listen address (KEFU_HTTP_ADDR).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_addr: Option<String>,
    /// Database URL (KEFU_DATABASE_URL): sqlite://…, postgres://…, mysql://…
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    /// RabbitMQ URL (KEFU_AMQP_URL); unset: the embedded queue.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    amqp_url: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the ingest and the workers in one process.
    Serve,
    /// Run the HTTP ingest tier only.
    Ingest,
    /// Run the workers only.
    Worker,
    /// Apply the database migrations.
    Migrate,
    /// Print the OpenAPI 3.1 document of the HTTP API (docs/openapi.json).
    Openapi,
    /// Domain events (`kefu events tail`).
    Events {
        #[command(subcommand)]
        command: events_cli::EventsCmd,
    },
    /// Manage apps and agents.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCmd,
    },
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Config(#[from] kefu_common::infra::config::ConfigError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("broker: {0}")]
    Broker(#[from] kefu_common::infra::broker::BrokerError),
    #[error(transparent)]
    Media(#[from] kefu_common::infra::media::MediaError),
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    #[error(transparent)]
    Tail(#[from] events_cli::TailError),
    #[error("the database has {0} pending migration(s); run `kefu migrate` first")]
    NotMigrated(usize),
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn,lapin=error".into());
    // Colour only for a person at a terminal: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.overrides) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kefu: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    match run(cli.command, Arc::new(config)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "kefu stopped with an error");
            eprintln!("kefu: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Connects; `migrate`: apply pending migrations, else refuse to run on an old schema
/// (separately started ingests and workers must not race to migrate).
async fn database(config: &Config, migrate: bool) -> Result<DatabaseConnection, RunError> {
    let db = kefu_common::store::db::connect_with(&config.database_url, config.db_acquire_timeout()).await?;
    if migrate {
        Migrator::up(&db, None).await?;
    } else {
        let pending = Migrator::get_pending_migrations(&db).await?.len();
        if pending > 0 {
            return Err(RunError::NotMigrated(pending));
        }
    }
    Ok(db)
}

/// Cancels the token on Ctrl-C or SIGTERM.
fn shutdown_on_signal(cancel: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        cancel.cancel();
    });
}

async fn run(command: Cmd, config: Arc<Config>) -> Result<(), RunError> {
    let cancel = CancellationToken::new();
    match command {
        Cmd::Openapi => {
            let doc = kefu_ingest::openapi::openapi()
                .to_pretty_json()
                .map_err(|e| RunError::Io(std::io::Error::other(e)))?;
            println!("{doc}");
            Ok(())
        }
        Cmd::Migrate => {
            database(&config, true).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Events { command } => {
            let db = database(&config, false).await?;
            let broker = Broker::connect(&config, db.clone()).await?;
            shutdown_on_signal(cancel.clone());
            events_cli::run(&broker, command, cancel).await?;
            broker.close().await;
            Ok(())
        }
        Cmd::Admin { command } => {
            // No migration as a side effect: `kefu migrate` is the one that changes the schema.
            let db = database(&config, false).await?;
            Ok(admin::run(&db, &config, command).await?)
        }
        Cmd::Serve | Cmd::Ingest | Cmd::Worker => {
            let with_ingest = !matches!(command, Cmd::Worker);
            let with_worker = !matches!(command, Cmd::Ingest);
            let db = database(&config, matches!(command, Cmd::Serve)).await?;
            let broker = Broker::connect(&config, db.clone()).await?;
            tracing::info!(
                broker = broker.kind(),
                database = db_kind(&config.database_url),
                "kefu starting"
            );
            shutdown_on_signal(cancel.clone());
            let metrics = Arc::new(kefu_common::infra::metrics::Metrics::new());
            let metrics_server = if config.metrics_addr.is_empty() {
                None
            } else {
                let listener = tokio::net::TcpListener::bind(&config.metrics_addr).await?;
                Some(tokio::spawn(kefu_workers::serve_metrics(
                    listener,
                    Arc::clone(&metrics),
                    broker.clone(),
                    cancel.clone(),
                )))
            };
            let worker = with_worker.then(|| {
                let worker =
                    kefu_workers::Worker::new(db.clone(), broker.clone(), Arc::clone(&config), Arc::clone(&metrics));
                tokio::spawn(kefu_workers::run(worker, cancel.clone()))
            });
            if with_ingest {
                let listener = tokio::net::TcpListener::bind(&config.http_addr).await?;
                if config.public_url.is_empty() && config.http_addr.starts_with("0.0.0.0") {
                    tracing::warn!(
                        public_url = %config.public_base(),
                        "KEFU_PUBLIC_URL is unset: image, audio and avatar links name the listen address; set it to the address clients use"
                    );
                }
                let state = kefu_ingest::AppState::new(db.clone(), broker.clone(), Arc::clone(&config))?
                    .with_metrics(Arc::clone(&metrics));
                kefu_ingest::serve(listener, state, cancel.clone()).await?;
                cancel.cancel();
            }
            if let Some(worker) = worker {
                let _ = worker.await;
            }
            if let Some(server) = metrics_server {
                cancel.cancel();
                let _ = server.await;
            }
            broker.close().await;
            Ok(())
        }
    }
}

fn db_kind(url: &str) -> &'static str {
    match url.split(':').next().unwrap_or("") {
        "sqlite" => "sqlite",
        "postgres" | "postgresql" => "postgres",
        _ => "mysql",
    }
}
