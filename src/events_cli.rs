//! `kefu events tail [--type 'kefu.question.*']`: prints events as they come, one
//! CloudEvent (JSON) per line. The broker's event subscription: on RabbitMQ a
//! temporary queue bound to `kefu.events`; with the embedded broker, the outbox table
//! read from its end.

use std::io::Write;

use clap::Subcommand;
use futures_util::StreamExt;
use kefu_common::infra::broker::{Broker, BrokerError};
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
    #[error("stdout: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(broker: &Broker, command: EventsCmd, cancel: CancellationToken) -> Result<(), TailError> {
    let EventsCmd::Tail { pattern } = command;
    let mut out = std::io::stdout().lock();
    let mut events = broker.subscribe_events(&pattern).await?;
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
