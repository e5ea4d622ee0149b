//! Server-Sent Events: an agent and a user follow a whole conversation live, in order,
//! through two ingest processes on RabbitMQ + PostgreSQL; a client reconnecting with
//! Last-Event-ID misses nothing and gets nothing twice.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{admin, free_addr, Backend, Client, Proc};

/// One received event: (id, event name, data).
type Received = (String, String, Value);

/// An SSE client reading in the background.
struct SseClient {
    events: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SseClient {
    async fn connect(url: String, last_event_id: Option<&str>) -> SseClient {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let task = tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if !event.is_empty() {
                        let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
                        sink.lock().unwrap().push((id, event, value));
                    }
                }
            }
        });
        SseClient { events, task }
    }

    fn events(&self) -> Vec<Received> {
        self.events.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.events().len() >= n {
                return self.events();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("got {} events, not {n}: {:?}", self.events().len(), self.events());
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn step(client: &Client, path: String, body: Value) {
    let (status, answer) = client.post_json(&path, body).await;
    assert_eq!(status, 200, "{path}: {answer}");
}

/// What a message event says, shortly: text, or `action N`.
fn said(e: &Received) -> String {
    match e.2["type"].as_i64() {
        Some(3) => e.2["text"].as_str().unwrap().to_owned(),
        Some(4) => format!("action {}", e.2["action"]),
        _ => format!("{}", e.2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_a_conversation_live_through_two_ingests_rabbitmq_postgres() {
    let (db, app) = support::shop_with_alice().await;
    let prefix = format!("kefu-sse-{}", uuid::Uuid::new_v4().simple());
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let env = [("KEFU_SESSION_RATE_PER_SEC", "0")];
    let _ingest_a = Proc::start("ingest", &db.url, &prefix, &addr_a, &env);
    let _ingest_b = Proc::start("ingest", &db.url, &prefix, &addr_b, &env);
    let _worker = Proc::start("worker", &db.url, &prefix, &free_addr(), &env);
    let (a, b) = (
        Client::new(format!("http://{addr_a}"), &app),
        Client::new(format!("http://{addr_b}"), &app),
    );
    a.wait_ready().await;
    b.wait_ready().await;
    let alice = a.agent_session("alice").await;
    let user = b.session("u1").await;

    // The agent follows on ingest A, the user on ingest B.
    let agent_stream = SseClient::connect(a.url(&format!("/v1/serv/alice/stream?session={alice}")), None).await;
    let user_stream = SseClient::connect(b.url(&format!("/v1/user/u1/stream?session={user}")), None).await;
    // Another user's stream must see none of it; a session may not follow someone else.
    let other = a.session("u2").await;
    let other_stream = SseClient::connect(a.url(&format!("/v1/user/u2/stream?session={other}")), None).await;
    let (status, body) = a.get("/v1/user/u1/stream", &[("session", &other)]).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = a.get("/v1/serv/alice/stream", &[("session", &user)]).await;
    assert!(status.is_client_error());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (_, created) = b
        .post_json(
            "/v1/question/new",
            json!({ "session": user, "title": "where is my parcel" }),
        )
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    let user_says = |text: &str| json!({ "session": user, "sender": "u1", "sender_type": 1, "text": text });
    let agent_says = |text: &str| json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text });
    step(&b, format!("/v1/question/{q}/message/send_text"), user_says("hello?")).await;
    step(
        &a,
        format!("/v1/question/{q}/serve"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;
    step(
        &b,
        format!("/v1/question/{q}/message/send_text"),
        user_says("my parcel"),
    )
    .await;
    step(
        &a,
        format!("/v1/question/{q}/message/send_text"),
        agent_says("it ships today"),
    )
    .await;
    step(&b, format!("/v1/question/{q}/message/send_text"), user_says("thanks")).await;
    step(
        &a,
        format!("/v1/question/{q}/finish"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;

    let conversation = [
        "hello?",
        "action 1",
        "my parcel",
        "it ships today",
        "thanks",
        "action 4",
    ];
    let got = user_stream.wait_for(6).await;
    assert_eq!(
        got.iter().map(said).collect::<Vec<_>>(),
        conversation,
        "the user, live, in order"
    );
    for e in &got {
        assert_eq!(e.1, "message");
        assert_eq!(e.2["push_type"], "service");
        assert_eq!(e.2["question_id"], q.as_str());
        assert!(e.2["message_id"].as_str().is_some() && e.2["timestamp"].as_f64().is_some());
    }
    // The agent saw the new question (before it served it, its first message is unseen:
    // the question was nobody's task yet), then every message from the serve on.
    let got = agent_stream.wait_for(6).await;
    assert_eq!(got[0].1, "question");
    assert_eq!(got[0].2["question_id"], q.as_str());
    assert_eq!(
        got[1..].iter().map(said).collect::<Vec<_>>(),
        &conversation[1..],
        "the agent, live, in order"
    );
    assert!(other_stream.events().is_empty(), "{:?}", other_stream.events());

    // The user's client drops after "my parcel"; more is said; it comes back with
    // Last-Event-ID and gets exactly what it missed.
    let seen = user_stream.events();
    drop(user_stream);
    let last = seen[2].0.clone();
    step(&b, format!("/v1/question/{q}/reopen"), json!({ "session": user })).await;
    step(
        &a,
        format!("/v1/question/{q}/message/send_text"),
        agent_says("welcome back"),
    )
    .await;
    let resumed = SseClient::connect(b.url(&format!("/v1/user/u1/stream?session={user}")), Some(&last)).await;
    let got = resumed.wait_for(5).await;
    assert_eq!(
        got.iter().map(said).collect::<Vec<_>>(),
        ["it ships today", "thanks", "action 4", "action 6", "welcome back"],
        "no gap, nothing twice"
    );
    step(
        &b,
        format!("/v1/question/{q}/message/send_text"),
        user_says("live again"),
    )
    .await;
    let got = resumed.wait_for(6).await;
    assert_eq!(said(&got[5]), "live again");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(resumed.events().len(), 6, "nothing doubled");

    // An unknown Last-Event-ID is told to reload.
    let lost = SseClient::connect(
        b.url(&format!("/v1/user/u1/stream?session={user}")),
        Some("00000000-0000-0000-0000-000000000000"),
    )
    .await;
    assert_eq!(lost.wait_for(1).await[0].1, "reset");
    drop((agent_stream, other_stream, resumed, lost));
    support::delete_topology(&prefix, &[200, 1000]).await;
    db.drop_db().await;
}

/// A receiver stand-in: records each POST (headers, body); answers 500 while `failing`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(std::collections::HashMap<String, String>, String)>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        use axum::routing::post;
        let receiver = Receiver::default();
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                        .collect();
                    r.got.lock().unwrap().push((headers, body));
                    if r.failing.load(std::sync::atomic::Ordering::SeqCst) {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn got(&self) -> Vec<(std::collections::HashMap<String, String>, String)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<(std::collections::HashMap<String, String>, String)> {
        for _ in 0..200 {
            if self.got().len() >= n {
                return self.got();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("got {} posts, not {n}: {:?}", self.got().len(), self.got());
    }
}

/// Checks every signature with the `standardwebhooks` package (pinned, from PyPI).
fn verify_with_standardwebhooks(secret: &str, posts: &[(std::collections::HashMap<String, String>, String)]) {
    const PINNED: &str = "standardwebhooks==1.0.0";
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
    let python = venv.join("bin").join("python");
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    if !python.exists() {
        run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(std::process::Command::new(venv.join("bin").join("pip")).args(["install", "-q", PINNED]));
    }
    let posts: Vec<Value> = posts.iter().map(|(h, b)| json!({ "headers": h, "body": b })).collect();
    let file = venv.join(format!("posts-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({ "secret": secret, "posts": posts })).unwrap(),
    )
    .unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
doc = json.load(open(sys.argv[1]))
wh = Webhook(doc["secret"])
for p in doc["posts"]:
    wh.verify(p["body"], p["headers"])
bad = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY")
try:
    bad.verify(doc["posts"][0]["body"], doc["posts"][0]["headers"])
    raise SystemExit("a wrong secret verified")
except Exception as e:
    if isinstance(e, SystemExit):
        raise
print(len(doc["posts"]))
"#;
    let verified = support::run_ok(std::process::Command::new(&python).arg("-c").arg(script).arg(&file));
    assert_eq!(verified, posts.len().to_string());
}

/// Webhooks get the CloudEvents of the types they subscribed to, signed (checked by the
/// `standardwebhooks` package); the push endpoint gets each message's payload once, for
/// the other side; a failing receiver is retried, dead-lettered, then re-driven, and
/// never slows the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_pushes_are_signed_retried_and_redriven_rabbitmq_postgres() {
    let app = support::spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.session_rate_per_sec = 0;
            c.task_retry_initial_ms = 100;
            c.task_retry_max_ms = 200;
            c.task_retry_count = 2;
        },
        true,
    )
    .await;
    let db = app.config.database_url.clone();
    let (hooks, hooks_url) = Receiver::start().await;
    let (broken, broken_url) = Receiver::start().await;
    let (pushes, push_url) = Receiver::start().await;
    broken.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let endpoint = admin(
        &db,
        &[
            "webhook",
            "create",
            "--identify",
            "com.example.shop",
            "--url",
            &hooks_url,
            "--events",
            "kefu.question.*",
        ],
    );
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{endpoint}");
    assert_eq!(endpoint["events"], json!(["kefu.question.*"]));
    admin(
        &db,
        &[
            "webhook",
            "create",
            "--identify",
            "com.example.shop",
            "--url",
            &broken_url,
            "--events",
            "#",
        ],
    );
    let listed = admin(&db, &["webhook", "list", "--identify", "com.example.shop"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed.to_string().find("whsec_").is_none(),
        "never the secrets: {listed}"
    );
    let push = admin(
        &db,
        &["app", "set-push", "--identify", "com.example.shop", "--url", &push_url],
    );
    let push_secret = push["secret"].as_str().unwrap().to_owned();

    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    for (path, body) in [
        (
            format!("/v1/question/{q}/serve"),
            json!({ "session": alice, "serv_id": "alice" }),
        ),
        (
            format!("/v1/question/{q}/message/send_text"),
            json!({ "session": user, "sender": "u1", "sender_type": 1, "text": "hi" }),
        ),
        (
            format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "hello" }),
        ),
        (
            format!("/v1/question/{q}/finish"),
            json!({ "session": alice, "serv_id": "alice" }),
        ),
    ] {
        let (status, answer) = app.post_json(&path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }

    // The subscribed question events, each once, promptly despite the broken receiver.
    let got = hooks.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = hooks.got();
    assert_eq!(got_all.len(), 3, "each once: {got_all:?}");
    let mut types: Vec<String> = got
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "kefu.question.created",
            "kefu.question.finished",
            "kefu.question.served"
        ]
    );
    for (headers, body) in &got {
        let ce: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            headers["webhook-id"],
            ce["id"].as_str().unwrap(),
            "webhook-id is the event id"
        );
        assert!(headers["webhook-signature"].starts_with("v1,"));
    }
    verify_with_standardwebhooks(&secret, &got);

    // Pushes: each message once, to the other side.
    let got = pushes.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pushes.got().len(), 4, "each payload once");
    let mut seen: Vec<(String, String, String)> = got
        .iter()
        .map(|(_, body)| {
            let p: Value = serde_json::from_str(body).unwrap();
            let what = match p["payload"]["type"].as_i64() {
                Some(3) => p["payload"]["text"].as_str().unwrap().to_owned(),
                _ => format!("action {}", p["payload"]["action"]),
            };
            (
                p["to"]["kind"].as_str().unwrap().to_owned(),
                p["to"]["id"].as_str().unwrap().to_owned(),
                what,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("agent".into(), "alice".into(), "hi".into()),
            ("user".into(), "u1".into(), "action 1".into()),
            ("user".into(), "u1".into(), "action 4".into()),
            ("user".into(), "u1".into(), "hello".into()),
        ]
    );
    for (_, body) in &got {
        let p: Value = serde_json::from_str(body).unwrap();
        assert_eq!(p["payload"]["push_type"], "service");
        assert_eq!(p["payload"]["question_id"], q.as_str());
    }
    verify_with_standardwebhooks(&push_secret, &got);

    // The broken receiver: 1 + 2 retries per event, then failed and dead-lettered.
    // '#': 2 sessions opened, 1 agent bound, 3 question events, 4 messages.
    let events = 2 + 1 + 3 + 4;
    for _ in 0..300 {
        if count_failed(&app).await == events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count_failed(&app).await,
        events,
        "failed deliveries of the broken receiver"
    );
    assert_eq!(broken.got().len(), events as usize * 3, "tried three times each");
    // The dead-letter keeper stores each one just after its row turned failed.
    let mut dead = Value::Null;
    for _ in 0..50 {
        dead = admin(&db, &["dead-letters", "list", "--queue", "http-deliveries"]);
        if dead.as_array().map(Vec::len) == Some(events as usize) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.as_array().map(Vec::len), Some(events as usize), "{dead}");

    // Fixed and re-driven: every one delivered once more.
    broken.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let redriven = support::admin_on_broker(
        &app,
        &["dead-letters", "redrive", "--queue", "http-deliveries", "--all"],
    );
    assert_eq!(redriven["redriven"], events, "{redriven}");
    let delivered = || support::count_rows(&app.db, "http_deliveries", Some("state = 'delivered'"));
    for _ in 0..300 {
        if delivered().await == 3 + 4 + events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count_failed(&app).await, 0, "failed deliveries after the redrive");
    assert_eq!(
        broken.got().len(),
        events as usize * 4,
        "one more try each after the redrive"
    );
    assert_eq!(
        support::count_rows(&app.db, "http_deliveries", Some("state = 'delivered'")).await,
        3 + 4 + events
    );
    app.shutdown().await;
}

async fn count_failed(app: &support::TestApp) -> i64 {
    support::count_rows(&app.db, "http_deliveries", Some("state = 'failed'")).await
}
