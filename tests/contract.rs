//! The API's contract with clients written for the original system: integer error codes
//! (docs/errors.md), list items without nulls, the always-200 mode, database outages,
//! and the OpenAPI document (current, valid, served). Every response read through the
//! test client is also checked against the document (support::contract).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::proxy::Proxy;
use support::{admin, now_ms, read, spawn_app, spawn_custom, Backend, TestApp, TestDb};

/// The names of docs/errors.md's table.
fn documented_codes() -> BTreeSet<String> {
    include_str!("../docs/errors.md")
        .split("## Leave messages")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("| 1") || l.starts_with("| 2") || l.starts_with("| 3"))
        .map(|l| l.split('|').nth(2).unwrap().trim().trim_matches('`').to_owned())
        .collect()
}

/// Records which codes a test provoked, checking each answer's status, integer code and
/// field on the way.
#[derive(Default)]
struct Provoked(BTreeSet<String>);

impl Provoked {
    #[track_caller]
    fn check(&mut self, result: (reqwest::StatusCode, Value), http: u16, name: &str, field: Option<&str>) {
        let (status, body) = result;
        assert_eq!(status.as_u16(), http, "{name}: {body}");
        support::assert_code(&body, name);
        assert_eq!(body.get("field").and_then(Value::as_str), field, "{name}: {body}");
        assert!(!body["debug"].as_str().unwrap_or_default().is_empty(), "{body}");
        self.0.insert(name.to_owned());
    }
}

async fn new_question(app: &TestApp, session: &str) -> String {
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": session, "title": "help" }))
        .await;
    assert_eq!(status, 200, "{body}");
    body["question_id"].as_str().unwrap().to_owned()
}

async fn act(app: &TestApp, qid: &str, action: &str, session: &str, serv_id: &str) -> (reqwest::StatusCode, Value) {
    app.post_json(
        &format!("/v1/question/{qid}/{action}"),
        json!({ "session": session, "serv_id": serv_id }),
    )
    .await
}

async fn text(app: &TestApp, qid: &str, session: &str, sender: &str, sender_type: i64) -> (reqwest::StatusCode, Value) {
    app.post_json(
        &format!("/v1/question/{qid}/message/send_text"),
        json!({ "session": session, "sender": sender, "sender_type": sender_type, "text": "hi" }),
    )
    .await
}

