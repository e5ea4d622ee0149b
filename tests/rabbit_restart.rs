//! RabbitMQ restarted (`rabbitmqctl stop_app; rabbitmqctl start_app`) while an ingest
//! and a worker run: both reconnect, re-declare, and later requests succeed.
//! Alone in its test binary: it takes the broker away from everything else.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{count_rows, spawn_app, Backend};

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

/// Starts the broker again even if the test fails while it is stopped.
struct StartOnDrop;

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
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

    let guard = StartOnDrop;
    rabbitmqctl("stop_app");
    // While the broker is down a request fails cleanly (after the publish deadline)
    // instead of hanging or claiming success.
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "during" }))
        .await;
    assert_eq!(status, 503, "{body}");
    support::assert_code(&body, "unavailable");
    rabbitmqctl("start_app");
    drop(guard);

    // Retries carry one Idempotency-Key, so however many it takes, one question results.
    let started = Instant::now();
    let mut recovered = false;
    while started.elapsed() < Duration::from_secs(90) {
        let body = json!({ "session": user, "title": "after" });
        let (status, _) = app
            .post_json_with("/v1/question/new", body, &[("Idempotency-Key", "after-restart")])
            .await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(recovered, "requests succeed after the restart");
    eprintln!("recovered {:?} after start_app", started.elapsed());

    // The worker consumes again: a transition and a message round-trip through the broker.
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{qid}/serve"),
            json!({ "session": agent, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = json!({ "session": agent, "sender": "alice", "sender_type": 2, "text": "back" });
    let (status, body) = app
        .post_json(&format!("/v1/question/{qid}/message/send_text"), text)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count_rows(&app.db, "questions", Some("title = 'before'")).await, 1);
    assert_eq!(count_rows(&app.db, "questions", Some("title = 'after'")).await, 1);
    assert_eq!(
        count_rows(&app.db, "questions", Some("title = 'during'")).await,
        0,
        "the refused request left nothing"
    );
    app.shutdown().await;
}
