//! A worker killed with SIGKILL after receiving (and even committing) a command but
//! before acknowledging it: RabbitMQ redelivers, the next worker de-duplicates, nothing
//! is lost and nothing is applied twice. Runs `kefu ingest` and `kefu worker` as real
//! processes on RabbitMQ + PostgreSQL.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{admin, count_rows, delete_topology, free_addr, queue_ready, Backend, Client, Proc, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_before_ack_loses_nothing_and_applies_once() {
    support::init_tracing();
    let db = TestDb::create(Backend::RabbitPostgres).await;
    support::migrate(&db.url);
    let app = admin(&db.url, &["app", "create", "--identify", "com.example.crash"]);
    let prefix = format!("kefu-crash-{}", uuid::Uuid::new_v4().simple());
    let addr = free_addr();
    let commands = format!("{prefix}.commands");

    let _ingest = Proc::start("ingest", &db.url, &prefix, &addr, &[]);
    let remote = Client::new(format!("http://{addr}"), &app);
    remote.wait_ready().await;

    let db_conn = kefu_common::store::db::connect(&db.url).await.unwrap();
    let count = |table: &'static str| count_rows(&db_conn, table, None);

    // 1. A worker that commits, then hangs before acking. The ingest still answers: it
    //    reads the committed outcome.
    let mut paused = Proc::start(
        "worker",
        &db.url,
        &prefix,
        &addr,
        &[("KEFU_WORKER_PAUSE_BEFORE_ACK_MS", "60000")],
    );
    let session = remote.session("u1").await;
    let (status, body) = remote
        .post_json_with(
            "/v1/question/new",
            json!({ "session": session, "title": "survive" }),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let qid = body["question_id"].as_str().unwrap().to_owned();
    assert_eq!(count("questions").await, 1, "applied and committed before the kill");
    assert_eq!(
        queue_ready(&commands).await,
        0,
        "both commands are held un-acked by the worker"
    );

    // 2. SIGKILL between commit and ack: the broker takes both commands back.
    paused.kill9();
    let mut ready = 0;
    for _ in 0..100 {
        ready = queue_ready(&commands).await;
        if ready == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 2, "the broker took both un-acked commands back");

    // 3. With no worker running, an async request is confirmed (202) and waits queued.
    let (status, body) = remote
        .post_json_with(
            "/v1/question/new",
            json!({ "session": session, "title": "queued" }),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(queue_ready(&commands).await, 3);
    assert_eq!(count("questions").await, 1);

    // 4. A fresh worker: the redeliveries are de-duplicated, the queued command applied.
    let _worker = Proc::start("worker", &db.url, &prefix, &addr, &[]);
    for _ in 0..200 {
        if queue_ready(&commands).await == 0 && count("questions").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(queue_ready(&commands).await, 0);
    assert_eq!(count("sessions").await, 1, "session applied once");
    assert_eq!(
        count("questions").await,
        2,
        "first question once, the queued one applied"
    );
    assert_eq!(count("processed_commands").await, 3);
    let text = json!({ "session": session, "sender": "u1", "sender_type": 1, "text": "still here" });
    let (status, body) = remote
        .post_json_with(&format!("/v1/question/{qid}/message/send_text"), text, &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count("messages").await, 1);
    assert_eq!(
        queue_ready(&format!("{prefix}.commands.dead")).await,
        0,
        "nothing dead-lettered"
    );
    db_conn.close().await.ok();
    drop(_ingest);
    drop(_worker);
    delete_topology(&prefix, &[200, 1000]).await;
    db.drop_db().await;
}

/// The embedded default (`kefu serve`, SQLite): a command acknowledged with 202 survives
/// `kill -9` of the whole process, whether or not it was applied, and is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_serve_killed_loses_nothing_and_applies_once() {
    support::init_tracing();
    let db = TestDb::create(Backend::Embedded).await;
    support::migrate(&db.url);
    let app = admin(&db.url, &["app", "create", "--identify", "com.example.crash"]);
    let addr = free_addr();
    let remote = Client::new(format!("http://{addr}"), &app);
    let db_conn = kefu_common::store::db::connect(&db.url).await.unwrap();
    let count = |table: &'static str| count_rows(&db_conn, table, None);
    // With a 1 s lock the paused process re-claims its own jobs every second; a high
    // delivery limit keeps a slow machine from dead-lettering them (dead jobs would stay
    // in queue_jobs and fail the final check).
    let fast = [
        ("KEFU_EMBEDDED_VISIBILITY_SECS", "1"),
        ("KEFU_EMBEDDED_POLL_MS", "50"),
        ("KEFU_DELIVERY_LIMIT", "1000"),
    ];
    let mut paused_env = fast.to_vec();
    paused_env.push(("KEFU_WORKER_PAUSE_BEFORE_ACK_MS", "60000"));

    let mut serve = Proc::start_embedded("serve", &db.url, &addr, &paused_env);
    remote.wait_ready().await;
    let session = remote.session("u1").await;
    let (status, body) = remote
        .post_json_with(
            "/v1/question/new",
            json!({ "session": session, "title": "a" }),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    for _ in 0..100 {
        if count("questions").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count("questions").await, 1, "applied, not yet acknowledged");
    assert_eq!(count("queue_jobs").await, 2, "session and question jobs still queued");
    serve.kill9();

    let _serve = Proc::start_embedded("serve", &db.url, &addr, &fast);
    remote.wait_ready().await;
    for _ in 0..100 {
        if count("queue_jobs").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count("queue_jobs").await,
        0,
        "redelivered after the lock expired and acknowledged"
    );
    assert_eq!(count("sessions").await, 1);
    assert_eq!(count("questions").await, 1, "applied exactly once");
    assert_eq!(count("processed_commands").await, 2);
    drop(_serve);
    db_conn.close().await.ok();
    db.drop_db().await;
}
