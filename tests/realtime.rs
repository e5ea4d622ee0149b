//! Server-Sent Events: an agent and a user follow a whole conversation live, in order,
//! through two ingest processes on RabbitMQ + PostgreSQL; a client reconnecting with
//! Last-Event-ID misses nothing and gets nothing twice.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{admin, admin_with_stdin, free_addr, Backend, Client, Proc, TestDb};

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
    support::init_tracing();
    let db = TestDb::create(Backend::RabbitPostgres).await;
    support::migrate(&db.url);
    let app = admin(&db.url, &["app", "create", "--identify", "com.example.shop"]);
    admin_with_stdin(
        &db.url,
        &[
            "agent",
            "create",
            "--serv-id",
            "alice",
            "--password-stdin",
            "--app",
            "com.example.shop",
        ],
        "secret-pw\n",
    );
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
