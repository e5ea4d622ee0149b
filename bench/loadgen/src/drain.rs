//! How fast a worker commits a backlog: polls the database's count of questions from the
//! first commit until the expected number is there (the worker is started just before).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::stats::{rate, rss_mib};

#[derive(clap::Args)]
pub struct Args {
    /// The database the worker writes to.
    #[arg(long)]
    database_url: String,
    /// Questions there once the backlog is drained.
    #[arg(long, required_unless_present = "more", conflicts_with = "more")]
    expect: Option<u64>,
    /// Or: questions still to come beyond those there when this starts.
    #[arg(long)]
    more: Option<u64>,
    /// Give up after this long.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Processes whose resident memory to report at the start and the end (the worker).
    #[arg(long = "pid")]
    pids: Vec<u32>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

const POLL: Duration = Duration::from_millis(20);

pub async fn run(args: Args) -> Result<(), Error> {
    let db = Database::connect(&args.database_url).await?;
    let count = || async {
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM questions",
            ))
            .await?
            .ok_or("no count")?;
        Ok::<u64, Error>(row.try_get::<i64>("", "n")? as u64)
    };
    let give_up = Instant::now() + Duration::from_secs(args.timeout_secs);
    let initial = count().await?;
    let expect = args.expect.unwrap_or(initial + args.more.unwrap_or(0));
    if initial >= expect {
        println!("kefu     drain: nothing left, {initial} questions committed");
        return Ok(());
    }
    // From the first commit: the worker's start-up is not the drain.
    while count().await? == initial {
        if Instant::now() > give_up {
            return Err("nothing was committed".into());
        }
        tokio::time::sleep(POLL).await;
    }
    let started = Instant::now();
    let first = count().await?;
    let mut halfway = None;
    let mut peak_rss = Vec::new();
    loop {
        let n = count().await?;
        if halfway.is_none() && n >= initial + (expect - initial) / 2 {
            halfway = Some((n, started.elapsed()));
        }
        for (i, pid) in args.pids.iter().enumerate() {
            let rss = rss_mib(*pid).unwrap_or(0.0);
            if peak_rss.len() <= i {
                peak_rss.push(rss);
            } else if rss > peak_rss[i] {
                peak_rss[i] = rss;
            }
        }
        if n >= expect {
            let elapsed = started.elapsed();
            let drained = n - first;
            println!(
                "kefu     drain: {drained} commands committed in {:.2} s = {:.0}/s",
                elapsed.as_secs_f64(),
                rate(drained, elapsed)
            );
            if let Some((at, t)) = halfway {
                let first_half = rate(at - first, t);
                let second_half = rate(n - at, elapsed.saturating_sub(t));
                println!("kefu     drain: first half {first_half:.0}/s, second half {second_half:.0}/s");
            }
            for (pid, rss) in args.pids.iter().zip(peak_rss) {
                println!("rss      pid {pid}: peak {rss:.1} MiB while draining");
            }
            return Ok(());
        }
        if Instant::now() > give_up {
            return Err(format!("only {n} of {expect} questions after {} s", args.timeout_secs).into());
        }
        tokio::time::sleep(POLL).await;
    }
}