/// Every code of docs/errors.md, provoked through HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_rabbitmq_postgres() {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.admin_token = Some(kefu_common::infra::config::SecretString::from(
                "the-admin-token-of-this-test",
            ))
        },
        true,
    )
    .await;
    let mut seen = Provoked::default();
    let user = app.session("u1").await;
    let other = app.session("u2").await;
    let alice = app.agent_session("alice").await;
    let bob = app.agent_session("bob").await;
    let q = new_question(&app, &user).await;

    // General codes.
    seen.check(
        app.post_json(&format!("/v1/question/{q}/serve"), json!({ "session": alice }))
            .await,
        400,
        "missing_field",
        Some("serv_id"),
    );
    seen.check(
        app.post_json("/v1/question/new", json!({ "session": user, "title": "t".repeat(201) }))
            .await,
        400,
        "invalid_field",
        Some("title"),
    );
    seen.check(
        app.post_json(
            "/v1/question/not-an-id/serve",
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await,
        400,
        "invalid_field",
        Some("question_id"),
    );
    seen.check(
        app.post_json("/v1/question/new", json!({ "title": "x" })).await,
        401,
        "invalid_session",
        Some("session"),
    );
    seen.check(
        app.get("/v1/user/nobody/alls", &[("session", &alice)]).await,
        404,
        "unknown_user",
        Some("user_id"),
    );

    // Agent accounts.
    seen.check(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &user), ("serv_id", "nobody"), ("password", "secret-pw")],
        )
        .await,
        401,
        "unknown_agent",
        Some("serv_id"),
    );
    seen.check(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &user), ("serv_id", "alice"), ("password", "wrong")],
        )
        .await,
        401,
        "wrong_password",
        Some("password"),
    );

    // The question module's codes.
    seen.check(
        act(&app, "0123456789abcdef01234567", "serve", &alice, "alice").await,
        404,
        "unknown_question",
        Some("question_id"),
    );
    seen.check(
        act(&app, &q, "quit", &alice, "alice").await,
        409,
        "question_not_served",
        Some("question_id"),
    );
    seen.check(
        text(&app, &q, &alice, "alice", 2).await,
        409,
        "question_not_served",
        Some("question_id"),
    );
    assert_eq!(act(&app, &q, "serve", &alice, "alice").await.0, 200);
    seen.check(
        act(&app, &q, "serve", &bob, "bob").await,
        409,
        "question_already_served",
        Some("question_id"),
    );
    seen.check(
        act(&app, &q, "finish", &bob, "bob").await,
        409,
        "question_served_by_other",
        Some("serv_id"),
    );
    seen.check(
        text(&app, &q, &bob, "bob", 2).await,
        409,
        "question_served_by_other",
        Some("serv_id"),
    );
    seen.check(text(&app, &q, &other, "u2", 1).await, 403, "not_question_owner", None);
    seen.check(
        app.post_form(&format!("/v1/question/{q}/reopen"), &[("session", &user)])
            .await,
        409,
        "question_not_finished",
        Some("question_id"),
    );
    assert_eq!(act(&app, &q, "finish", &alice, "alice").await.0, 200);
    seen.check(
        text(&app, &q, &alice, "alice", 2).await,
        409,
        "question_finished",
        Some("question_id"),
    );
    seen.check(
        text(&app, &q, &user, "u1", 1).await,
        409,
        "question_finished",
        Some("question_id"),
    );
    seen.check(
        app.post_form(&format!("/v1/question/{q}/reopen"), &[("session", &other)])
            .await,
        403,
        "not_question_owner",
        None,
    );

    // Kefu's own codes.
    seen.check(
        act(&app, &q, "serve", &user, "alice").await,
        403,
        "not_bound",
        Some("serv_id"),
    );
    seen.check(text(&app, &q, &user, "u2", 1).await, 403, "forbidden", Some("sender"));
    let raw = |body: &'static [u8], ctype: &'static str| {
        app.http
            .post(app.url("/v1/question/new"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    seen.check(
        read(raw(b"{\"session\":", "application/json").await.unwrap()).await,
        400,
        "malformed_body",
        None,
    );
    seen.check(
        read(raw(b"session=x", "text/plain").await.unwrap()).await,
        415,
        "unsupported_media_type",
        None,
    );
    let huge = json!({ "session": user, "title": "x".repeat(70 * 1024) });
    seen.check(
        app.post_json("/v1/question/new", huge).await,
        413,
        "body_too_large",
        None,
    );
    let body = json!({ "identify": "com.example.nope", "user_id": "u9", "user_name": "N" });
    seen.check(
        app.signed_session_new(&body, now_ms(), &app.secret.clone()).await,
        404,
        "unknown_app",
        Some("identify"),
    );
    let body = json!({ "identify": app.identify, "user_id": "u9", "user_name": "N" });
    seen.check(
        app.signed_session_new(&body, now_ms(), "not-the-secret").await,
        401,
        "bad_signature",
        Some("signature"),
    );
    seen.check(
        app.signed_session_new(&body, now_ms() - 600_000, &app.secret.clone())
            .await,
        401,
        "expired_timestamp",
        Some("timestamp"),
    );
    let keyed = |title: &'static str| {
        app.post_json_with(
            "/v1/question/new",
            json!({ "session": user, "title": title }),
            &[("Idempotency-Key", "contract-key-1")],
        )
    };
    assert_eq!(keyed("first").await.0, 200);
    seen.check(
        keyed("second").await,
        409,
        "idempotency_key_reused",
        Some("Idempotency-Key"),
    );
    seen.check(app.get("/v1/nothing/here", &[]).await, 404, "not_found", None);
    let resp = app
        .http
        .get(app.url("/admin/v1/leavemessages"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    seen.check(read(resp).await, 401, "bad_admin_token", None);
    seen.check(
        app.post_json(
            &format!("/v1/question/{q}/message/send_image"),
            json!({ "session": user, "sender": "u1", "sender_type": 1, "image": "*** not base64 ***" }),
        )
        .await,
        400,
        "bad_base64",
        Some("image"),
    );
    seen.check(
        app.get(
            "/v1/leavemessage/6f1c1d7e-1b7a-4a8e-9a39-0f4c2b8e9d11",
            &[("session", &alice)],
        )
        .await,
        404,
        "unknown_leave_message",
        Some("id"),
    );
    seen.check(
        app.get("/v1/answer/template/0123456789abcdef01234567", &[("session", &alice)])
            .await,
        404,
        "unknown_template",
        Some("template_id"),
    );
    seen.check(
        read(app.http.get(app.url("/v1/question/new")).send().await.unwrap()).await,
        405,
        "method_not_allowed",
        None,
    );

    // Operators' codes: an existing app again; a disabled agent binding with its right
    // password; a disabled app's signed call.
    let token = "the-admin-token-of-this-test";
    let resp = app
        .http
        .post(app.url("/admin/v1/apps"))
        .bearer_auth(token)
        .json(&json!({ "identify": "com.example.shop" }))
        .send()
        .await
        .unwrap();
    seen.check(read(resp).await, 409, "already_exists", None);
    let resp = app
        .http
        .post(app.url("/admin/v1/agents/bob/disable"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let device = app.session("u9").await;
    seen.check(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &device), ("serv_id", "bob"), ("password", "secret-pw")],
        )
        .await,
        403,
        "agent_disabled",
        Some("serv_id"),
    );
    let resp = app
        .http
        .post(app.url("/admin/v1/apps/com.example.shop/disable"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "U" });
    let secret = app.secret.clone();
    seen.check(
        app.signed_session_new(&body, support::now_ms(), &secret).await,
        403,
        "app_disabled",
        Some("identify"),
    );
    let resp = app
        .http
        .post(app.url("/admin/v1/apps/com.example.shop/enable"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // 10000: a database error that is not an outage (a table gone) is internal, and
    // its details stay in the log.
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared("DROP TABLE users").await.unwrap();
    let (status, body) = app.get("/v1/question/list", &[("session", &alice)]).await;
    assert!(!body.to_string().contains("users"), "no internals leak: {body}");
    seen.check((status, body), 500, "internal", None);

    // Provoked by their own tests: the full queue (tests/broker.rs,
    // full_queue_answers_429_rabbitmq) and the outage (database_outage_* below).
    // and the rate limit (session_rate_limit_answers_10038_embedded_sqlite), the login
    // lock (tests/first_hour.rs, login_locks_are_shared_kept_and_lifted_rabbitmq_postgres),
    // the stream cap, the body timeout and the connection cap (tests/hardening.rs), and
    // capacity, ratings and offers (tests/routing.rs).
    let elsewhere: BTreeSet<String> = [
        "agent_at_capacity",
        "already_rated",
        "not_offered",
        "overloaded",
        "unavailable",
        "too_frequent",
        "agent_locked",
        "too_many_streams",
        "request_timeout",
        "too_many_connections",
    ]
    .map(String::from)
    .into();
    let missing: Vec<_> = documented_codes()
        .difference(&seen.0)
        .filter(|c| !elsewhere.contains(*c))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "codes never provoked: {missing:?}");
    app.shutdown().await;
}

/// A session over its rate gets 10038 with `Retry-After`; other sessions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_rate_limit_answers_10038_embedded_sqlite() {
    let app = spawn_custom(
        Backend::Embedded,
        |c| {
            c.session_rate_per_sec = 1;
            c.session_rate_burst = 3;
        },
        true,
    )
    .await;
    let user = app.session("u1").await;
    let other = app.session("u2").await;
    let list = |session: &str| {
        app.http
            .get(app.url("/v1/user/u1/alls"))
            .query(&[("session", session)])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(list(&user).await.unwrap().status(), 200);
    }
    let resp = list(&user).await.unwrap();
    assert_eq!(resp.status(), 429);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let (_, body) = read(resp).await;
    support::assert_code(&body, "too_frequent");
    assert_ne!(
        list(&other).await.unwrap().status(),
        429,
        "another session is not slowed"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(list(&user).await.unwrap().status(), 200, "the session recovers");
    app.shutdown().await;
}

/// `KEFU_ERROR_HTTP_STATUS=always-200`: every answer is HTTP 200, the outcome in the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_200_mode_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |c| c.error_http_status = "always-200".into(), true).await;
    let user = app.session("u1").await;
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "title": "no session" }))
        .await;
    assert_eq!(status, 200, "{body}");
    support::assert_code(&body, "invalid_session");
    let (status, body) = app.get("/v1/nothing/here", &[]).await;
    assert_eq!(status, 200, "{body}");
    support::assert_code(&body, "not_found");
    let (status, body) = app
        .post_json_with(
            "/v1/question/new",
            json!({ "session": user }),
            &[("Prefer", "respond-async")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 202, "{body}");
    let (status, body) = app.post_json("/v1/question/new", json!({ "session": user })).await;
    assert_eq!((status.as_u16(), body["status"].as_i64()), (200, Some(200)), "{body}");
    app.shutdown().await;
}

