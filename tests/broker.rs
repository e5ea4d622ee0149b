//! Broker guarantees on the real RabbitMQ (and the embedded queue): a command delivered
//! twice is applied once, a poison message ends in the dead-letter queue, and an
//! unroutable publish is a failure, not a success.

mod support;

use std::time::Duration;

use kefu_common::domain::command::{Command, Envelope};
use kefu_common::domain::ids::IdGen;
use kefu_common::domain::{Labels, ServId, SessionToken, Title, UserId};
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
    let device = app.session("device-1").await;
    let bind = Envelope::new(
        uuid::Uuid::new_v4(),
        Command::AgentBindV2 {
            session: SessionToken::parse(&device).unwrap().digest(),
            serv_id: ServId::parse("alice").unwrap(),
        },
    );
    let first = deliver(&app, &bind).await;
    assert_eq!(app.count("agent_bindings").await, 1);
    // The state moves on…
    let unbind = [
        ("session", device.as_str()),
        ("serv_id", "alice"),
        ("password", "secret-pw"),
    ];
    let (status, body) = app.post_form("/v1/serv/unbind", &unbind).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.count("agent_bindings").await, 0);
    // …and the old bind is delivered again: it must answer as before and change nothing.
    let again = deliver(&app, &bind).await;
    assert_eq!(again, first);
    assert_eq!(
        app.count("agent_bindings").await,
        0,
        "a redelivered command was applied twice"
    );
    app.shutdown().await;
}

