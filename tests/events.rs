//! The event spine: events in commit order on `kefu.events`, valid against
//! docs/asyncapi.json; the outbox relay (at least once, same id, no duplicates between
//! two relays); commit order in message lists and `last_mess_*`; database outages and
//! dead letters.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kefu_common::domain::command::{Actor, Command, Envelope};
use kefu_common::domain::ids::IdGen;
use kefu_common::domain::{SenderType, Text, UserId};
use serde_json::{json, Value};
use support::{count_rows, spawn_app, spawn_custom, Backend, TestApp, AMQP_URL};

/// A queue of our own bound to `<prefix>.events` with `pattern`.
async fn subscribe(app: &TestApp, pattern: &str) -> (lapin::Connection, lapin::Consumer) {
    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let queue = ch
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        queue.name().clone(),
        format!("{}.events", app.config.amqp_prefix).into(),
        pattern.into(),
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let consumer = ch
        .basic_consume(
            queue.name().clone(),
            "test".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    (conn, consumer)
}

/// Events until `done` says so or `wait` passes.
async fn collect(consumer: &mut lapin::Consumer, wait: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut events = Vec::new();
    let deadline = Instant::now() + wait;
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.next()).await {
            Ok(Some(Ok(d))) => events.push(serde_json::from_slice(&d.data).unwrap()),
            Ok(Some(Err(err))) => panic!("the test's consumer failed: {err}"),
            _ => break,
        }
    }
    events
}

/// Each event against its schema in docs/asyncapi.json.
fn check_schema(event: &Value) {
    let doc: Value = serde_json::from_str(include_str!("../docs/asyncapi.json")).unwrap();
    let name = doc["components"]["messages"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, m)| m["title"] == event["type"])
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| panic!("undocumented event type: {event}"));
    let schema = json!({ "$ref": format!("#/components/schemas/{name}Event"), "components": doc["components"] });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(event).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{event} does not match {name}Event: {errors:?}");
}

/// A consumer bound to `kefu.events` sees each lifecycle step, valid against its schema,
/// in sequence order; and how long an HTTP write takes to reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_arrive_in_sequence_order_rabbitmq_postgres() {
    let app = spawn_custom(Backend::RabbitPostgres, |c| c.session_rate_per_sec = 0, true).await;
    let (_conn, mut consumer) = subscribe(&app, "#").await;
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let (_, created) = app
        .post_json(
            "/v1/question/new",
            json!({ "session": user, "title": "退款", "label": ["售后"] }),
        )
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    let agent = json!({ "session": alice, "serv_id": "alice" });
    let steps: Vec<(String, Value)> = vec![
        (
            format!("/v1/question/{q}/message/send_text"),
            json!({ "session": user, "sender": "u1", "sender_type": 1, "text": "在吗" }),
        ),
        (format!("/v1/question/{q}/serve"), agent.clone()),
        (
            format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "在" }),
        ),
        (format!("/v1/question/{q}/quit"), agent.clone()),
        (format!("/v1/question/{q}/serve"), agent.clone()),
        (format!("/v1/question/{q}/finish"), agent.clone()),
        (format!("/v1/question/{q}/reopen"), json!({ "session": user })),
    ];
    for (path, body) in &steps {
        let (status, answer) = app.post_json(path, body.clone()).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let expected = [
        "kefu.question.created",
        "kefu.message.created",
        "kefu.question.served",
        "kefu.message.created",
        "kefu.message.created",
        "kefu.question.quit",
        "kefu.message.created",
        "kefu.question.served",
        "kefu.message.created",
        "kefu.question.finished",
        "kefu.message.created",
        "kefu.question.reopened",
        "kefu.message.created",
    ];
    let events = collect(&mut consumer, Duration::from_secs(10), |e| {
        e.iter().filter(|e| e["subject"] == q.as_str()).count() >= expected.len()
    })
    .await;
    for e in &events {
        check_schema(e);
    }
    assert!(
        events.iter().any(|e| e["type"] == "kefu.session.opened"),
        "sessions are events too"
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "kefu.agent.bound" && e["data"]["serv_id"] == "alice"));
    let mut of_q: Vec<&Value> = events.iter().filter(|e| e["subject"] == q.as_str()).collect();
    // The relay keeps commit order; consumers order by the question's sequence anyway.
    let sequences: Vec<i64> = of_q.iter().map(|e| e["data"]["sequence"].as_i64().unwrap()).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] <= w[1]),
        "in sequence order: {sequences:?}"
    );
    of_q.sort_by_key(|e| e["data"]["sequence"].as_i64());
    let types: Vec<&str> = of_q.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // Within one sequence number (one transaction) the state change comes before its message.
    assert_eq!(types, expected, "{types:?}");
    assert_eq!(sequences.first(), Some(&1));
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "one delivery per event in a normal run");

    // End to end: an HTTP write until a queue consumer holds its event.
    let mut latencies = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        let (status, sent) = app
            .post_json(
                &format!("/v1/question/{q}/message/send_text"),
                json!({ "session": user, "sender": "u1", "sender_type": 1, "text": format!("m{i}") }),
            )
            .await;
        assert_eq!(status, 200);
        let id = sent["message_id"].as_str().unwrap().to_owned();
        let got = collect(&mut consumer, Duration::from_secs(5), |e| {
            e.iter().any(|e| e["data"]["message"]["message_id"] == id.as_str())
        })
        .await;
        assert!(!got.is_empty());
        latencies.push(started.elapsed());
    }
    latencies.sort();
    eprintln!(
        "HTTP write → event consumed: p50 {:?}, p99 {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    app.shutdown().await;
}