fn no_nulls(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => items.iter().all(no_nulls),
        Value::Object(map) => map.values().all(no_nulls),
        _ => true,
    }
}

/// The original's list defaults: no nulls, integers and floats where the spec says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_items_have_the_originals_defaults_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let alice = app.agent_session("alice").await;
    // A user without avatar, and one who sends nothing.
    let body = json!({ "identify": app.identify, "user_id": "plain", "user_name": "Plain" });
    let (status, opened) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
    assert_eq!(status, 200, "{opened}");
    let plain = opened["session"].as_str().unwrap().to_owned();
    let q = new_question(&app, &plain).await;

    let (_, list) = app.get("/v1/question/list", &[("session", &alice)]).await;
    let item = &list["questions"][0];
    assert!(no_nulls(&list), "{list}");
    assert_eq!(item["question_id"], q.as_str());
    assert_eq!(item["last_mess_text"], "");
    assert_eq!(item["last_mess_timestamp"], item["timestamp"]);
    assert!(item["last_mess_timestamp"].is_f64(), "{item}");
    assert_eq!(item["last_mess_sender"], "plain");
    assert_eq!(item["last_mess_sender_type"], 1);
    assert!(item["last_mess_sender_type"].is_i64());
    assert!(item["status"].is_i64());
    let built_in = format!("{}/static/default-avatar.png", app.base);
    assert_ne!(built_in, "");
    let avatar = item["user_image_url"].as_str().unwrap().to_owned();
    assert!(avatar.ends_with("/static/default-avatar.png"), "{item}");
    let png = app.http.get(&built_in).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // The app's own default avatar wins over the built-in one.
    admin(
        &app.config.database_url,
        &[
            "app",
            "update",
            "--identify",
            &app.identify,
            "--default-avatar-url",
            "https://cdn.example.com/shop-avatar.png",
        ],
    );
    let (_, list) = app.get("/v1/question/list", &[("session", &alice)]).await;
    assert_eq!(
        list["questions"][0]["user_image_url"],
        "https://cdn.example.com/shop-avatar.png"
    );

    // A user may write to a waiting question; an agent may not.
    let (status, body) = text(&app, &q, &plain, "plain", 1).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = text(&app, &q, &alice, "alice", 2).await;
    assert_eq!(status, 409);
    let (_, list) = app.get("/v1/question/list", &[("session", &alice)]).await;
    let item = &list["questions"][0];
    assert_eq!(item["last_mess_text"], "hi");
    assert_eq!(item["last_mess_sender"], "plain");
    assert!(item["last_mess_timestamp"].as_f64().unwrap() >= item["timestamp"].as_f64().unwrap());

    // Messages: integers and floats as the spec's types.
    let (_, messages) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", &plain)])
        .await;
    assert!(no_nulls(&messages), "{messages}");
    let m = &messages["messages"][0];
    assert!(
        m["type"].is_i64() && m["sender_type"].is_i64() && m["timestamp"].is_f64(),
        "{m}"
    );

    // User lists: no null serv_id before an agent takes the question.
    let (_, alls) = app.get("/v1/user/plain/alls", &[("session", &plain)]).await;
    assert_eq!(alls["questions"][0]["serv_id"], "");
    assert!(no_nulls(&alls), "{alls}");
    app.shutdown().await;
}