/// Publishes an envelope and waits for the worker's reply (its outcome).
async fn deliver(app: &TestApp, envelope: &Envelope) -> serde_json::Value {
    let id = envelope.id.to_string();
    let reply = app.broker.replies().register(&id);
    app.broker
        .publish_command(&id, &envelope.to_bytes(), true)
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), reply)
        .await
        .expect("a reply")
        .unwrap();
    serde_json::from_slice(&body).unwrap()
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
async fn duplicate_delivery_applied_once_rabbitmq_mariadb() {
    duplicate_applied_once(Backend::RabbitMariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_applied_once_embedded_sqlite() {
    duplicate_applied_once(Backend::Embedded).await;
}

/// Dead letters kept for operators (the embedded queue moves them there itself; on
/// RabbitMQ the workers' keeper drains the dead-letter queue into the table).
async fn dead_letters(app: &TestApp) -> u32 {
    count_rows(&app.db, "dead_letters", None).await as u32
}

/// Polls until exactly one command is dead-lettered (or gives up after 10 s).
async fn wait_for_one_dead_letter(app: &TestApp) -> u32 {
    let mut dead = 0;
    for _ in 0..100 {
        dead = dead_letters(app).await;
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dead
}

async fn poison_message_is_dead_lettered(backend: Backend) {
    let app = spawn_app(backend).await;
    app.broker
        .publish_command("poison-1", b"this is not a command", false)
        .await
        .unwrap();
    assert_eq!(
        wait_for_one_dead_letter(&app).await,
        1,
        "the poison message is dead-lettered"
    );
    assert_eq!(queue_depth(&app, "commands").await, 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_rabbitmq() {
    poison_message_is_dead_lettered(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_embedded() {
    poison_message_is_dead_lettered(Backend::Embedded).await;
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
    support::assert_code(&body, "unavailable");
    assert_eq!(app.count("questions").await, 0);
    assert_eq!(app.count("processed_commands").await, before);
    app.shutdown().await;
}

/// A full queue (`x-max-length` with `x-overflow=reject-publish`) refuses the publish:
/// the client gets 429 `overloaded`, not a false success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_429_rabbitmq() {
    let app = support::spawn_custom(Backend::RabbitPostgres, |c| c.queue_max_length = 1, false).await;
    let session = support::seed_session(&app).await;
    let async_new = |title: &'static str| {
        let body = json!({ "session": session, "title": title });
        app.post_json_with("/v1/question/new", body, &[("Prefer", "respond-async")])
    };
    // Quorum queues enforce the limit asynchronously: a publish or two may overshoot it,
    // then publishes are refused. Every accepted command must be in the queue.
    let (mut accepted, mut refused) = (0u32, 0u32);
    for _ in 0..20 {
        let (status, body) = async_new("one more").await;
        match status.as_u16() {
            202 => accepted += 1,
            429 => {
                support::assert_code(&body, "overloaded");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the full queue refused publishes");
    assert!(accepted <= 3, "the limit held (accepted {accepted})");
    assert_eq!(queue_depth(&app, "commands").await, accepted, "every 202 is queued");
    app.shutdown().await;
}

/// The delay queues of the retry schedule expire back into the command queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_queue_returns_commands_rabbitmq() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    app.session("u1").await;
    let envelope = Envelope::new(
        uuid::Uuid::new_v4(),
        Command::QuestionCreateV1 {
            question_id: IdGen::default().next_id(),
            app_id: 1,
            user_id: UserId::parse("u1").unwrap(),
            title: Title::parse("delayed").unwrap(),
            labels: Labels::default(),
            im_session_id: None,
        },
    );
    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let retry_queue = format!("{}.commands.retry.200", app.config.amqp_prefix);
    ch.basic_publish(
        "".into(),
        retry_queue.clone().into(),
        Default::default(),
        &envelope.to_bytes(),
        Default::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    wait_for(&app, "questions", 1).await;
    assert_eq!(queue_ready(&retry_queue).await, 0);
    app.shutdown().await;
}

/// A command that keeps being returned unacknowledged (a crashing consumer) is
/// dead-lettered by the quorum queue's delivery limit instead of looping forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_limit_dead_letters_a_crashing_command_rabbitmq() {
    use futures_util::StreamExt;
    let app = support::spawn_custom(Backend::RabbitPostgres, |c| c.delivery_limit = 3, false).await;
    app.broker
        .publish_command("crasher", br#"{"not":"applied"}"#, false)
        .await
        .unwrap();
    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            format!("{}.commands", app.config.amqp_prefix).into(),
            "crashing-consumer".into(),
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let mut deliveries = 0;
    while let Ok(Some(Ok(delivery))) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
        deliveries += 1;
        let requeue = lapin::options::BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        delivery.acker.nack(requeue).await.unwrap();
    }
    let _ = conn.close(200, "bye".into()).await;
    assert_eq!(deliveries, 4, "delivered 1 + delivery-limit (3) times");
    assert_eq!(queue_depth(&app, "commands.dead").await, 1);
    assert_eq!(queue_depth(&app, "commands").await, 0);
    app.shutdown().await;
}

/// A command that fails inside the worker (here: a table it writes to is gone) is retried
/// on the schedule through the delay queues, rolled back each time, then dead-lettered.
async fn failing_command_is_retried_then_dead_lettered(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(backend).await;
    let user = app.session("u1").await;
    app.db.execute_unprepared("DROP TABLE question_labels").await.unwrap();
    let body = json!({ "session": user, "title": "doomed", "label": ["x"] });
    let (status, body) = app
        .post_json_with("/v1/question/new", body, &[("Prefer", "respond-async")])
        .await;
    assert_eq!(status, 202, "{body}");
    // Schedule [200 ms, 1 s]: three attempts, then the dead-letter queue.
    let dead = wait_for_one_dead_letter(&app).await;
    assert_eq!(dead, 1, "dead-lettered after the retries");
    assert_eq!(
        retries_of_dead_command(&app).await,
        2,
        "both scheduled retries happened first"
    );
    assert_eq!(app.count("questions").await, 0, "every failed attempt rolled back");
    assert_eq!(
        count_rows(&app.db, "processed_commands", Some("outcome LIKE '%question_id%'")).await,
        0
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_is_retried_then_dead_lettered_rabbitmq_postgres() {
    failing_command_is_retried_then_dead_lettered(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_is_retried_then_dead_lettered_embedded_sqlite() {
    failing_command_is_retried_then_dead_lettered(Backend::Embedded).await;
}

/// How many scheduled retries the dead-lettered command had.
async fn retries_of_dead_command(app: &TestApp) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT attempts FROM dead_letters",
        ))
        .await
        .unwrap()
        .expect("a dead letter");
    i64::from(row.try_get::<i32>("", "attempts").unwrap())
}

/// `KEFU_AMQP_URL` may name several nodes: a process connects to the first that
/// answers, says which in `/ready`, and works through it.
#[tokio::test]
async fn several_broker_addresses_use_the_first_that_answers_rabbitmq_postgres() {
    let (db, app) = support::shop_with_alice().await;
    let prefix = format!("kefu-test-nodes-{}", uuid::Uuid::new_v4().simple());
    let addr = support::free_addr();
    // Port 1 refuses connections: the node is down.
    let urls = format!("amqp://guest:guest@127.0.0.1:1/%2f, {AMQP_URL}");
    let nodes = [("KEFU_AMQP_URL", urls.as_str())];
    let _serve = support::Proc::start("serve", &db.url, &prefix, &addr, &nodes);
    let api = support::Client::new(format!("http://{addr}"), &app);
    api.wait_ready().await;
    let (status, ready) = api.get("/ready", &[]).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["broker_node"], "127.0.0.1:5672", "{ready}");
    assert!(
        !ready.to_string().contains("guest"),
        "no credentials in /ready: {ready}"
    );
    let user = api.session("u1").await;
    let (status, body) = api
        .post_json(
            "/v1/question/new",
            json!({ "session": user, "title": "via the second node" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let bad = support::kefu_cmd(&db.url)
        .arg("serve")
        .env("KEFU_AMQP_URL", format!("{AMQP_URL},http://nope"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("KEFU_AMQP_URL"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    db.drop_db().await;
}
