//! Routing beyond the waiting list: presence, capacity, automatic assignment and offers
//! across several worker processes (one killed on the way), transfer, ratings, and
//! the figures of stats and report.

mod support;

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};
use support::{admin, count_rows, create_agent, shop_with_alice, spawn_app, Backend, Client, Proc};

async fn status(api: &Client, serv_id: &str, session: &str, status: &str) {
    let (code, body) = api
        .post_json(
            &format!("/v1/serv/{serv_id}/status"),
            json!({ "session": session, "status": status }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

async fn ask(api: &Client, user: &str) -> String {
    let session = api.session(user).await;
    let (code, body) = api
        .post_json(
            "/v1/question/new",
            json!({ "session": session, "title": format!("from {user}") }),
        )
        .await;
    // 202: accepted, its outcome not known in time (a worker holding it was killed).
    assert!(code == 200 || code == 202, "{code} {body}");
    body["question_id"].as_str().unwrap().to_owned()
}

/// (question id, serv id) of every serving question.
async fn serving(db: &DatabaseConnection) -> Vec<(String, String)> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, serv_id FROM questions WHERE status = 2 ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "serv_id").unwrap()))
        .collect()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// No agent over its capacity, and every serve notification (action 1) once per serve.
async fn check_invariants(db: &DatabaseConnection, max: usize) {
    let now = serving(db).await;
    for agent in ["alice", "bob", "carol"] {
        let n = now.iter().filter(|(_, s)| s == agent).count();
        assert!(n <= max, "{agent} serves {n} > {max}");
    }
    let doubled = count_rows(
        db,
        "(SELECT question_id FROM messages WHERE msg_type = 4 AND action = 1 GROUP BY question_id HAVING COUNT(*) > 1) d",
        None,
    )
    .await;
    assert_eq!(doubled, 0, "a question was given twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_routing_keeps_capacity_across_workers_and_a_kill_rabbitmq_postgres() {
    let (db, app) = shop_with_alice().await;
    for agent in ["bob", "carol"] {
        create_agent(&db.url, agent, "com.example.shop", "secret-pw\n");
    }
    for agent in ["alice", "bob", "carol"] {
        let view = admin(
            &db.url,
            &["agent", "update", "--serv-id", agent, "--max-concurrent", "2"],
        );
        assert_eq!(view["max_concurrent"], 2, "{view}");
    }
    let routing = admin(
        &db.url,
        &["app", "set-routing", "--identify", "com.example.shop", "--mode", "auto"],
    );
    assert_eq!(routing["mode"], "auto", "{routing}");
    let prefix = format!("kefu-test-routing-{}", uuid::Uuid::new_v4().simple());
    let addr = support::free_addr();
    let fast = [("KEFU_ROUTING_SWEEP_MS", "300")];
    let _ingest = Proc::start("ingest", &db.url, &prefix, &addr, &fast);
    let mut workers: Vec<Proc> = (0..3)
        .map(|_| Proc::start("worker", &db.url, &prefix, &support::free_addr(), &fast))
        .collect();
    let api = Client::new(format!("http://{addr}"), &app);
    api.wait_ready().await;
    let conn = kefu_common::store::db::connect(&db.url).await.unwrap();

    let sessions = [
        api.agent_session("alice").await,
        api.agent_session("bob").await,
        api.agent_session("carol").await,
    ];
    for (agent, session) in ["alice", "bob", "carol"].iter().zip(&sessions) {
        status(&api, agent, session, "online").await;
    }
    let (_, shown) = api.get("/v1/serv/bob/status", &[("session", &sessions[0])]).await;
    assert_eq!(shown["presence"], "online", "{shown}");

    // 20 questions at once; one worker dies while they are being given out.
    let asked = futures_util::future::join_all((0..20).map(|i| {
        let api = api.clone();
        async move { ask(&api, &format!("user-{i:02}")).await }
    }));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        workers[0].kill9();
    };
    let (_, ()) = tokio::join!(asked, killer);
    // Every question is committed, also those the killed worker held (redelivered, and
    // retried after a deadlock between batches if need be).
    wait_for("20 questions committed", async || {
        count_rows(&conn, "questions", None).await == 20
    })
    .await;
    wait_for("6 questions served", async || serving(&conn).await.len() == 6).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    check_invariants(&conn, 2).await;
    assert_eq!(serving(&conn).await.len(), 6, "two each, no more");
    assert_eq!(count_rows(&conn, "questions", Some("status = 1")).await, 14);

    // carol goes away: her finished questions free room she is not given.
    status(&api, "carol", &sessions[2], "away").await;
    let oldest_waiting = |n: u64| {
        let conn = conn.clone();
        async move {
            let rows = conn
                .query_all(Statement::from_string(
                    conn.get_database_backend(),
                    format!("SELECT id FROM questions WHERE status = 1 ORDER BY created_at, id LIMIT {n}"),
                ))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "id").unwrap())
                .collect::<Vec<_>>()
        }
    };
    for (agent, session) in ["alice", "bob", "carol"].iter().zip(&sessions) {
        let mine: Vec<String> = serving(&conn)
            .await
            .into_iter()
            .filter(|(_, s)| s == agent)
            .map(|(q, _)| q)
            .collect();
        let next = oldest_waiting(1).await;
        let (code, body) = api
            .post_json(
                &format!("/v1/question/{}/finish", mine[0]),
                json!({ "session": session, "serv_id": agent }),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        if *agent != "carol" {
            // The oldest waiting question went to the agent who made room.
            wait_for("the next question assigned", async || {
                serving(&conn).await.iter().any(|(q, s)| q == &next[0] && s == agent)
            })
            .await;
        }
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let now = serving(&conn).await;
    assert_eq!(
        now.iter().filter(|(_, s)| s == "carol").count(),
        1,
        "carol, away, got none"
    );
    check_invariants(&conn, 2).await;

    // Back online, she is given one more up to her capacity, by the surviving workers.
    status(&api, "carol", &sessions[2], "online").await;
    wait_for("carol back at capacity", async || {
        serving(&conn).await.iter().filter(|(_, s)| s == "carol").count() == 2
    })
    .await;
    check_invariants(&conn, 2).await;
    let served_by: i64 = count_rows(&conn, "messages", Some("msg_type = 4 AND action = 1")).await;
    assert_eq!(served_by, 9, "6 + 2 + 1 serves, each once");

    // Unbinding makes an agent offline.
    let (code, _) = api
        .post_form(
            "/v1/serv/unbind",
            &[("session", &sessions[1]), ("serv_id", "bob"), ("password", "secret-pw")],
        )
        .await;
    assert_eq!(code, 200);
    let (_, shown) = api.get("/v1/serv/bob/status", &[("session", &sessions[0])]).await;
    assert_eq!(shown["presence"], "offline", "{shown}");
    drop(workers);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_pass_on_when_unanswered_and_are_accepted_or_declined_rabbitmq_postgres() {
    const TOKEN: &str = "the-admin-token-of-the-offers-test";
    let app = support::spawn_custom(
        Backend::RabbitPostgres,
        |c| c.admin_token = Some(kefu_common::infra::config::SecretString::from(TOKEN)),
        true,
    )
    .await;
    // Through the admin API this time (the other tests use the CLI).
    let (code, routing) = app
        .admin_post(
            TOKEN,
            "/admin/v1/apps/com.example.shop/routing",
            json!({ "mode": "auto", "offer_timeout": "2s" }),
        )
        .await;
    assert_eq!(code, 200, "{routing}");
    assert_eq!(
        (routing["mode"].clone(), routing["offer_timeout"].clone()),
        (json!("auto"), json!(2))
    );
    let (code, body) = app
        .admin_post(
            TOKEN,
            "/admin/v1/apps/com.example.shop/routing",
            json!({ "mode": "sometimes" }),
        )
        .await;
    assert_eq!((code.as_u16(), body["field"].clone()), (400, json!("mode")), "{body}");
    for agent in ["alice", "bob"] {
        let (code, view) = app
            .admin_post(
                TOKEN,
                &format!("/admin/v1/agents/{agent}"),
                json!({ "max_concurrent": 1 }),
            )
            .await;
        assert_eq!(
            (code.as_u16(), view["max_concurrent"].clone()),
            (200, json!(1)),
            "{view}"
        );
    }
    let alice = app.agent_session("alice").await;
    let bob = app.agent_session("bob").await;
    status(&app.api, "alice", &alice, "online").await;
    status(&app.api, "bob", &bob, "online").await;
    let offered_to = |q: String| {
        let db = app.db.clone();
        async move {
            let row = db
                .query_one(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT offered_to FROM questions WHERE id = '{q}'"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<Option<String>>("", "offered_to").unwrap()
        }
    };
    let q = ask(&app.api, "olga").await;
    let first = offered_to(q.clone()).await.expect("offered at once");
    let other = if first == "alice" { "bob" } else { "alice" };
    let session_of = |a: &str| if a == "alice" { alice.clone() } else { bob.clone() };
    // The one not offered it cannot take it.
    let (code, body) = app
        .post_json(
            &format!("/v1/question/{q}/accept"),
            json!({ "session": session_of(other), "serv_id": other }),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    support::assert_code(&body, "not_offered");
    // Unanswered for 2 s, the offer passes to the other agent.
    let started = Instant::now();
    wait_for("the offer passed on", async || {
        offered_to(q.clone()).await.as_deref() == Some(other)
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "not before its timeout"
    );
    let (code, body) = app
        .post_json(
            &format!("/v1/question/{q}/accept"),
            json!({ "session": session_of(other), "serv_id": other }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(serving(&app.db).await, vec![(q.clone(), other.to_owned())]);
    // The next goes to the one with room; declined, nobody else has room: it waits.
    let q2 = ask(&app.api, "pia").await;
    assert_eq!(offered_to(q2.clone()).await.as_deref(), Some(first.as_str()));
    let (code, body) = app
        .post_json(
            &format!("/v1/question/{q2}/decline"),
            json!({ "session": session_of(&first), "serv_id": first }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(serving(&app.db).await.len(), 1);
    assert_eq!(count_rows(&app.db, "questions", Some("status = 1")).await, 1);
    app.shutdown().await;
}

/// An SSE stream read into a string in the background.
async fn follow(url: String) -> (std::sync::Arc<std::sync::Mutex<String>>, tokio::task::JoinHandle<()>) {
    let mut response = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&text);
    let task = tokio::spawn(async move {
        while let Ok(Some(chunk)) = response.chunk().await {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    (text, task)
}

async fn act(app: &support::TestApp, q: &str, action: &str, session: &str, serv_id: &str) -> (u16, Value) {
    let (code, body) = app
        .post_json(
            &format!("/v1/question/{q}/{action}"),
            json!({ "session": session, "serv_id": serv_id }),
        )
        .await;
    (code.as_u16(), body)
}

#[tokio::test]
async fn transfer_rating_and_figures_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let db_url = app.config.database_url.clone();
    admin(&db_url, &["app", "create", "--identify", "com.example.other"]);
    create_agent(&db_url, "dave", "com.example.other", "secret-pw\n");
    admin(
        &db_url,
        &[
            "app",
            "update",
            "--identify",
            "com.example.shop",
            "--ask-rating",
            "true",
        ],
    );
    let alice = app.agent_session("alice").await;
    let bob = app.agent_session("bob").await;
    let user = app.session("ann").await;
    let other_user = app.session("ben").await;
    let (_, q) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "help" }))
        .await;
    let q = q["question_id"].as_str().unwrap().to_owned();
    assert_eq!(act(&app, &q, "serve", &alice, "alice").await.0, 200);
    let (code, _) = app
        .post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "hello" }),
        )
        .await;
    assert_eq!(code, 200);

    // Capacity: bob may serve one; a manual serve beyond it is refused.
    admin(
        &db_url,
        &["agent", "update", "--serv-id", "bob", "--max-concurrent", "1"],
    );
    let (_, q2) = app
        .post_json("/v1/question/new", json!({ "session": other_user, "title": "two" }))
        .await;
    let q2 = q2["question_id"].as_str().unwrap().to_owned();
    let (_, q3) = app
        .post_json("/v1/question/new", json!({ "session": other_user, "title": "three" }))
        .await;
    let q3 = q3["question_id"].as_str().unwrap().to_owned();
    assert_eq!(act(&app, &q2, "serve", &bob, "bob").await.0, 200);
    let (code, body) = act(&app, &q3, "serve", &bob, "bob").await;
    assert_eq!(code, 409, "{body}");
    support::assert_code(&body, "agent_at_capacity");
    assert_eq!(body["field"], "serv_id");

    // Transfer: refused to an agent without the app, or at capacity; done to one with room.
    let transfer = |to: &'static str, note: Option<&'static str>| {
        let (app, alice, q) = (&app, alice.clone(), q.clone());
        async move {
            let mut body = json!({ "session": alice, "serv_id": "alice", "to_serv_id": to });
            if let Some(note) = note {
                body["note"] = json!(note);
            }
            app.post_json(&format!("/v1/question/{q}/transfer"), body).await
        }
    };
    let (code, body) = transfer("dave", None).await;
    assert_eq!(
        (code.as_u16(), body["field"].clone()),
        (403, json!("to_serv_id")),
        "{body}"
    );
    let (code, body) = transfer("bob", None).await;
    assert_eq!(code, 409, "{body}");
    support::assert_code(&body, "agent_at_capacity");
    assert_eq!(body["field"], "to_serv_id");
    let (code, body) = app
        .post_json(
            &format!("/v1/question/{q}/transfer"),
            json!({ "session": alice, "serv_id": "alice", "to_serv_id": "bob", "note": "n".repeat(201) }),
        )
        .await;
    assert_eq!((code.as_u16(), body["field"].clone()), (400, json!("note")), "{body}");
    assert_eq!(act(&app, &q2, "finish", &bob, "bob").await.0, 200);
    let (bob_stream, reading) = follow(app.url(&format!("/v1/serv/bob/stream?session={bob}"))).await;
    let (user_stream, reading_user) = follow(app.url(&format!("/v1/user/ann/stream?session={user}"))).await;
    let (code, body) = transfer("bob", Some("VIP: wants a refund")).await;
    assert_eq!(code, 200, "{body}");
    wait_for("bob told of the transfer", async || {
        let text = bob_stream.lock().unwrap().clone();
        text.contains("event: transferred")
            && text.contains("VIP: wants a refund")
            && text.contains(r#""from_serv_id":"alice""#)
    })
    .await;
    wait_for("ann told of the transfer", async || {
        user_stream.lock().unwrap().contains(r#""action":7"#)
    })
    .await;
    assert!(
        !user_stream.lock().unwrap().contains("VIP"),
        "the note is for the agent only"
    );
    reading.abort();
    reading_user.abort();
    assert_eq!(serving(&app.db).await.iter().find(|(id, _)| id == &q).unwrap().1, "bob");
    let (_, msgs) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", &user)])
        .await;
    assert_eq!(msgs["messages"][0]["action"], 7, "{msgs}");
    assert!(
        !msgs.to_string().contains("VIP"),
        "the note is for the agent only: {msgs}"
    );
    assert_eq!(
        count_rows(
            &app.db,
            "outbox_events",
            Some("event_type = 'kefu.question.transferred'")
        )
        .await,
        1
    );

    // Rating: once, by its user, once finished (action 8 asks for it).
    let rate = |session: String, score: i64| {
        let (app, q) = (&app, q.clone());
        async move {
            app.post_json(
                &format!("/v1/question/{q}/rate"),
                json!({ "session": session, "score": score, "comment": "快" }),
            )
            .await
        }
    };
    let (code, body) = rate(user.clone(), 5).await;
    assert_eq!(code, 409, "{body}");
    support::assert_code(&body, "question_not_finished");
    assert_eq!(act(&app, &q, "finish", &bob, "bob").await.0, 200);
    let (_, msgs) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", &user)])
        .await;
    assert_eq!(msgs["messages"][0]["action"], 8, "{msgs}");
    let (code, body) = rate(user.clone(), 6).await;
    assert_eq!((code.as_u16(), body["field"].clone()), (400, json!("score")), "{body}");
    let (code, body) = rate(other_user.clone(), 4).await;
    assert_eq!(code, 403, "{body}");
    support::assert_code(&body, "not_question_owner");
    let (code, body) = rate(user.clone(), 4).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = rate(user.clone(), 1).await;
    assert_eq!(code, 409, "{body}");
    support::assert_code(&body, "already_rated");

    // The figures are what happened: bob served q2 and q (finished both), rated 4.
    let (_, stats) = app
        .get("/v1/serv/bob/stats", &[("session", &bob), ("since", "1h")])
        .await;
    assert_eq!(
        (stats["served"].clone(), stats["finished"].clone()),
        (json!(2), json!(2)),
        "{stats}"
    );
    assert_eq!(stats["ratings"]["average"], 4.0, "{stats}");
    let report = admin(&db_url, &["report", "--identify", "com.example.shop", "--since", "1h"]);
    assert_eq!(report["asked"], 3, "{report}");
    assert_eq!(report["served"], 2, "{report}");
    assert_eq!(report["finished"], 2, "{report}");
    assert_eq!(report["ratings"]["histogram"]["4"], 1, "{report}");
    assert_eq!(report["ratings"]["count"], 1, "{report}");
    assert_eq!(report["waiting"]["count"], 2, "{report}");
    let agents: Vec<&str> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["serv_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents, vec!["bob"], "{report}");
    let (_, stats) = app.get("/v1/serv/bob/stats", &[("session", &alice)]).await;
    support::assert_code(&stats, "not_bound");
    app.shutdown().await;
}
