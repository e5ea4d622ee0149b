//! The question lifecycle end to end through HTTP, on each backend:
//! RabbitMQ + PostgreSQL, RabbitMQ + MariaDB, and the embedded default (SQLite).

mod support;

use serde_json::{json, Value};
use support::{spawn_app, Backend, TestApp};

fn ids(list: &Value) -> Vec<String> {
    list["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["question_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn send_text(
    app: &TestApp,
    qid: &str,
    session: &str,
    sender: &str,
    sender_type: &str,
    text: &str,
) -> (reqwest::StatusCode, Value) {
    app.post_form(
        &format!("/v1/question/{qid}/message/send_text"),
        &[
            ("session", session),
            ("sender", sender),
            ("sender_type", sender_type),
            ("text", text),
        ],
    )
    .await
}

async fn transition(
    app: &TestApp,
    qid: &str,
    action: &str,
    session: &str,
    serv_id: &str,
) -> (reqwest::StatusCode, Value) {
    app.post_json(
        &format!("/v1/question/{qid}/{action}"),
        json!({ "session": session, "serv_id": serv_id }),
    )
    .await
}

fn assert_refused(result: (reqwest::StatusCode, Value), http: u16, code: &str) {
    let (status, body) = result;
    assert_eq!(status.as_u16(), http, "{body}");
    assert_eq!(body["status"], 300, "{body}");
    support::assert_code(&body, code);
    assert!(body["debug"].is_string(), "{body}");
}

async fn lifecycle(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let bob = app.agent_session("bob").await;

    // question/new, as a form with the label list as a JSON string (the spec's example) …
    let (status, body) = app
        .post_form(
            "/v1/question/new",
            &[
                ("session", &user),
                ("title", "空调没人来装"),
                ("label", r#"["激活","安卓4.3"]"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let q1 = body["question_id"].as_str().unwrap().to_owned();
    assert_eq!(q1.len(), 24);
    assert!(q1.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(body["question"], json!({ "id": q1, "status": 1 }));
    // … and as JSON with a real array.
    let (status, body) = app
        .post_json(
            "/v1/question/new",
            json!({ "session": user, "title": "second", "label": ["other"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let q2 = body["question_id"].as_str().unwrap().to_owned();
    assert!(q2 > q1, "ids are time-ordered");

    // The waiting list: newest first by default, with the user's details.
    let (status, list) = app.get("/v1/question/list", &[("session", &alice)]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), vec![q2.clone(), q1.clone()]);
    let item = &list["questions"][1];
    assert_eq!(item["user_id"], "u1");
    assert_eq!(item["user_name"], "User u1");
    assert_eq!(item["user_image_url"], "https://img.example.com/u1.png");
    assert_eq!(item["title"], "空调没人来装");
    assert!(item["timestamp"].as_f64().unwrap() > 1.7e9);
    let (_, list) = app
        .get("/v1/question/list", &[("session", &alice), ("sort", "1")])
        .await;
    assert_eq!(ids(&list), vec![q1.clone(), q2.clone()]);
    let (_, list) = app
        .get("/v1/question/list", &[("session", &alice), ("label", "激活")])
        .await;
    assert_eq!(ids(&list), vec![q1.clone()]);
    let (_, list) = app
        .get(
            "/v1/question/list",
            &[("session", &alice), ("identify", "com.example.shop")],
        )
        .await;
    assert_eq!(ids(&list).len(), 2);
    let (_, list) = app
        .get(
            "/v1/question/list",
            &[("session", &alice), ("identify", "com.other.app")],
        )
        .await;
    assert_eq!(ids(&list).len(), 0);
    let (_, waits) = app.get("/v1/user/u1/waits", &[("session", &user)]).await;
    assert_eq!(ids(&waits), vec![q2.clone(), q1.clone()]);
    // Only agents see the waiting list.
    assert_refused(
        app.get("/v1/question/list", &[("session", &user)]).await,
        403,
        "not_bound",
    );

    // The user may write while waiting; an agent may not before serving.
    let (status, body) = send_text(&app, &q1, &user, "u1", "1", "hello?").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message_id"].as_str().unwrap().len(), 24);
    assert_refused(
        send_text(&app, &q1, &alice, "alice", "2", "hi").await,
        409,
        "question_not_served",
    );

    // serve → serving(2) with alice; a second agent is refused.
    let (status, body) = transition(&app, &q1, "serve", &alice, "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message_id"].as_str().unwrap().len(), 24);
    assert_refused(
        transition(&app, &q1, "serve", &bob, "bob").await,
        409,
        "question_already_served",
    );
    assert_refused(
        send_text(&app, &q1, &bob, "bob", "2", "me too").await,
        409,
        "question_served_by_other",
    );
    // A session may act only as the agent it is bound to.
    assert_refused(transition(&app, &q2, "serve", &bob, "alice").await, 403, "not_bound");
    let (status, body) = send_text(&app, &q1, &alice, "alice", "2", "How can I help?").await;
    assert_eq!(status, 200, "{body}");

    let (_, list) = app.get("/v1/question/list", &[("session", &alice)]).await;
    assert_eq!(ids(&list), vec![q2.clone()], "served question left the waiting list");
    let (status, tasks) = app.get("/v1/serv/alice/tasks", &[("session", &alice)]).await;
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(ids(&tasks), vec![q1.clone()]);
    let task = &tasks["questions"][0];
    assert_eq!(task["last_mess_text"], "How can I help?");
    assert_eq!(task["last_mess_sender"], "alice");
    assert_eq!(task["last_mess_sender_type"], 2);
    assert!(task["last_mess_timestamp"].as_f64().unwrap() >= task["timestamp"].as_f64().unwrap());
    assert_refused(
        app.get("/v1/serv/alice/tasks", &[("session", &bob)]).await,
        403,
        "not_bound",
    );
    let (_, utasks) = app.get("/v1/user/u1/tasks", &[("session", &user)]).await;
    assert_eq!(
        utasks["questions"],
        json!([{ "question_id": q1, "timestamp": task["timestamp"], "serv_id": "alice", "title": "空调没人来装" }])
    );

    // quit → waiting again; bob serves; only bob may finish.
    let (status, body) = transition(&app, &q1, "quit", &alice, "alice").await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = app.get("/v1/question/list", &[("session", &bob)]).await;
    assert_eq!(ids(&list), vec![q2.clone(), q1.clone()]);
    assert_refused(
        transition(&app, &q1, "finish", &alice, "alice").await,
        409,
        "question_not_served",
    );
    let (status, _) = transition(&app, &q1, "serve", &bob, "bob").await;
    assert_eq!(status, 200);
    assert_refused(
        transition(&app, &q1, "quit", &alice, "alice").await,
        409,
        "question_served_by_other",
    );
    let (status, body) = transition(&app, &q1, "finish", &bob, "bob").await;
    assert_eq!(status, 200, "{body}");

    // finished(3): nobody writes; the user sees it among the "overs".
    let (_, overs) = app.get("/v1/user/u1/overs", &[("session", &user)]).await;
    assert_eq!(ids(&overs), vec![q1.clone()]);
    assert_eq!(overs["questions"][0]["serv_id"], "bob");
    assert_refused(
        send_text(&app, &q1, &user, "u1", "1", "one more thing").await,
        409,
        "question_finished",
    );
    assert_refused(
        send_text(&app, &q1, &bob, "bob", "2", "bye").await,
        409,
        "question_finished",
    );
    assert_refused(
        transition(&app, &q1, "serve", &alice, "alice").await,
        409,
        "question_finished",
    );

    // reopen → serving again by the same agent.
    assert_refused(
        app.post_form(&format!("/v1/question/{q2}/reopen"), &[("session", &user)])
            .await,
        409,
        "question_not_finished",
    );
    let other = app.session("u2").await;
    assert_refused(
        app.post_form(&format!("/v1/question/{q1}/reopen"), &[("session", &other)])
            .await,
        403,
        "not_question_owner",
    );
    let (status, body) = app
        .post_form(&format!("/v1/question/{q1}/reopen"), &[("session", &user)])
        .await;
    assert_eq!(status, 200, "{body}");
    let reopen_id = body["message_id"].as_str().unwrap().to_owned();
    let (_, alls) = app.get("/v1/user/u1/alls", &[("session", &user)]).await;
    let first = alls["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["question_id"] == q1.as_str())
        .unwrap()
        .clone();
    assert_eq!(first["status"], 2);
    assert_eq!(first["serv_id"], "bob");
    let (_, tasks) = app.get("/v1/serv/bob/tasks", &[("session", &bob)]).await;
    assert_eq!(ids(&tasks), vec![q1.clone()]);

    // The conversation, oldest first: texts and one notification per transition.
    let (status, msgs) = app
        .get(
            &format!("/v1/question/{q1}/message"),
            &[("session", &user), ("sort", "1")],
        )
        .await;
    assert_eq!(status, 200, "{msgs}");
    let summary: Vec<(i64, i64, String)> = msgs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["type"].as_i64().unwrap(),
                m["action"].as_i64().unwrap_or(0),
                m["sender"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |t: i64, a: i64, s: &str| (t, a, s.to_owned());
    assert_eq!(
        summary,
        vec![
            expect(3, 0, "u1"),
            expect(4, 1, "alice"),
            expect(3, 0, "alice"),
            expect(4, 2, "alice"),
            expect(4, 1, "bob"),
            expect(4, 4, "bob"),
            expect(4, 6, "u1"),
        ]
    );
    assert_eq!(msgs["messages"][0]["text"], "hello?");
    assert_eq!(msgs["messages"][0]["sender_type"], 1);
    assert_eq!(msgs["messages"][6]["message_id"], reopen_id.as_str());
    // Default order is newest first; the agent of the app may read it too.
    let (_, newest) = app
        .get(
            &format!("/v1/question/{q1}/message"),
            &[("session", &alice), ("num", "1")],
        )
        .await;
    assert_eq!(newest["messages"][0]["message_id"], reopen_id.as_str());
    assert_eq!(newest["messages"].as_array().unwrap().len(), 1);

    // Pagination: page/num and the cursor give the same pages.
    let (_, p1) = app
        .get(
            &format!("/v1/question/{q1}/message"),
            &[("session", &user), ("sort", "1"), ("num", "3"), ("page", "1")],
        )
        .await;
    let p1_ids: Vec<&Value> = p1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["message_id"])
        .collect();
    let all_ids: Vec<&Value> = msgs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["message_id"])
        .collect();
    assert_eq!(p1_ids, all_ids[3..6].to_vec());
    let cursor = all_ids[2].as_str().unwrap();
    let (_, c1) = app
        .get(
            &format!("/v1/question/{q1}/message"),
            &[("session", &user), ("sort", "1"), ("num", "3"), ("message_id", cursor)],
        )
        .await;
    assert_eq!(
        c1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["message_id"])
            .collect::<Vec<_>>(),
        p1_ids
    );

    // Unknown question.
    assert_refused(
        transition(&app, "0123456789abcdef01234567", "serve", &alice, "alice").await,
        404,
        "unknown_question",
    );
    assert_refused(
        app.get("/v1/question/0123456789abcdef01234567/message", &[("session", &user)])
            .await,
        404,
        "unknown_question",
    );

    // User ids are exact on every backend: "U1" is not "u1" (MariaDB collations included).
    let upper = app.session("U1").await;
    let (status, alls) = app.get("/v1/user/U1/alls", &[("session", &upper)]).await;
    assert_eq!(status, 200, "{alls}");
    assert_eq!(ids(&alls), Vec::<String>::new());
    assert_refused(
        app.get("/v1/user/u1/alls", &[("session", &upper)]).await,
        403,
        "forbidden",
    );

    // A body without Content-Type is still understood (JSON if it opens with `{`).
    let raw = app
        .http
        .post(app.url("/v1/question/new"))
        .body(json!({ "session": user, "title": "bare" }).to_string());
    let (status, body) = support::read(raw.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let raw = app
        .http
        .post(app.url("/v1/question/new"))
        .body(format!("session={user}&title=bare+form"));
    let (status, body) = support::read(raw.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // Unbind: the session can no longer act as alice.
    let (status, _) = app
        .post_form(
            "/v1/serv/unbind",
            &[("session", &alice), ("serv_id", "alice"), ("password", "secret-pw")],
        )
        .await;
    assert_eq!(status, 200);
    assert_refused(
        app.get("/v1/question/list", &[("session", &alice)]).await,
        403,
        "not_bound",
    );

    app.shutdown().await;
}

/// `Idempotency-Key`: a retry gets the first answer and changes nothing; the same key
/// for another request is refused.
async fn idempotency(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.session("u1").await;
    let send = |title: &'static str| {
        app.http
            .post(app.url("/v1/question/new"))
            .header("Idempotency-Key", "order-42")
            .json(&json!({ "session": user, "title": title }))
            .send()
    };
    let (s1, b1) = support::read(send("same").await.unwrap()).await;
    let (s2, b2) = support::read(send("same").await.unwrap()).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200), "{b1} {b2}");
    assert_eq!(b1, b2);
    assert_eq!(app.count("questions").await, 1);
    let (s3, b3) = support::read(send("different").await.unwrap()).await;
    assert_eq!(s3, 409, "{b3}");
    support::assert_code(&b3, "idempotency_key_reused");
    assert_eq!(app.count("questions").await, 1);
    app.shutdown().await;
}

/// `Prefer: respond-async`: 202 with the assigned ids once the broker confirmed; the
/// write becomes visible shortly after.
async fn respond_async(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.session("u1").await;
    let resp = app
        .http
        .post(app.url("/v1/question/new"))
        .header("Prefer", "respond-async")
        .form(&[("session", user.as_str()), ("title", "later")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("preference-applied").unwrap(), "respond-async");
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 202, "{body}");
    let qid = body["question_id"].as_str().unwrap().to_owned();
    assert!(body["request_id"].as_str().unwrap().len() == 36);
    let mut seen = false;
    for _ in 0..100 {
        let (_, waits) = app.get("/v1/user/u1/waits", &[("session", &user)]).await;
        if ids(&waits) == vec![qid.clone()] {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the async command was applied");

    // session/new answered 202 still hands out the session it will create.
    let raw = serde_json::to_vec(&json!({ "identify": app.identify, "user_id": "u7", "user_name": "U7" })).unwrap();
    let ts = support::now_ms().to_string();
    let sig = support::sign(&app.secret, &ts, "POST", "/v1/session/new", &raw);
    let resp = app
        .http
        .post(app.url("/v1/session/new"))
        .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
        .header("content-type", "application/json")
        .header("Prefer", "respond-async")
        .body(raw)
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 202, "{body}");
    let session = body["session"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].as_i64().unwrap() > 1_700_000_000);
    let mut usable = false;
    for _ in 0..100 {
        let (status, _) = app.get("/v1/user/u7/alls", &[("session", &session)]).await;
        if status == 200 {
            usable = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(usable, "the session from the 202 works once applied");
    app.shutdown().await;
}

/// A retry with the same `Idempotency-Key` while the first attempt is still queued
/// re-publishes the same command: same ids in the answer; another body is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_while_queued_rabbitmq_postgres() {
    let app = support::spawn_custom(Backend::RabbitPostgres, |_| {}, false).await;
    let session = support::seed_session(&app).await;
    const HEADERS: [(&str, &str); 2] = [("Prefer", "respond-async"), ("Idempotency-Key", "retry-1")];
    let send = |title: &'static str| {
        app.post_json_with(
            "/v1/question/new",
            json!({ "session": session, "title": title }),
            &HEADERS,
        )
    };
    let (s1, b1) = send("same").await;
    let (s2, b2) = send("same").await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202), "{b1} {b2}");
    assert_eq!(
        b1["question_id"], b2["question_id"],
        "the retry reports the ids that will exist"
    );
    assert_eq!(b1["request_id"], b2["request_id"]);
    let (s3, b3) = send("different").await;
    assert_eq!(s3, 409, "{b3}");
    support::assert_code(&b3, "idempotency_key_reused");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rabbitmq_postgres() {
    lifecycle(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rabbitmq_mariadb() {
    lifecycle(Backend::RabbitMariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_embedded_sqlite() {
    lifecycle(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_rabbitmq_postgres() {
    idempotency(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_rabbitmq_mariadb() {
    idempotency(Backend::RabbitMariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_embedded_sqlite() {
    idempotency(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respond_async_rabbitmq_postgres() {
    respond_async(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respond_async_embedded_sqlite() {
    respond_async(Backend::Embedded).await;
}
