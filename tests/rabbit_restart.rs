//! RabbitMQ restarted (`rabbitmqctl stop_app; rabbitmqctl start_app`) while an ingest
//! and a worker run: both reconnect, re-declare, and later requests succeed.
//! Alone in its test binary: it takes the broker away from everything else.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{spawn_app, Backend};

fn rabbitmqctl(arg: &str) {
    let out = Command::new("rabbitmqctl")
        .arg(arg)
        .output()
        .expect("rabbitmqctl must be installed");
    assert!(
        out.status.success(),
        "rabbitmqctl {arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_worker_survive_a_broker_restart() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    let agent = app.agent_session("alice").await;
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "before" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let qid = body["question_id"].as_str().unwrap().to_owned();

    rabbitmqctl("stop_app");
    // While the broker is down a request fails cleanly instead of hanging or lying.
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "during" }))
        .await;
    assert!(status == 503 || status == 200, "{status} {body}");
    let during_ok = status == 200;
    rabbitmqctl("start_app");

    let started = Instant::now();
    let mut recovered = false;
    while started.elapsed() < Duration::from_secs(90) {
        let (status, _) = app
            .post_json("/v1/question/new", json!({ "session": user, "title": "after" }))
            .await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(recovered, "requests succeed after the restart");
    eprintln!("recovered {:?} after start_app", started.elapsed());

    // The worker consumes again: a full transition round-trips through the broker.
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{qid}/serve"),
            json!({ "session": agent, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{qid}/message/send_text"),
            json!({ "session": agent, "sender": "alice", "sender_type": 2, "text": "back" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let expected = if during_ok { 3 } else { 2 };
    assert_eq!(app.count("questions").await, expected);
    app.shutdown().await;
}
