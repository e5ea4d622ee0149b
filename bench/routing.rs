//! Automatic assignment latency: `cargo bench --bench routing` (RabbitMQ and
//! PostgreSQL on this machine). Runs one `kefu ingest` and `KEFU_BENCH_WORKERS` (3)
//! `kefu worker` processes; `KEFU_BENCH_AGENTS` (100) agents are bound and online in an
//! app with `auto` routing; `KEFU_BENCH_QUESTIONS` (300) users ask at
//! `KEFU_BENCH_RATE` (20) per second. Measures, per question, the time from sending
//! `question/new` to its `kefu.question.served` event on the events exchange (what an
//! agent's stream and the downstream consumers get), and checks that each question
//! went to exactly one agent.

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use serde_json::json;
use support::{admin, create_agent, free_addr, Client, Proc};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Notes when each question's `kefu.question.served` event arrives, and to whom.
async fn watch_serves(prefix: &str, seen: Arc<Mutex<HashMap<String, (Instant, String)>>>) {
    let conn = lapin::Connection::connect(support::AMQP_URL, Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().as_str().into(),
        format!("{prefix}.events").as_str().into(),
        "kefu.question.served".into(),
        QueueBindOptions::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().as_str().into(),
            "bench".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        let _keep = conn;
        while let Some(Ok(delivery)) = consumer.next().await {
            let ce: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap_or_default();
            let question = &ce["data"]["question"];
            if let (Some(id), Some(agent)) = (question["question_id"].as_str(), question["serv_id"].as_str()) {
                seen.lock()
                    .unwrap()
                    .entry(id.to_owned())
                    .or_insert((Instant::now(), agent.to_owned()));
            }
        }
    });
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (workers, agents) = (env_or("KEFU_BENCH_WORKERS", 3), env_or("KEFU_BENCH_AGENTS", 100));
        let (questions, rate) = (env_or("KEFU_BENCH_QUESTIONS", 300), env_or("KEFU_BENCH_RATE", 20).max(1));
        let (db, app) = support::shop_with_alice().await;
        let names: Vec<String> = (0..agents).map(|i| format!("agent{i:03}")).collect();
        for name in &names {
            create_agent(&db.url, name, "com.example.shop", "secret-pw\n");
        }
        admin(&db.url, &["app", "set-routing", "--identify", "com.example.shop", "--mode", "auto"]);
        let prefix = format!("kefu-bench-rt-{}", uuid::Uuid::new_v4().simple());
        let addr = free_addr();
        let env = [("KEFU_SESSION_RATE_PER_SEC", "0"), ("KEFU_APP_RATE_PER_SEC", "0"), ("KEFU_LOGIN_SLOW_MS", "0")];
        let _ingest = Proc::start("ingest", &db.url, &prefix, &addr, &env);
        let _workers: Vec<Proc> = (0..workers)
            .map(|_| Proc::start("worker", &db.url, &prefix, &free_addr(), &env))
            .collect();
        let api = Client::new(format!("http://{addr}"), &app);
        api.wait_ready().await;
        for name in &names {
            let session = api.agent_session(name).await;
            let (status, body) = api
                .post_json(&format!("/v1/serv/{name}/status"), json!({ "session": session, "status": "online" }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let mut users = Vec::with_capacity(questions);
        for i in 0..questions {
            users.push(api.session(&format!("user{i:04}")).await);
        }
        let seen: Arc<Mutex<HashMap<String, (Instant, String)>>> = Arc::default();
        watch_serves(&prefix, Arc::clone(&seen)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        // Open loop: each question at its own time, whatever the answers before it did.
        let started = Instant::now();
        let every = Duration::from_secs_f64(1.0 / rate as f64);
        let sends = users.into_iter().enumerate().map(|(i, session)| {
            let api = api.clone();
            async move {
                tokio::time::sleep_until((started + every * i as u32).into()).await;
                let sent = Instant::now();
                let (status, body) = api.post_json("/v1/question/new", json!({ "session": session, "title": "hi" })).await;
                assert_eq!(status, 200, "{body}");
                (body["question_id"].as_str().unwrap().to_owned(), sent)
            }
        });
        let asked: Vec<(String, Instant)> = futures_util::future::join_all(sends).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().len() < questions && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen = seen.lock().unwrap().clone();
        let mut latencies: Vec<Duration> = asked
            .iter()
            .map(|(id, sent)| seen.get(id).map(|(at, _)| *at - *sent).expect("every question served"))
            .collect();
        latencies.sort();
        let conn = kefu_common::store::db::connect(&db.url).await.unwrap();
        let serves = support::count_rows(&conn, "messages", Some("msg_type = 4 AND action = 1")).await;
        assert_eq!(serves as usize, questions, "each question served once");
        let busiest = seen.values().fold(HashMap::<&str, usize>::new(), |mut m, (_, a)| {
            *m.entry(a.as_str()).or_default() += 1;
            m
        });
        println!(
            "routing: {questions} questions at {rate}/s, {agents} agents online, {workers} workers: question/new to \
             its served event p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} agents were given questions, at most {} each",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.last().unwrap().as_secs_f64() * 1000.0,
            busiest.len(),
            busiest.values().max().unwrap_or(&0),
        );
        db.drop_db().await;
    });
}
