//! The first hour: login locks an operator can see and lift (stored, shared by every
//! ingest, kept over restarts), the password rule, the landing page, and the
//! operators' list of questions.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{admin, admin_with_stdin, free_addr, spawn_custom, Backend, Client, Proc};

const TOKEN: &str = "the-admin-token-of-this-test";

/// `kefu admin …` that must fail: its stderr.
fn admin_fails(db_url: &str, args: &[&str], stdin: &str) -> String {
    let out = support::admin_output(db_url, args, stdin);
    assert!(!out.status.success(), "kefu admin {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn bind(c: &Client, session: &str, serv_id: &str, password: &str) -> (u16, Value, Option<String>) {
    let resp = c
        .http
        .post(c.url("/v1/serv/bind"))
        .form(&[("session", session), ("serv_id", serv_id), ("password", password)])
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), retry_after)
}

fn agent_in_list(db_url: &str, serv_id: &str) -> Value {
    let list = admin(db_url, &["agent", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["serv_id"] == serv_id)
        .cloned()
        .unwrap()
}

/// Fails `n` logins of `serv_id`, alternating between the two ingests.
async fn fail(ingests: [&Client; 2], session: [&str; 2], serv_id: &str, n: usize) {
    for i in 0..n {
        let (status, body, _) = bind(ingests[i % 2], session[i % 2], serv_id, "not-the-password").await;
        assert_eq!(status, 401, "{body}");
    }
}

#[track_caller]
fn assert_locked(result: &(u16, Value, Option<String>), field: &str) {
    let (status, body, retry_after) = result;
    assert_eq!(*status, 429, "{body}");
    support::assert_code(body, "agent_locked");
    assert_eq!(body["error"], 30021);
    assert_eq!(body["field"], field, "{body}");
    let debug = body["debug"].as_str().unwrap();
    assert!(debug.contains("locked") && debug.contains("until"), "{debug}");
    let secs: u64 = retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&secs), "Retry-After {secs}");
}

/// Five failures spread over two ingest processes lock the agent on both; the lock
/// survives a restart of every ingest; the CLI, the admin API and a new password each
/// lift it; an address that failed across agents is locked and unlocked the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_locks_are_shared_kept_and_lifted_rabbitmq_postgres() {
    let (db, app) = support::shop_with_alice().await;
    for serv_id in ["bob", "carol", "dave"] {
        support::create_agent(&db.url, serv_id, "com.example.shop", "secret-pw\n");
    }
    let prefix = format!("kefu-test-lock-{}", uuid::Uuid::new_v4().simple());
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let env = [
        ("KEFU_SESSION_RATE_PER_SEC", "0"),
        ("KEFU_LOGIN_SLOW_MS", "0"),
        ("KEFU_LOGIN_SOURCE_MAX_FAILURES", "12"),
        ("KEFU_ADMIN_TOKEN", TOKEN),
    ];
    let mut ingest_a = Proc::start("ingest", &db.url, &prefix, &addr_a, &env);
    let ingest_b = Proc::start("ingest", &db.url, &prefix, &addr_b, &env);
    let _worker = Proc::start("worker", &db.url, &prefix, &free_addr(), &env);
    let (a, b) = (
        Client::new(format!("http://{addr_a}"), &app),
        Client::new(format!("http://{addr_b}"), &app),
    );
    a.wait_ready().await;
    b.wait_ready().await;
    let (dev_a, dev_b) = (a.session("device-a").await, b.session("device-b").await);

    // The address: 12 failures from 127.0.0.1 over three agents (each below its own
    // limit) lock every agent's login from it, until an operator unlocks the address.
    for serv_id in ["bob", "carol", "dave"] {
        fail([&a, &b], [&dev_a, &dev_b], serv_id, 4).await;
    }
    assert_locked(&bind(&a, &dev_a, "alice", "secret-pw").await, "password");
    assert_locked(&bind(&b, &dev_b, "carol", "secret-pw").await, "password");
    let unlocked = admin(&db.url, &["agent", "unlock", "--address", "127.0.0.1"]);
    assert_eq!(unlocked, json!({ "address": "127.0.0.1", "unlocked": true }));
    let (status, body, _) = bind(&b, &dev_b, "carol", "secret-pw").await;
    assert_eq!(status, 200, "{body}");

    // 3 failures on A and 2 on B: the fifth locks alice everywhere, right password or not.
    fail([&a, &b], [&dev_a, &dev_b], "alice", 5).await;
    assert_locked(&bind(&a, &dev_a, "alice", "secret-pw").await, "serv_id");
    assert_locked(&bind(&b, &dev_b, "alice", "secret-pw").await, "serv_id");
    let listed = agent_in_list(&db.url, "alice");
    assert!(
        listed["locked_until"].as_i64().unwrap() > support::now_ms() / 1000,
        "{listed}"
    );
    assert!(agent_in_list(&db.url, "bob")["locked_until"].is_null());

    // A restart forgets nothing.
    drop(ingest_b);
    ingest_a.kill9();
    let ingest_a2 = Proc::start("ingest", &db.url, &prefix, &addr_a, &env);
    a.wait_ready().await;
    assert_locked(&bind(&a, &dev_a, "alice", "secret-pw").await, "serv_id");

    // kefu admin agent unlock lifts it.
    let unlocked = admin(&db.url, &["agent", "unlock", "--serv-id", "alice"]);
    assert!(unlocked["locked_until"].is_null(), "{unlocked}");
    let (status, body, _) = bind(&a, &dev_a, "alice", "secret-pw").await;
    assert_eq!(status, 200, "{body}");

    // So does POST /admin/v1/agents/<serv_id>/unlock.
    fail([&a, &a], [&dev_a, &dev_a], "alice", 5).await;
    assert_locked(&bind(&a, &dev_a, "alice", "secret-pw").await, "serv_id");
    let (status, body) = a.admin_post(TOKEN, "/admin/v1/agents/alice/unlock", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["locked_until"].is_null(), "{body}");
    let (status, body, _) = bind(&a, &dev_a, "alice", "secret-pw").await;
    assert_eq!(status, 200, "{body}");

    // (The address has failed 10 times by now: forget those through the admin API.)
    let (status, body) = a
        .admin_post(TOKEN, "/admin/v1/addresses/127.0.0.1/unlock", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["unlocked"], false, "below the limit: {body}");
    // And a new password.
    fail([&a, &a], [&dev_a, &dev_a], "alice", 5).await;
    assert_locked(&bind(&a, &dev_a, "alice", "secret-pw").await, "serv_id");
    admin_with_stdin(
        &db.url,
        &["agent", "set-password", "--serv-id", "alice", "--password-stdin"],
        "new-secret-pw\n",
    );
    let (status, body, _) = bind(&a, &dev_a, "alice", "new-secret-pw").await;
    assert_eq!(status, 200, "{body}");

    drop(ingest_a2);
    db.drop_db().await;
}

