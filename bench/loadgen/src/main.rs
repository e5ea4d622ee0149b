//! `kefu-bench`: load for a running Kefu, and the raw ceilings of the same services.
//!
//! - `kefu-bench ceilings`: what this machine's RabbitMQ and PostgreSQL do when used
//!   directly, the yardstick every Kefu figure is printed against: confirmed publishes
//!   (64 waiting publishers, a quorum queue, Kefu's message size), publish + consume,
//!   and single-row inserts at the same concurrency.
//! - `kefu-bench question-new`: `POST /v1/question/new` at a fixed rate (open loop: each
//!   request has its scheduled time, and latency counts from it, so a slow server cannot
//!   hide its queueing), from many users with signed sessions, synchronous or with
//!   `Prefer: respond-async`.
//! - `kefu-bench drain`: the rate at which a worker commits a backlog (polled from the
//!   database from the first commit to the last).

mod ceilings;
mod drain;
mod load;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kefu-bench", about = "Kefu's load generator and the raw ceilings beside it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The raw ceilings: confirmed publishes, publish + consume, single-row inserts.
    Ceilings(ceilings::Args),
    /// question/new at a fixed rate against a running Kefu.
    QuestionNew(load::Args),
    /// Waits for a backlog to be committed and prints the rate.
    Drain(drain::Args),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ceilings(args) => ceilings::run(args).await,
        Command::QuestionNew(args) => load::run(args).await,
        Command::Drain(args) => drain::run(args).await,
    };
    if let Err(err) = result {
        eprintln!("kefu-bench: {err}");
        std::process::exit(1);
    }
}
