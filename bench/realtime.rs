//! Realtime latency and capacity: `cargo bench --bench realtime` (RabbitMQ and
//! PostgreSQL on this machine). Runs `kefu ingest` and `kefu worker` as processes;
//! measures, for `KEFU_BENCH_MESSAGES` (200) agent messages sent one at a time, the
//! time from the HTTP write to the user's SSE client and to a webhook receiver; then
//! holds `KEFU_BENCH_SSE_CLIENTS` (10,000) SSE clients on the ingest and reports its
//! resident memory and how many of them got the next message.

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{admin, free_addr, Client, Proc};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Reads an SSE response, calling `on_text` with each message text as it arrives.
async fn follow(mut response: reqwest::Response, on_text: impl Fn(String)) {
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                    if let Some(text) = v["text"].as_str() {
                        on_text(text.to_owned());
                    }
                }
            }
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let messages = env_or("KEFU_BENCH_MESSAGES", 200);
        let clients = env_or("KEFU_BENCH_SSE_CLIENTS", 10_000);
        let (db, app) = support::shop_with_alice().await;
        // The webhook receiver notes when each message text arrives.
        let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let sink = Arc::clone(&arrived);
        let receiver = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let sink = Arc::clone(&sink);
                async move {
                    let ce: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    if let Some(text) = ce["data"]["message"]["text"].as_str() {
                        sink.lock().unwrap().insert(text.to_owned(), Instant::now());
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
        admin(
            &db.url,
            &["webhook", "create", "--identify", "com.example.shop", "--url", &hook_url, "--events", "kefu.message.*"],
        );

        let prefix = format!("kefu-bench-rt-{}", uuid::Uuid::new_v4().simple());
        let addr = free_addr();
        // One user holds every stream: the per-session, per-user and connection caps
        // are raised above the client count.
        let cap = (clients + 100).to_string();
        let env = [
            ("KEFU_SESSION_RATE_PER_SEC", "0"),
            ("KEFU_SSE_HEARTBEAT_SECS", "30"),
            ("KEFU_SSE_MAX_PER_SESSION", cap.as_str()),
            ("KEFU_SSE_MAX_PER_USER", cap.as_str()),
            ("KEFU_MAX_CONNECTIONS", cap.as_str()),
        ];
        let ingest = Proc::start("ingest", &db.url, &prefix, &addr, &env);
        let worker = Proc::start("worker", &db.url, &prefix, &free_addr(), &env);
        let api = Client::new(format!("http://{addr}"), &app);
        api.wait_ready().await;
        let user = api.session("u1").await;
        let alice = api.agent_session("alice").await;
        let (_, created) = api.post_json("/v1/question/new", json!({ "session": user, "title": "t" })).await;
        let q = created["question_id"].as_str().unwrap().to_owned();
        api.post_json(&format!("/v1/question/{q}/serve"), json!({ "session": alice, "serv_id": "alice" }))
            .await;
        let stream_url = api.url(&format!("/v1/user/u1/stream?session={user}"));
        let http = reqwest::Client::new();

        // 1. Latency, one message at a time.
        let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let notes = Arc::clone(&seen);
        let response = http.get(&stream_url).send().await.unwrap();
        tokio::spawn(follow(response, move |text| {
            notes.lock().unwrap().insert(text, Instant::now());
        }));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (mut to_sse, mut to_hook) = (Vec::new(), Vec::new());
        for i in 0..messages {
            let text = format!("m{i}");
            let sent = Instant::now();
            let (status, _) = api
                .post_json(
                    &format!("/v1/question/{q}/message/send_text"),
                    json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text }),
                )
                .await;
            assert_eq!(status, 200);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (s, h) = (seen.lock().unwrap().get(&text).copied(), arrived.lock().unwrap().get(&text).copied());
                if let (Some(s), Some(h)) = (s, h) {
                    to_sse.push(s - sent);
                    to_hook.push(h - sent);
                    break;
                }
                assert!(Instant::now() < deadline, "{text} did not arrive");
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        to_sse.sort();
        to_hook.sort();
        println!(
            "realtime: HTTP write → SSE client p50 {:.1} ms, p99 {:.1} ms; → webhook receiver p50 {:.1} ms, p99 {:.1} ms ({messages} messages)",
            percentile(&to_sse, 0.5).as_secs_f64() * 1e3,
            percentile(&to_sse, 0.99).as_secs_f64() * 1e3,
            percentile(&to_hook, 0.5).as_secs_f64() * 1e3,
            percentile(&to_hook, 0.99).as_secs_f64() * 1e3,
        );

        // 2. Many clients on one ingest.
        let pid = ingest.child.id();
        let before = rss_kib(pid);
        let got = Arc::new(AtomicUsize::new(0));
        let mut connected = 0;
        for _ in 0..clients {
            match http.get(&stream_url).send().await {
                Ok(response) if response.status() == 200 => {
                    connected += 1;
                    let got = Arc::clone(&got);
                    tokio::spawn(follow(response, move |text| {
                        if text == "to everyone" {
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
                other => {
                    eprintln!("connection {connected} failed: {:?}", other.map(|r| r.status()));
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let held = rss_kib(pid);
        let sent = Instant::now();
        api.post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "to everyone" }),
        )
        .await;
        while got.load(Ordering::Relaxed) < connected && sent.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "realtime: {connected} SSE clients on one ingest: RSS {:.1} MiB (before {:.1} MiB); {} of them got the next message, the last after {:.0} ms",
            held as f64 / 1024.0,
            before as f64 / 1024.0,
            got.load(Ordering::Relaxed),
            sent.elapsed().as_secs_f64() * 1e3
        );
        let reached = got.load(Ordering::Relaxed);
        drop(ingest);
        drop(worker);
        support::delete_topology(&prefix, &[200, 1000]).await;
        db.drop_db().await;
        // A run where a client could not connect or missed the message is no figure.
        std::process::exit(if connected == clients && reached == clients { 0 } else { 1 });
    });
}