/// The relay publishes what committed while no relay ran, with the outbox's id; after a
/// crash between publish and marking, the same event goes out again with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_delivers_after_a_crash_with_the_same_id_rabbitmq_postgres() {
    use sea_orm::ConnectionTrait;
    let app = spawn_custom(Backend::RabbitPostgres, |c| c.relay = false, true).await;
    let (_conn, mut consumer) = subscribe(&app, "kefu.question.*").await;
    let user = app.session("u1").await;
    let (status, _) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    assert_eq!(status, 200);
    // Committed, not relayed: the relay "died" before publishing.
    assert_eq!(
        count_rows(
            &app.db,
            "outbox_events",
            Some("published_at IS NULL AND event_type = 'kefu.question.created'")
        )
        .await,
        1
    );
    assert!(collect(&mut consumer, Duration::from_millis(500), |e| !e.is_empty())
        .await
        .is_empty());
    let row = app
        .db
        .query_one(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT event_id FROM outbox_events WHERE event_type = 'kefu.question.created'",
        ))
        .await
        .unwrap()
        .unwrap();
    let event_id: String = row.try_get("", "event_id").unwrap();
    let relayed = kefu_workers::relay::relay_batch(&app.db, &app.broker, 100)
        .await
        .unwrap();
    assert!(relayed >= 1);
    let got = collect(&mut consumer, Duration::from_secs(5), |e| !e.is_empty()).await;
    assert_eq!(got[0]["id"], event_id.as_str());
    // Published, then the relay died before marking it: it goes out again, same id.
    app.db
        .execute_unprepared("UPDATE outbox_events SET published_at = NULL")
        .await
        .unwrap();
    kefu_workers::relay::relay_batch(&app.db, &app.broker, 100)
        .await
        .unwrap();
    let again = collect(&mut consumer, Duration::from_secs(5), |e| !e.is_empty()).await;
    assert_eq!(again[0]["id"], event_id.as_str());
    app.shutdown().await;
}

