//! Question timeouts run by the workers: the user-reply, waiting and end-confirmation
//! deadlines each fire once with the right action and state; a reply cancels them; a
//! late reply reopens; many workers (one killed mid-sweep) fire 1,000 deadlines exactly
//! once; deadlines that passed while no worker ran fire when the first one starts.

mod support;

use std::time::Duration;

use kefu_common::store::entity::question;
use sea_orm::{EntityTrait, Set};
use serde_json::{json, Value};
use support::{admin, count_rows, spawn_custom, Backend, Proc, TestApp};

/// The notification actions of a question's messages, in order.
async fn actions(app: &TestApp, session: &str, q: &str) -> Vec<i64> {
    let (status, body) = app
        .get(
            &format!("/v1/question/{q}/message"),
            &[("session", session), ("sort", "1"), ("count", "100")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == 4)
        .map(|m| m["action"].as_i64().unwrap())
        .collect()
}

/// The user's view of the question: (status, serv_id).
async fn state_of(app: &TestApp, user: &str, session: &str, q: &str) -> (i64, String) {
    let (status, body) = app
        .get(
            &format!("/v1/user/{user}/alls"),
            &[("session", session), ("count", "100")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let found = body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["question_id"] == q)
        .unwrap_or_else(|| panic!("{q} not in {body}"))
        .clone();
    (
        found["status"].as_i64().unwrap(),
        found["serv_id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_timeout_fires_once_and_a_reply_cancels_it_rabbitmq_postgres() {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.session_rate_per_sec = 0;
            c.timeout_sweep_ms = 200;
        },
        true,
    )
    .await;
    let set = admin(
        &app.config.database_url,
        &[
            "app",
            "set-timeouts",
            "--identify",
            "com.example.shop",
            "--user-reply",
            "2s",
            "--wait",
            "2s",
            "--end-confirm",
            "2s",
        ],
    );
    assert_eq!(
        (
            set["user_reply_secs"].as_u64(),
            set["wait_secs"].as_u64(),
            set["end_confirm_secs"].as_u64()
        ),
        (Some(2), Some(2), Some(2)),
        "{set}"
    );
    let alice = app.agent_session("alice").await;
    let mut users = Vec::new();
    let mut questions = Vec::new();
    for user in ["waits", "silent", "ended", "excluded", "answers", "objects"] {
        let session = app.session(user).await;
        let (status, created) = app
            .post_json("/v1/question/new", json!({ "session": session, "title": user }))
            .await;
        assert_eq!(status, 200, "{created}");
        questions.push(created["question_id"].as_str().unwrap().to_owned());
        users.push((user, session));
    }
    let q = |i: usize| questions[i].clone();
    let agent = |path: String, body: Value| {
        let app = &app;
        async move {
            let (status, answer) = app.post_json(&path, body).await;
            assert_eq!(status, 200, "{path}: {answer}");
        }
    };
    for i in 1..6 {
        agent(
            format!("/v1/question/{}/serve", q(i)),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    }
    let text = |i: usize, extra: Value| {
        let mut body = json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "anyone there?" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        (format!("/v1/question/{}/message/send_text", q(i)), body)
    };
    for (i, extra) in [
        (1, json!({})),
        (3, json!({ "exclude_from_timeout": true })),
        (4, json!({})),
    ] {
        let (path, body) = text(i, extra);
        agent(path, body).await;
    }
    for i in [2, 5] {
        agent(
            format!("/v1/question/{}/request_finish", q(i)),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    }
    // Replies well before their deadlines cancel them.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for i in [4, 5] {
        let (user, session) = &users[i];
        let (status, body) = app
            .post_json(
                &format!("/v1/question/{}/message/send_text", q(i)),
                json!({ "session": session, "sender": user, "sender_type": 1, "text": "here" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(3_000)).await;

    let expect = [
        // waiting: timed out (5), finished, no agent
        (vec![5], 3, ""),
        // served, silent user: timed out, finished, the agent kept
        (vec![1, 5], 3, "alice"),
        // end requested, no answer: finished (4)
        (vec![1, 3, 4], 3, "alice"),
        // the agent's only message was excluded: no countdown
        (vec![1], 2, "alice"),
        // the user answered in time
        (vec![1], 2, "alice"),
        // the user answered the end request in time
        (vec![1, 3], 2, "alice"),
    ];
    for (i, (want_actions, want_status, want_agent)) in expect.iter().enumerate() {
        let (user, session) = &users[i];
        assert_eq!(&actions(&app, session, &q(i)).await, want_actions, "{user}");
        assert_eq!(
            state_of(&app, user, session, &q(i)).await,
            (*want_status, want_agent.to_string()),
            "{user}"
        );
    }
    assert_eq!(
        count_rows(&app.db, "outbox_events", Some("event_type = 'kefu.question.timed_out'")).await,
        2
    );

    // A late reply to the timed-out question reopens it, back to its agent.
    let (user, session) = &users[1];
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{}/message/send_text", q(1)),
            json!({ "session": session, "sender": user, "sender_type": 1, "text": "sorry, I was away" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(actions(&app, session, &q(1)).await, [1, 5, 6]);
    assert_eq!(state_of(&app, user, session, &q(1)).await, (2, "alice".into()));
    // An agent-finished question stays closed to replies.
    let (user, session) = &users[2];
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{}/message/send_text", q(2)),
            json!({ "session": session, "sender": user, "sender_type": 1, "text": "wait" }),
        )
        .await;
    assert_eq!(status, 200, "the deadline closed it too, so the reply reopens: {body}");

    // Switching the user-reply timeout off drops running countdowns.
    let (path, body) = text(4, json!({}));
    agent(path, body).await;
    admin(
        &app.config.database_url,
        &[
            "app",
            "set-timeouts",
            "--identify",
            "com.example.shop",
            "--user-reply",
            "0",
        ],
    );
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let (user, session) = &users[4];
    assert_eq!(actions(&app, session, &q(4)).await, [1], "{user}: no timeout while off");
    app.shutdown().await;
}

/// 1,000 questions due in the same second, three workers plus one that dies (SIGKILL)
/// in the middle of its sweep: exactly 1,000 action-5 messages, one per question. Then,
/// with every worker stopped past a deadline, the first worker to start fires it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_fire_exactly_once_across_workers_and_crashes_rabbitmq_postgres() {
    let (db, _) = support::shop_with_alice().await;
    let conn = kefu_common::store::db::connect(&db.url).await.unwrap();
    let seed = |n: usize, due_at: i64| {
        let conn = conn.clone();
        async move {
            let ids = kefu_common::domain::ids::IdGen::default();
            let rows: Vec<question::ActiveModel> = (0..n)
                .map(|i| question::ActiveModel {
                    id: Set(ids.next_id().to_string()),
                    app_id: Set(1),
                    user_id: Set(format!("user-{i}")),
                    title: Set("due".into()),
                    labels: Set("[]".into()),
                    status: Set(kefu_common::domain::QuestionStatus::Serving),
                    serv_id: Set(Some("alice".into())),
                    created_at: Set(due_at - 600_000),
                    updated_at: Set(due_at - 600_000),
                    last_mess_text: Set(None),
                    last_mess_timestamp: Set(None),
                    last_mess_sender: Set(None),
                    last_mess_sender_type: Set(None),
                    last_mess_type: Set(None),
                    served_at: Set(None),
                    seq: Set(1),
                    im_session_id: Set(None),
                    // The default user-reply timeout (10 minutes) from this anchor.
                    due_kind: Set(Some(kefu_common::domain::DueKind::UserReply)),
                    due_anchor: Set(Some(due_at - 600_000)),
                    due_at: Set(Some(due_at)),
                    timed_out_at: Set(None),
                    ..Default::default()
                })
                .collect();
            for chunk in rows.chunks(250) {
                question::Entity::insert_many(chunk.to_vec()).exec(&conn).await.unwrap();
            }
        }
    };
    let timeouts = |cond: &str| {
        let conn = conn.clone();
        let cond = format!("msg_type = 4 AND action = 5{cond}");
        async move { count_rows(&conn, "messages", Some(&cond)).await }
    };
    let prefix = format!("kefu-deadlines-{}", uuid::Uuid::new_v4().simple());
    let addr = support::free_addr();
    let start = |extra: &[(&str, &str)]| {
        let mut env = vec![("KEFU_TIMEOUT_SWEEP_MS", "200"), ("KEFU_TIMEOUT_BATCH", "100")];
        env.extend_from_slice(extra);
        Proc::start("worker", &db.url, &prefix, &addr, &env)
    };

    let due = support::now_ms() + 2_000;
    seed(1_000, due).await;
    // This one claims one batch, fires it in its transaction and hangs before the commit.
    let mut doomed = start(&[
        ("KEFU_WORKER_PAUSE_BEFORE_COMMIT_MS", "60000"),
        ("KEFU_TIMEOUT_PARALLEL", "1"),
    ]);
    tokio::time::sleep(Duration::from_millis((due - support::now_ms()).max(0) as u64 + 1_000)).await;
    assert_eq!(timeouts("").await, 0, "nothing committed by the hanging worker");
    let mut workers: Vec<Proc> = (0..3).map(|_| start(&[])).collect();
    let mut fired = 0;
    for _ in 0..100 {
        fired = timeouts("").await;
        if fired >= 900 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(fired, 900, "the others skip the 100 rows the hanging worker holds");
    doomed.kill9();
    for _ in 0..100 {
        fired = timeouts("").await;
        if fired >= 1_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(timeouts("").await, 1_000, "each deadline once");
    assert_eq!(
        count_rows(
            &conn,
            "questions",
            Some("status = 3 AND timed_out_at IS NOT NULL AND due_at IS NULL")
        )
        .await,
        1_000
    );
    assert_eq!(
        count_rows(&conn, "outbox_events", Some("event_type = 'kefu.question.timed_out'")).await,
        1_000
    );

    // Every worker stopped; deadlines pass; the first worker to start fires them.
    for w in &mut workers {
        w.kill9();
    }
    let due = support::now_ms() + 500;
    seed(10, due).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(timeouts("").await, 1_000);
    let started = std::time::Instant::now();
    let _late = start(&[]);
    while timeouts("").await < 1_010 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the missed deadlines did not fire"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "missed deadlines fired {:?} after the worker started",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(timeouts("").await, 1_010);
    drop(_late);
    conn.close().await.ok();
    support::delete_topology(&prefix, &[200, 1000]).await;
    db.drop_db().await;
}
