//! `POST /v1/question/new` at a fixed rate, open loop, against a running Kefu.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::stats::{rate, rss_mib, Latencies};

#[derive(clap::Args)]
pub struct Args {
    /// Where Kefu's ingest listens.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The app the users belong to, and its secret (`kefu admin app create` prints it).
    #[arg(long)]
    identify: String,
    #[arg(long)]
    secret: String,
    /// Requests per second, scheduled evenly.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct users (each with its own signed session) the requests come from.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Ask for `202` as soon as the command is queued (`Prefer: respond-async`).
    #[arg(long = "async")]
    respond_async: bool,
    /// Processes whose resident memory to report at the end (ingest, worker).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Freeze this process (SIGSTOP) once the sessions are open and before the load: a
    /// worker, so that the load piles up as a backlog (`kill -CONT` resumes it).
    #[arg(long)]
    stop_before_load: Option<u32>,
    /// Exit with an error when a request failed or none was answered (CI's smoke).
    #[arg(long)]
    fail_on_errors: bool,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: Args) -> Result<(), Error> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut sessions = Vec::with_capacity(args.users);
    for i in 0..args.users {
        sessions.push(session(&http, &args, &format!("bench-user-{i}")).await?);
    }
    if let Some(pid) = args.stop_before_load {
        let stopped = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()?;
        if !stopped.success() {
            return Err(format!("could not stop process {pid}").into());
        }
    }
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let results = Arc::new(Mutex::new((Latencies::default(), 0u64)));
    let url = format!("{}/v1/question/new", args.url);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, url, results) = (http.clone(), url.clone(), Arc::clone(&results));
        let session = sessions[i as usize % sessions.len()].clone();
        let respond_async = args.respond_async;
        tasks.push(tokio::spawn(async move {
            let body = json!({ "session": session, "title": "我的订单还没到，能帮我查一下吗？", "label": ["物流"] });
            let mut request = http.post(&url).json(&body);
            if respond_async {
                request = request.header("Prefer", "respond-async");
            }
            let ok = matches!(request.send().await, Ok(r) if r.status().is_success());
            let mut results = results.lock().await;
            if ok {
                results.0.push(scheduled.elapsed());
            } else {
                results.1 += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    let mut results = results.lock().await;
    let answered = results.0.len() as u64;
    let mode = if args.respond_async {
        "async (202)"
    } else {
        "sync (200)"
    };
    let (errors, latency) = (results.1, results.0.summary());
    println!(
        "kefu     question/new {mode}: offered {}/s, answered {:.0}/s ({answered} ok, {} errors); {}",
        args.rate,
        rate(answered, elapsed),
        errors,
        latency
    );
    for pid in &args.pids {
        if let Some(mib) = rss_mib(*pid) {
            println!("rss      pid {pid}: {mib:.1} MiB");
        }
    }
    if args.fail_on_errors && (errors > 0 || answered == 0) {
        return Err(format!("{errors} of {total} requests failed").into());
    }
    Ok(())
}

/// A signed session/new for `user_id` (headers `Kefu-Timestamp` / `Kefu-Signature`).
async fn session(http: &reqwest::Client, args: &Args, user_id: &str) -> Result<String, Error> {
    let body = json!({ "identify": args.identify, "user_id": user_id, "user_name": user_id }).to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes())?;
    mac.update(format!("{ts}\nPOST\n/v1/session/new\n{body}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let answer: Value = http
        .post(format!("{}/v1/session/new", args.url))
        .header("content-type", "application/json")
        .header("Kefu-Timestamp", ts)
        .header("Kefu-Signature", signature)
        .body(body)
        .send()
        .await?
        .json()
        .await?;
    answer["session"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("session/new answered {answer}").into())
}