/// Two relays at once publish every event exactly once in a normal run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_publish_no_event_twice_rabbitmq_postgres() {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.relay = false;
            c.session_rate_per_sec = 0;
        },
        true,
    )
    .await;
    let (_conn, mut consumer) = subscribe(&app, "#").await;
    let user = app.session("u1").await;
    let n = 150;
    for i in 0..n {
        let (status, _) = app
            .post_json("/v1/question/new", json!({ "session": user, "title": format!("q{i}") }))
            .await;
        assert_eq!(status, 200);
    }
    let relay = |app: &TestApp| {
        let (db, broker) = (app.db.clone(), app.broker.clone());
        tokio::spawn(async move {
            let mut total = 0;
            loop {
                let sent = kefu_workers::relay::relay_batch(&db, &broker, 10).await.unwrap();
                if sent == 0 {
                    return total;
                }
                total += sent;
            }
        })
    };
    // And a backlog of 5,000 more (copies with ids of their own), to see the throughput.
    {
        use sea_orm::ConnectionTrait;
        app.db
            .execute_unprepared(
                "INSERT INTO outbox_events (event_id, event_type, subject, payload, created_at) \
                 SELECT x.nid, x.event_type, x.subject, replace(x.payload, x.event_id, x.nid), x.created_at \
                 FROM (SELECT gen_random_uuid()::text AS nid, e.* FROM outbox_events e, generate_series(1, 40) g \
                       WHERE e.event_type = 'kefu.question.created' LIMIT 5000) x",
            )
            .await
            .unwrap();
    }
    let total = count_rows(&app.db, "outbox_events", None).await as usize;
    assert_eq!(total, n + 5000 + 1, "the questions, the backlog, the session");
    let started = Instant::now();
    let (a, b) = (relay(&app), relay(&app));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let took = started.elapsed();
    assert!(a > 0 && b > 0, "both relays took a share: {a} + {b}");
    assert_eq!(a + b, total);
    eprintln!(
        "two relays, batches of 10: {total} events in {took:?} ({:.0}/s)",
        total as f64 / took.as_secs_f64()
    );
    let events = collect(&mut consumer, Duration::from_secs(30), |e| e.len() >= total).await;
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(events.len(), total, "every event once");
    assert_eq!(ids.len(), total);
    // Nothing arrives twice later either.
    assert!(collect(&mut consumer, Duration::from_millis(500), |e| !e.is_empty())
        .await
        .is_empty());
    app.shutdown().await;
}

fn text_command(q: &str, message_id: kefu_common::domain::ids::ObjectId, text: &str) -> Envelope {
    Envelope::new(
        uuid::Uuid::new_v4(),
        Command::MessageSendTextV1 {
            question_id: kefu_common::domain::ids::ObjectId::parse(q).unwrap(),
            message_id,
            actor: Actor::User {
                app_id: 1,
                user_id: UserId::parse("u1").unwrap(),
            },
            sender_type: SenderType::User,
            text: Text::parse(text).unwrap(),
            exclude_from_timeout: false,
        },
    )
}

