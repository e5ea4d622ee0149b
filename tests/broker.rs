//! Broker guarantees on the real RabbitMQ (and the embedded queue): a command delivered
//! twice is applied once, a poison message ends in the dead-letter queue, and an
//! unroutable publish is a failure, not a success.

mod support;

use std::time::Duration;

use kefu_common::command::{Command, Envelope};
use kefu_common::domain::{Labels, Title, UserId};
use kefu_common::ids::IdGen;
use serde_json::json;
use support::{count_rows, queue_ready, spawn_app, Backend, TestApp, AMQP_URL};

async fn wait_for(app: &TestApp, table: &str, n: i64) {
    for _ in 0..200 {
        if app.count(table).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{table} never reached {n} rows");
}

async fn duplicate_applied_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.session("u1").await;
    let app_id: i64 = 1;
    let envelope = Envelope::new(
        uuid::Uuid::new_v4(),
        None,
        Command::QuestionCreateV1 {
            question_id: IdGen::default().next_id(),
            app_id,
            user_id: UserId::parse("u1").unwrap(),
            title: Title::parse("twice").unwrap(),
            labels: Labels::parse(vec!["a".into()]).unwrap(),
        },
    );
    let bytes = envelope.to_bytes();
    let processed_before = app.count("processed_commands").await;
    app.broker
        .publish_command(&envelope.id.to_string(), &bytes, false)
        .await
        .unwrap();
    app.broker
        .publish_command(&envelope.id.to_string(), &bytes, false)
        .await
        .unwrap();
    wait_for(&app, "questions", 1).await;
    // Let the second copy be handled too.
    for _ in 0..100 {
        if app.count("queue_jobs").await == 0 && queue_depth(&app, "commands").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.count("questions").await, 1);
    assert_eq!(app.count("question_labels").await, 1);
    assert_eq!(app.count("processed_commands").await, processed_before + 1);
    app.shutdown().await;
}

/// Messages ready in `<prefix>.<suffix>` (0 on the embedded backend).
async fn queue_depth(app: &TestApp, suffix: &str) -> u32 {
    if !app.backend.rabbit() {
        return 0;
    }
    queue_ready(&format!("{}.{suffix}", app.config.amqp_prefix)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_applied_once_rabbitmq_postgres() {
    duplicate_applied_once(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_applied_once_embedded_sqlite() {
    duplicate_applied_once(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_rabbitmq() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    app.broker
        .publish_command("poison-1", b"this is not a command", false)
        .await
        .unwrap();
    let mut dead = 0;
    for _ in 0..100 {
        dead = queue_depth(&app, "commands.dead").await;
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead, 1, "the poison message is in the dead-letter queue");
    assert_eq!(queue_depth(&app, "commands").await, 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_embedded() {
    let app = spawn_app(Backend::Embedded).await;
    app.broker
        .publish_command("poison-1", b"this is not a command", false)
        .await
        .unwrap();
    let mut dead = 0;
    for _ in 0..100 {
        dead = count_rows(&app.db, "queue_jobs", Some("queue = 'dead'")).await;
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead, 1);
    app.shutdown().await;
}

/// With the command queue gone, a publish is unroutable: the ingest answers 503 and
/// nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_publish_is_a_failure_rabbitmq() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(
        format!("{}.commands", app.config.amqp_prefix).into(),
        Default::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;

    let before = app.count("processed_commands").await;
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "lost?" }))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], 300);
    assert_eq!(body["error"], "unavailable", "{body}");
    assert_eq!(app.count("questions").await, 0);
    assert_eq!(app.count("processed_commands").await, before);
    app.shutdown().await;
}
