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
    /// Stop once nothing was committed for this long (a backlog smaller than offered:
    /// some requests were refused), reporting up to the last commit.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Fewer questions than expected is an error (CI's smoke), not a report.
    #[arg(long)]
    strict: bool,
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
    let called = Instant::now();
    let give_up = called + Duration::from_secs(args.timeout_secs);
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
        if !args.strict && called.elapsed() > Duration::from_secs(args.idle_secs) {
            println!(
                "kefu     drain: nothing committed for {} s: nothing left",
                args.idle_secs
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    let started = Instant::now();
    let first = count().await?;
    let mut halfway = None;
    let mut peak_rss = Vec::new();
    let (mut last_n, mut last_at) = (first, started.elapsed());
    loop {
        let n = count().await?;
        if n != last_n {
            (last_n, last_at) = (n, started.elapsed());
        }
        let idle = started.elapsed().saturating_sub(last_at) > Duration::from_secs(args.idle_secs);
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
        if n >= expect || idle {
            let elapsed = if idle { last_at } else { started.elapsed() };
            if idle {
                let stalled = format!("{n} of {expect} questions; nothing committed for {} s", args.idle_secs);
                if args.strict {
                    return Err(stalled.into());
                }
                println!("kefu     drain: {stalled} (fewer accepted than offered)");
            }
            let drained = n - first;
            println!(
                "kefu     drain: {} commands committed, the last {:.2} s after the call; from the first commit: {drained} in {:.2} s = {:.0}/s",
                n - initial,
                called.elapsed().as_secs_f64(),
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