/// Operators set passwords of at least 8 characters (CLI and admin API, naming the
/// rule); an account whose older password is shorter still logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_passwords_need_eight_characters_embedded_sqlite() {
    let app = spawn_custom(
        Backend::Embedded,
        |c| c.admin_token = Some(kefu_common::infra::config::SecretString::from(TOKEN)),
        true,
    )
    .await;
    let url = app.config.database_url.clone();
    let agents = app.count("agents").await;
    let create = [
        "agent",
        "create",
        "--serv-id",
        "dora",
        "--password-stdin",
        "--app",
        "com.example.shop",
    ];
    let err = admin_fails(&url, &create, "7-chars\n");
    assert!(err.contains("--password") && err.contains("at least 8"), "{err}");
    admin_with_stdin(&url, &create, "8-chars!\n");
    let err = admin_fails(
        &url,
        &["agent", "set-password", "--serv-id", "dora", "--password-stdin"],
        "short\n",
    );
    assert!(err.contains("at least 8"), "{err}");

    let api = |path: &str, body: Value| {
        let req = app.http.post(app.url(path)).bearer_auth(TOKEN).json(&body);
        async move { support::read(req.send().await.unwrap()).await }
    };
    let (status, body) = api(
        "/admin/v1/agents",
        json!({ "serv_id": "erin", "password": "1234567", "apps": ["com.example.shop"] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "password", "{body}");
    assert!(body["debug"].as_str().unwrap().contains("at least 8"), "{body}");
    let (status, body) = api("/admin/v1/agents/dora/password", json!({ "password": "tiny" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "password", "{body}");
    assert_eq!(app.count("agents").await, agents + 1, "dora only");

    // An account made before the rule, with a 2-character password, still binds.
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let hash = argon2::Argon2::default()
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!("UPDATE agents SET password_hash = '{hash}' WHERE serv_id = 'dora'"),
    )
    .await
    .unwrap();
    let device = app.session("device-dora").await;
    let (status, body, _) = bind(&app.api, &device, "dora", "pw").await;
    assert_eq!(status, 200, "{body}");
    app.shutdown().await;
}

/// `/` answers HTML to browsers and JSON to `Accept: application/json`, with the
/// version, broker, database and the links; the linked guides are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_in_both_forms_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |_| {}, true).await;
    let resp = app
        .http
        .get(app.url("/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    for needle in [
        env!("CARGO_PKG_VERSION"),
        "embedded",
        "sqlite",
        "Interactive API docs",
        "openapi.json",
        "api.md",
    ] {
        assert!(html.contains(needle), "no {needle} in {html}");
    }
    let resp = app
        .http
        .get(app.url("/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 200);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (body["broker"].as_str(), body["database"].as_str()),
        (Some("embedded"), Some("sqlite"))
    );
    assert_eq!(body["links"]["docs"], "/docs");
    assert_eq!(body["links"]["console"], "/console");
    assert_eq!(body["links"]["v1/openapi.json"], "/v1/openapi.json");
    for guide in ["/guide/api.md", "/guide/errors.md"] {
        let resp = app.http.get(app.url(guide)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{guide}");
        assert!(resp.text().await.unwrap().contains("30021"), "{guide} lists the codes");
    }
    let resp = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the Swagger UI the page links to");
    app.shutdown().await;
}

/// GET /admin/v1/questions with each filter, cursor paging, one question with its
/// messages, and `kefu admin questions list|show`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_questions_list_filters_and_pages_rabbitmq_postgres() {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.admin_token = Some(kefu_common::infra::config::SecretString::from(TOKEN));
            c.session_rate_per_sec = 0;
        },
        true,
    )
    .await;
    let url = app.config.database_url.clone();
    let other = admin(&url, &["app", "create", "--identify", "com.example.bank"]);
    let bank = Client::new(app.api.base.clone(), &other);
    let (u1, u2, banker) = (
        app.session("u1").await,
        app.session("u2").await,
        bank.session("b1").await,
    );
    let alice = app.agent_session("alice").await;
    let ask = |c: &Client, session: &str, title: &str| {
        let (c, body) = (c.clone(), json!({ "session": session, "title": title }));
        async move {
            let (status, body) = c.post_json("/v1/question/new", body).await;
            assert_eq!(status, 200, "{body}");
            body["question_id"].as_str().unwrap().to_owned()
        }
    };
    let q1 = ask(&app.api, &u1, "first").await;
    let q2 = ask(&app.api, &u2, "second").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = support::now_ms() / 1000;
    let q3 = ask(&app.api, &u1, "third").await;
    let q4 = ask(&bank, &banker, "bank question").await;
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{q2}/serve"),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{q2}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "on it" }),
        )
        .await;
    assert_eq!(status, 200);

    let list = |query: &'static [(&'static str, &'static str)], extra: Vec<(String, String)>| {
        let req = app
            .http
            .get(app.url("/admin/v1/questions"))
            .bearer_auth(TOKEN)
            .query(query)
            .query(&extra);
        async move {
            let (status, body) = support::read(req.send().await.unwrap()).await;
            assert_eq!(status, 200, "{body}");
            let ids: Vec<String> = body["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["question_id"].as_str().unwrap().to_owned())
                .collect();
            (ids, body)
        }
    };
    let (all, body) = list(&[], vec![]).await;
    assert_eq!(
        all,
        vec![q4.clone(), q3.clone(), q2.clone(), q1.clone()],
        "newest first, every app"
    );
    assert_eq!(body["questions"][0]["identify"], "com.example.bank");
    assert!(body["next_cursor"].is_null());
    assert_eq!(
        list(&[("identify", "com.example.shop")], vec![]).await.0,
        vec![q3.clone(), q2.clone(), q1.clone()]
    );
    assert_eq!(list(&[("status", "2")], vec![]).await.0, vec![q2.clone()]);
    assert_eq!(
        list(&[("status", "1")], vec![]).await.0,
        vec![q4.clone(), q3.clone(), q1.clone()]
    );
    assert_eq!(list(&[("serv_id", "alice")], vec![]).await.0, vec![q2.clone()]);
    assert_eq!(list(&[("user_id", "u1")], vec![]).await.0, vec![q3.clone(), q1.clone()]);
    assert_eq!(
        list(&[], vec![("since".into(), since.to_string())]).await.0,
        vec![q4.clone(), q3.clone()]
    );
    // Cursor paging: two pages of two, then the end.
    let (page1, body) = list(&[("num", "2")], vec![]).await;
    assert_eq!(page1, vec![q4.clone(), q3.clone()]);
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    let (page2, body) = list(&[("num", "2")], vec![("cursor".into(), cursor)]).await;
    assert_eq!(page2, vec![q2.clone(), q1.clone()]);
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    assert!(list(&[("num", "2")], vec![("cursor".into(), cursor)])
        .await
        .0
        .is_empty());
    // Bad filters are refused naming the field; a wrong token is refused.
    for (name, value) in [("status", "4"), ("identify", "com.example.none"), ("cursor", "xyz")] {
        let resp = app
            .http
            .get(app.url("/admin/v1/questions"))
            .bearer_auth(TOKEN)
            .query(&[(name, value)])
            .send();
        let (status, body) = support::read(resp.await.unwrap()).await;
        assert!(status.is_client_error(), "{name}={value}: {body}");
        assert_eq!(body["field"], name, "{body}");
    }
    let (status, _) = app.get("/admin/v1/questions", &[]).await;
    assert_eq!(status, 401);

    // One question with its messages.
    let resp = app
        .http
        .get(app.url(&format!("/admin/v1/questions/{q2}")))
        .bearer_auth(TOKEN)
        .send();
    let (status, body) = support::read(resp.await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["question"]["serv_id"], "alice");
    assert_eq!(body["question"]["status"], 2);
    let kinds: Vec<i64> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_i64().unwrap())
        .collect();
    assert_eq!(kinds, vec![4, 3]);
    assert_eq!(body["messages"][1]["text"], "on it");
    let resp = app
        .http
        .get(app.url("/admin/v1/questions/0123456789abcdef01234567"))
        .bearer_auth(TOKEN)
        .send();
    let (status, body) = support::read(resp.await.unwrap()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["field"], "question_id");

    // The CLI answers the same.
    let cli = admin(
        &url,
        &["questions", "list", "--status", "1", "--identify", "com.example.shop"],
    );
    let ids: Vec<&str> = cli["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["question_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![q3.as_str(), q1.as_str()]);
    let shown = admin(&url, &["questions", "show", "--id", &q2]);
    assert_eq!(shown["messages"][1]["text"], "on it");
    app.shutdown().await;
}