async fn wait_rows(app: &TestApp, table: &str, cond: &str, n: i64) {
    for _ in 0..200 {
        if count_rows(&app.db, table, Some(cond)).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{table} WHERE {cond} never reached {n}");
}

/// A message whose command committed late (after a later one) is listed where it
/// committed: at the head for a client paging newest-first, not behind its cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_is_listed_in_commit_order_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    let ids = IdGen::default();
    let (early, late) = (ids.next_id(), ids.next_id());
    assert!(early.as_str() < late.as_str());
    // The later id commits first; the earlier one (say, retried) commits after it.
    app.broker
        .publish_command("b", &text_command(&q, late.clone(), "B").to_bytes(), false)
        .await
        .unwrap();
    wait_rows(&app, "messages", &format!("id = '{}'", late.as_str()), 1).await;
    let (_, head) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", &user)])
        .await;
    assert_eq!(head["messages"][0]["message_id"], late.as_str());
    app.broker
        .publish_command("a", &text_command(&q, early.clone(), "A").to_bytes(), false)
        .await
        .unwrap();
    wait_rows(&app, "messages", &format!("id = '{}'", early.as_str()), 1).await;
    let (_, head) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", &user)])
        .await;
    let listed: Vec<&str> = head["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(&listed[..2], [early.as_str(), late.as_str()], "newest commit first");
    // Paging on from what the client had read (B) goes to older messages only; paging
    // forward from B finds A.
    let (_, older) = app
        .get(
            &format!("/v1/question/{q}/message"),
            &[("session", &user), ("message_id", late.as_str())],
        )
        .await;
    assert!(!older.to_string().contains(early.as_str()), "{older}");
    let (_, newer) = app
        .get(
            &format!("/v1/question/{q}/message"),
            &[("session", &user), ("message_id", late.as_str()), ("sort", "1")],
        )
        .await;
    assert_eq!(newer["messages"][0]["message_id"], early.as_str(), "{newer}");
    // last_mess_* is the last commit's, not the largest id's.
    assert_eq!(
        count_rows(
            &app.db,
            "questions",
            Some(&format!("id = '{q}' AND last_mess_text = 'A'"))
        )
        .await,
        1
    );
    app.shutdown().await;
}

/// Two workers, 200 interleaved messages: `last_mess_*` ends at the last committed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_message_is_the_last_commit_under_two_workers_rabbitmq_postgres() {
    use sea_orm::ConnectionTrait;
    let app = spawn_custom(Backend::RabbitPostgres, |c| c.session_rate_per_sec = 0, true).await;
    let second = kefu_workers::Worker::new(
        app.db.clone(),
        app.broker.clone(),
        std::sync::Arc::new(app.config.clone()),
        Default::default(),
    );
    tokio::spawn(kefu_workers::run(second, app.cancel.clone()));
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    app.post_json(
        &format!("/v1/question/{q}/serve"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;
    let sends = (0..200).map(|i| {
        let (session, sender, kind) = if i % 2 == 0 {
            (&user, "u1", 1)
        } else {
            (&alice, "alice", 2)
        };
        let body = json!({ "session": session, "sender": sender, "sender_type": kind, "text": format!("m{i}") });
        let path = format!("/v1/question/{q}/message/send_text");
        let app = &app;
        async move { app.post_json_with(&path, body, &[("Prefer", "respond-async")]).await.0 }
    });
    let statuses = futures_util::stream::iter(sends)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(statuses.iter().all(|s| *s == 202));
    wait_rows(&app, "messages", &format!("question_id = '{q}' AND msg_type = 3"), 200).await;
    let sql = format!(
        "SELECT m.text AS text, m.created_at AS at, q.last_mess_text AS last, q.last_mess_timestamp AS last_at, \
         m.seq AS mseq, q.seq AS qseq FROM messages m JOIN questions q ON q.id = m.question_id \
         WHERE m.question_id = '{q}' ORDER BY m.seq DESC LIMIT 1"
    );
    let row = app
        .db
        .query_one(sea_orm::Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    let (text, last): (String, String) = (row.try_get("", "text").unwrap(), row.try_get("", "last").unwrap());
    assert_eq!(last, text, "last_mess_text is the last committed message");
    assert_eq!(
        row.try_get::<i64>("", "at").unwrap(),
        row.try_get::<i64>("", "last_at").unwrap()
    );
    assert_eq!(
        row.try_get::<i64>("", "mseq").unwrap(),
        row.try_get::<i64>("", "qseq").unwrap()
    );
    let distinct = count_rows(&app.db, "messages", Some(&format!("question_id = '{q}'"))).await;
    let seqs = {
        let row = app
            .db
            .query_one(sea_orm::Statement::from_string(
                app.db.get_database_backend(),
                format!("SELECT COUNT(DISTINCT seq) AS n FROM messages WHERE question_id = '{q}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(seqs, distinct, "every message its own place in commit order");
    app.shutdown().await;
}

/// A command that fails only because the database is unreachable waits out the outage
/// (longer than its whole retry schedule) and is applied after it, not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_dead_letters_nothing_rabbitmq_postgres() {
    let test_db = support::TestDb::create(Backend::RabbitPostgres).await;
    let proxy = support::proxy::Proxy::start("127.0.0.1:5432").await;
    let through = test_db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let prefix = format!("kefu-test-{}", uuid::Uuid::new_v4().simple());
    let mut config = support::test_config(Backend::RabbitPostgres, &through, &prefix);
    config.db_acquire_timeout_ms = 500;
    let app = support::spawn_with(Backend::RabbitPostgres, test_db, config, true).await;
    let user = app.session("u1").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    proxy.stop();
    let id = IdGen::default().next_id();
    app.broker
        .publish_command("during-outage", &text_command(&q, id.clone(), "hi").to_bytes(), false)
        .await
        .unwrap();
    // The schedule ([200 ms, 1 s]) would dead-letter a failing command within ~1.5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.resume().await;
    wait_rows(&app, "messages", &format!("id = '{}'", id.as_str()), 1).await;
    assert_eq!(count_rows(&app.db, "dead_letters", None).await, 0);
    app.shutdown().await;
}

/// Dead letters are kept with their reason and attempts, listed and re-driven (CLI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_redriven_rabbitmq_postgres() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    app.db
        .execute_unprepared("ALTER TABLE question_labels RENAME TO question_labels_away")
        .await
        .unwrap();
    let (status, queued) = app
        .post_json_with(
            "/v1/question/new",
            json!({ "session": user, "title": "doomed", "label": ["x"] }),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, 202);
    wait_rows(&app, "dead_letters", "1 = 1", 1).await;
    let cli = |args: &[&str]| support::admin_on_broker(&app, args);
    let listed = cli(&["dead-letters", "list", "--queue", "commands"]);
    let dead = &listed[0];
    assert_eq!(dead["message_id"], queued["request_id"], "{listed}");
    assert_eq!(dead["reason"], "rejected", "given up by a worker: {dead}");
    assert_eq!(dead["attempts"], 2, "both scheduled retries happened: {dead}");
    // Fixed, then re-driven: applied once.
    app.db
        .execute_unprepared("ALTER TABLE question_labels_away RENAME TO question_labels")
        .await
        .unwrap();
    let out = cli(&["dead-letters", "redrive", "--id", dead["id"].as_str().unwrap()]);
    assert_eq!(out["redriven"], 1);
    wait_rows(&app, "questions", "title = 'doomed'", 1).await;
    assert_eq!(count_rows(&app.db, "dead_letters", None).await, 0);
    app.shutdown().await;
}

/// `kefu events tail --type PATTERN` prints the matching events as they come, one JSON
/// line each (RabbitMQ: a temporary queue; embedded: the outbox table).
async fn tail_prints_events(backend: Backend) {
    use std::io::BufRead;
    let app = spawn_app(backend).await;
    let mut cmd = support::kefu_cmd(&app.config.database_url);
    if backend.rabbit() {
        cmd.env("KEFU_AMQP_URL", AMQP_URL)
            .env("KEFU_AMQP_PREFIX", &app.config.amqp_prefix);
    }
    let mut child = cmd
        .args(["events", "tail", "--type", "kefu.question.*"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let user = app.session("u1").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "tail me" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    app.post_json(
        &format!("/v1/question/{q}/message/send_text"),
        json!({ "session": user, "sender": "u1", "sender_type": 1, "text": "hi" }),
    )
    .await;
    let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("a line from kefu events tail");
    let _ = child.kill();
    let _ = child.wait();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        event["type"], "kefu.question.created",
        "only the pattern's types, the session's not: {event}"
    );
    assert_eq!(event["subject"], q.as_str());
    check_schema(&event);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_matching_events_rabbitmq_postgres() {
    tail_prints_events(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_matching_events_embedded_sqlite() {
    tail_prints_events(Backend::Embedded).await;
}
