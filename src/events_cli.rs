//! `kefu events tail [--type 'kefu.question.*']`: prints events as they come, one
//! CloudEvent (JSON) per line. On RabbitMQ a temporary queue bound to `kefu.events`; with
//! the embedded broker, the outbox table read from its end.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use futures_util::StreamExt;
use kefu_common::domain::events::type_matches;
use kefu_common::infra::broker::{Broker, BrokerError};
use kefu_common::store::entity::outbox_event;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Print events as they come (one JSON CloudEvent per line) until interrupted.
    Tail {
        /// A topic pattern over the event type: `*` one word, `#` any number.
        #[arg(long = "type", default_value = "#")]
        pattern: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(
    db: &DatabaseConnection,
    broker: &Broker,
    command: EventsCmd,
    cancel: CancellationToken,
) -> Result<(), TailError> {
    let EventsCmd::Tail { pattern } = command;
    let mut out = std::io::stdout().lock();
    match broker {
        Broker::Rabbit(rabbit) => {
            let mut events = rabbit.subscribe_events(&pattern).await?;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    next = events.next() => match next {
                        Some(body) => {
                            out.write_all(&body)?;
                            out.write_all(b"\n")?;
                            out.flush()?;
                        }
                        None => return Ok(()),
                    }
                }
            }
        }
        Broker::Embedded(_) => {
            let mut after = outbox_event::Entity::find()
                .order_by_desc(outbox_event::Column::Position)
                .one(db)
                .await?
                .map_or(0, |e| e.position);
            loop {
                let rows = outbox_event::Entity::find()
                    .filter(outbox_event::Column::Position.gt(after))
                    .order_by_asc(outbox_event::Column::Position)
                    .limit(500)
                    .all(db)
                    .await?;
                for row in &rows {
                    after = row.position;
                    if type_matches(&pattern, &row.event_type) {
                        writeln!(out, "{}", row.payload)?;
                    }
                }
                out.flush()?;
                if rows.is_empty() {
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        }
    }
}
