//! Batched apply: a backlog is applied many commands per transaction, each in its own
//! savepoint — a refused command in a batch changes nothing of the others, a later
//! command sees an earlier one's change, every outcome is recorded once. Real
//! `kefu ingest` and `kefu worker` processes on RabbitMQ + PostgreSQL.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{admin, count_rows, delete_topology, free_addr, queue_ready, Backend, Client, Proc, TestDb};

const USERS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_applied_in_batches_with_refusals_kept_apart() {
    support::init_tracing();
    let db = TestDb::create(Backend::RabbitPostgres).await;
    support::migrate(&db.url);
    let app = admin(&db.url, &["app", "create", "--identify", "com.example.batch"]);
    for serv_id in ["alice", "bob"] {
        support::create_agent(&db.url, serv_id, "com.example.batch", "secret-pw\n");
    }
    let prefix = format!("kefu-batch-{}", uuid::Uuid::new_v4().simple());
    let addr = free_addr();
    let commands = format!("{prefix}.commands");
    let _ingest = Proc::start("ingest", &db.url, &prefix, &addr, &[]);
    let client = Client::new(format!("http://{addr}"), &app);
    client.wait_ready().await;

    // Sessions and one waiting question while a worker runs; then no worker.
    let mut first = Proc::start("worker", &db.url, &prefix, &addr, &[]);
    let alice = client.agent_session("alice").await;
    let bob = client.agent_session("bob").await;
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(client.session(&format!("u{i}")).await);
    }
    let (status, body) = client
        .post_json(
            "/v1/question/new",
            json!({ "session": users[0], "title": "served twice?" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let contested = body["question_id"].as_str().unwrap().to_owned();
    first.kill9();

    // The backlog: alice and bob both serve the question (one is refused: the other's
    // change is seen, in the same batch or the one before), then a question from every
    // other user.
    let queued = |body: &Value| body["request_id"].as_str().unwrap().to_owned();
    let serve = |session: &str, serv_id: &str| {
        let (path, body) = (
            format!("/v1/question/{contested}/serve"),
            json!({ "session": session, "serv_id": serv_id }),
        );
        let client = &client;
        async move { client.post_json_with(&path, body, &[("Prefer", "respond-async")]).await }
    };
    let (status, body) = serve(&alice, "alice").await;
    assert_eq!(status, 202, "{body}");
    let alice_serve = queued(&body);
    let (status, body) = serve(&bob, "bob").await;
    assert_eq!(status, 202, "{body}");
    let bob_serve = queued(&body);
    for (i, session) in users.iter().enumerate().skip(1) {
        let (status, body) = client
            .post_json_with(
                "/v1/question/new",
                json!({ "session": session, "title": format!("问题 {i}") }),
                &[("Prefer", "respond-async")],
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let backlog = USERS + 1;
    assert_eq!(queue_ready(&commands).await as usize, backlog);

    let metrics_addr = free_addr();
    let _worker = Proc::start(
        "worker",
        &db.url,
        &prefix,
        &addr,
        &[("KEFU_METRICS_ADDR", &metrics_addr)],
    );
    let db_conn = kefu_common::store::db::connect(&db.url).await.unwrap();
    for _ in 0..200 {
        if queue_ready(&commands).await == 0 && count_rows(&db_conn, "questions", None).await == USERS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count_rows(&db_conn, "questions", None).await,
        USERS as i64,
        "every question applied"
    );
    // Whichever serve came first applied; the other was refused, and recorded so.
    let outcome = |id: String| {
        let db_conn = &db_conn;
        async move {
            use sea_orm::EntityTrait;
            let record = kefu_common::store::entity::processed_command::Entity::find_by_id(id)
                .one(db_conn)
                .await
                .unwrap()
                .expect("the outcome is recorded");
            record.outcome
        }
    };
    let (alices, bobs) = (outcome(alice_serve).await, outcome(bob_serve).await);
    let failed = |outcome: &str| serde_json::from_str::<Value>(outcome).unwrap()["outcome"] == "failed";
    assert!(
        failed(&alices) != failed(&bobs),
        "one applied, one refused: {alices} / {bobs}"
    );
    let (winner, refused) = if failed(&alices) {
        ("bob", alices)
    } else {
        ("alice", bobs)
    };
    assert!(
        refused.contains("question_already_served"),
        "the second serve is refused: {refused} (winner {winner})"
    );
    let served = format!("id = '{contested}' AND serv_id = '{winner}' AND status = 2");
    assert_eq!(
        count_rows(&db_conn, "questions", Some(&served)).await,
        1,
        "{winner} serves it"
    );
    // One serve notification, none of the refused serve.
    let serve_notes = format!("question_id = '{contested}' AND msg_type = 4");
    assert_eq!(count_rows(&db_conn, "messages", Some(&serve_notes)).await, 1);

    // Fewer transactions than commands: they were batched.
    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let figure = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse::<f64>().unwrap()))
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    };
    let batches = figure("kefu_command_batch_size_count");
    let batched = figure("kefu_command_batch_size_sum");
    assert_eq!(
        batched as usize, backlog,
        "every command of the backlog in some batch: {text}"
    );
    assert!(
        batches < backlog as f64 / 2.0,
        "{batches} transactions for {backlog} commands"
    );
    assert_eq!(
        queue_ready(&format!("{commands}.dead")).await,
        0,
        "nothing dead-lettered"
    );

    db_conn.close().await.ok();
    drop(_ingest);
    drop(_worker);
    delete_topology(&prefix, &[200, 1000]).await;
    db.drop_db().await;
}