/// question/list's `label`: one label, or the JSON array form (all must match).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_filter_takes_one_label_or_an_array_embedded_sqlite() {
    let app = spawn_app(Backend::Embedded).await;
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let mut ids = Vec::new();
    for labels in [json!(["激活", "安卓4.3"]), json!(["激活"]), json!(["安卓4.3"])] {
        let (status, body) = app
            .post_json("/v1/question/new", json!({ "session": user, "label": labels }))
            .await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["question_id"].as_str().unwrap().to_owned());
    }
    let listed = |label: &'static str| {
        let alice = alice.clone();
        let app = &app;
        async move {
            let (status, list) = app
                .get("/v1/question/list", &[("session", alice.as_str()), ("label", label)])
                .await;
            assert_eq!(status, 200, "{list}");
            let mut got: Vec<String> = list["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["question_id"].as_str().unwrap().to_owned())
                .collect();
            got.sort();
            got
        }
    };
    assert_eq!(listed("激活").await, vec![ids[0].clone(), ids[1].clone()]);
    assert_eq!(listed(r#"["激活"]"#).await, vec![ids[0].clone(), ids[1].clone()]);
    assert_eq!(listed(r#"["激活","安卓4.3"]"#).await, vec![ids[0].clone()]);
    assert_eq!(listed("安卓4.3").await, vec![ids[0].clone(), ids[2].clone()]);
    let (status, body) = app
        .get("/v1/question/list", &[("session", alice.as_str()), ("label", "[1,2]")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "label");
    app.shutdown().await;
}

/// Connection loss answers 503 with Retry-After; a command the broker confirmed is
/// answered 202 even when the database goes away while its outcome is awaited; a lost
/// database is not a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_and_never_loses_a_confirmed_command_rabbitmq_postgres() {
    let test_db = TestDb::create(Backend::RabbitPostgres).await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let through_proxy = test_db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let prefix = format!("kefu-test-{}", uuid::Uuid::new_v4().simple());
    let mut config = support::test_config(Backend::RabbitPostgres, &through_proxy, &prefix);
    config.db_acquire_timeout_ms = 1_000;
    // No workers: the command stays queued while its outcome is awaited.
    let app = support::spawn_with(Backend::RabbitPostgres, test_db, config, false).await;
    let session = support::seed_session(&app).await;

    proxy.stop();
    let (status, body) = app.get("/v1/user/u1/alls", &[("session", &session)]).await;
    assert_eq!(status, 503, "{body}");
    support::assert_code(&body, "unavailable");
    let resp = app
        .http
        .get(app.url("/v1/user/u1/alls"))
        .query(&[("session", &session)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["retry-after"], "5");
    proxy.resume().await;
    let mut last = None;
    for _ in 0..50 {
        let (status, body) = app.get("/v1/user/u1/alls", &[("session", &session)]).await;
        if status == 200 {
            last = None;
            break;
        }
        last = Some((status, body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(last.is_none(), "requests succeed once the database is back: {last:?}");

    // Published and confirmed, then the database goes away while the answer is awaited.
    let pending = {
        let http = app.http.clone();
        let url = app.url("/v1/question/new");
        let session = session.clone();
        tokio::spawn(async move {
            read(
                http.post(url)
                    .json(&json!({ "session": session, "title": "kept" }))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    proxy.stop();
    let (status, body) = pending.await.unwrap();
    assert_eq!(status, 202, "a confirmed command is not an error: {body}");
    assert!(
        body["request_id"].is_string() && body["question_id"].is_string(),
        "{body}"
    );
    proxy.resume().await;

    // The queued command is applied once a worker runs.
    let worker = kefu_workers::Worker::new(
        app.db.clone(),
        app.broker.clone(),
        std::sync::Arc::new(app.config.clone()),
        Default::default(),
    );
    tokio::spawn(kefu_workers::run(worker, app.cancel.clone()));
    let question_id = body["question_id"].as_str().unwrap().to_owned();
    let mut applied = false;
    for _ in 0..100 {
        if support::count_rows(&app.db, "questions", Some(&format!("id = '{question_id}'"))).await == 1 {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(applied, "the accepted command was applied after the outage");
    app.shutdown().await;
}

/// A client that stops sending mid-body is not told its body was too large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cut_off_mid_body_is_not_413_embedded_sqlite() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(Backend::Embedded).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"POST /v1/question/new HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"session\":")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
    assert!(!answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(app.count("questions").await, 0);
    app.shutdown().await;
}

/// docs/openapi.json is what the code generates (`KEFU_UPDATE_OPENAPI=1` rewrites it),
/// `/v1/openapi.json` serves it, and `/docs` serves Swagger UI from the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_current_and_served_embedded_sqlite() {
    let generated = kefu_ingest::openapi::openapi().to_pretty_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var("KEFU_UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        committed.trim_end(),
        generated,
        "docs/openapi.json is stale: run KEFU_UPDATE_OPENAPI=1 cargo test --test contract openapi_document"
    );
    let doc: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let app = spawn_app(Backend::Embedded).await;
    let served: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, doc);
    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page loads nothing from the network"
    );
    let bundle = app
        .http
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    let init = app
        .http
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/v1/openapi.json"));
    app.shutdown().await;
}

/// The committed document passes an independent validator (openapi-spec-validator,
/// pinned, from the Python registry, in a virtualenv under the target directory).
#[test]
fn openapi_document_passes_openapi_spec_validator() {
    const PINNED: &str = "openapi-spec-validator==0.9.0";
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-venv");
    let bin = venv.join("bin");
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    if !bin.join("openapi-spec-validator").exists() {
        run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(std::process::Command::new(bin.join("pip")).args(["install", "-q", PINNED]));
    }
    let out = run(std::process::Command::new(bin.join("openapi-spec-validator"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")));
    assert!(out.contains("OK"), "{out}");
}