/// The small truths: a timestamp in seconds is told so (with the server's clock); a
/// refusal about the path's question names it; `/ready` and `/metrics` see `serve`'s
/// own worker; the agent stream's new question carries timestamp, title, user and app;
/// logs written to a pipe have no colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_truths_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |c| c.session_rate_per_sec = 0, true).await;
    let body = json!({ "identify": "com.example.shop", "user_id": "u1" });
    let secret = app.api.secret.clone();
    let (status, refused) = app.signed_session_new(&body, support::now_ms() / 1000, &secret).await;
    assert_eq!(status, 401, "{refused}");
    support::assert_code(&refused, "expired_timestamp");
    let debug = refused["debug"].as_str().unwrap();
    assert!(
        debug.contains("milliseconds") && debug.contains("looks like seconds"),
        "{debug}"
    );
    let clock = (support::now_ms() / 100_000).to_string();
    assert!(debug.contains(&clock), "the server's clock in ms: {debug}");

    let alice = app.agent_session("alice").await;
    let (status, body) = app
        .post_json(
            "/v1/question/0123456789abcdef01234567/serve",
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["field"], "question_id", "{body}");

    let (status, ready) = app.get("/ready", &[]).await;
    assert_eq!(status, 200, "{ready}");
    assert!(ready["queue"]["consumers"].as_u64().unwrap() >= 1, "{ready}");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let consumers = metrics
        .lines()
        .find(|l| l.starts_with(r#"kefu_queue_consumers{queue="commands"} "#))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(!consumers.ends_with(" 0"), "{consumers}");

    // The agent's stream: a new waiting question carries what the lists show.
    let mut stream = app
        .http
        .get(app.url(&format!("/v1/serv/alice/stream?session={alice}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let user = app.session("u1").await;
    let (status, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "where is it" }))
        .await;
    assert_eq!(status, 200, "{created}");
    let mut seen = String::new();
    let data = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = stream.chunk().await.unwrap().expect("the stream goes on");
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(at) = seen.find("event: question\ndata: ") {
                if let Some(line) = seen[at + 22..]
                    .split('\n')
                    .next()
                    .filter(|_| seen[at..].contains("\n\n"))
                {
                    return serde_json::from_str::<Value>(line).unwrap();
                }
            }
        }
    })
    .await
    .expect("an event: question");
    assert_eq!(data["question_id"], created["question_id"]);
    assert_eq!(data["title"], "where is it");
    assert_eq!(data["user_id"], "u1");
    assert_eq!(data["identify"], "com.example.shop");
    let ts = data["timestamp"].as_f64().unwrap();
    assert!(
        (ts - support::now_ms() as f64 / 1000.0).abs() < 30.0,
        "float seconds: {data}"
    );
    drop(stream);

    // Logs to a pipe: no ANSI colour codes.
    let out = support::kefu_cmd(&app.config.database_url)
        .args(["admin", "app", "show-timeouts", "--identify", "com.example.none"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty() && !stderr.contains('\u{1b}'), "{stderr:?}");
    app.shutdown().await;
}
