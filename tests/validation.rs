//! Bad input gets the spec's error body (`status` 300, `error`, `field`, `debug`) with a
//! fitting HTTP status, and writes nothing.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{now_ms, read, spawn_app, Backend, TestApp};

const TABLES: [&str; 7] = [
    "sessions",
    "users",
    "agent_bindings",
    "questions",
    "messages",
    "processed_commands",
    "queue_jobs",
];

/// Row counts of the tables a request could write, once the embedded queue has drained
/// (a worker replies before it deletes its job row).
async fn counts(app: &TestApp) -> Vec<i64> {
    for _ in 0..100 {
        if app.count("queue_jobs").await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

#[track_caller]
fn refused(result: (StatusCode, Value), http: u16, code: &str, field: Option<&str>) {
    let (status, body) = result;
    assert_eq!(status.as_u16(), http, "{body}");
    assert_eq!(body["status"], 300, "{body}");
    support::assert_code(&body, code);
    match field {
        Some(f) => assert_eq!(body["field"], f, "{body}"),
        None => assert!(body.get("field").is_none(), "{body}"),
    }
    assert!(!body["debug"].as_str().unwrap().is_empty(), "{body}");
}

async fn bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.session("u1").await;
    let agent = app.agent_session("alice").await;
    let (_, q) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "ok" }))
        .await;
    let qid = q["question_id"].as_str().unwrap().to_owned();
    let before = counts(&app).await;

    // Sessions.
    refused(
        app.post_json("/v1/question/new", json!({ "title": "x" })).await,
        401,
        "invalid_session",
        Some("session"),
    );
    refused(
        app.post_json("/v1/question/new", json!({ "session": "short" })).await,
        401,
        "invalid_session",
        Some("session"),
    );
    refused(
        app.post_json("/v1/question/new", json!({ "session": "AAAAAAAAAAAA" }))
            .await,
        401,
        "invalid_session",
        Some("session"),
    );
    refused(
        app.post_json("/v1/question/new", json!({ "session": 123456789012i64 }))
            .await,
        400,
        "invalid_field",
        Some("session"),
    );

    // question/new fields: oversized, wrong-typed, malformed.
    let long_title = "t".repeat(201);
    refused(
        app.post_json("/v1/question/new", json!({ "session": user, "title": long_title }))
            .await,
        400,
        "invalid_field",
        Some("title"),
    );
    refused(
        app.post_json("/v1/question/new", json!({ "session": user, "title": 42 }))
            .await,
        400,
        "invalid_field",
        Some("title"),
    );
    refused(
        app.post_form("/v1/question/new", &[("session", &user), ("label", "not json")])
            .await,
        400,
        "invalid_field",
        Some("label"),
    );
    refused(
        app.post_json("/v1/question/new", json!({ "session": user, "label": [1, 2] }))
            .await,
        400,
        "invalid_field",
        Some("label"),
    );
    let many: Vec<String> = (0..11).map(|i| format!("l{i}")).collect();
    refused(
        app.post_json("/v1/question/new", json!({ "session": user, "label": many }))
            .await,
        400,
        "invalid_field",
        Some("label"),
    );

    // Malformed bodies, unsupported types, oversized bodies.
    let raw = |body: Vec<u8>, ctype: &'static str| {
        app.http
            .post(app.url("/v1/question/new"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    refused(
        read(raw(b"{\"session\":".to_vec(), "application/json").await.unwrap()).await,
        400,
        "malformed_body",
        None,
    );
    refused(
        read(raw(b"[1,2]".to_vec(), "application/json").await.unwrap()).await,
        400,
        "malformed_body",
        None,
    );
    refused(
        read(
            raw(b"session=\xff\xfe".to_vec(), "application/x-www-form-urlencoded")
                .await
                .unwrap(),
        )
        .await,
        400,
        "malformed_body",
        None,
    );
    refused(
        read(raw(b"hello".to_vec(), "text/plain").await.unwrap()).await,
        415,
        "unsupported_media_type",
        None,
    );
    let huge = format!("{{\"session\":\"{user}\",\"title\":\"{}\"}}", "x".repeat(70 * 1024));
    refused(
        read(raw(huge.into_bytes(), "application/json").await.unwrap()).await,
        413,
        "body_too_large",
        None,
    );

    // send_text.
    let send = format!("/v1/question/{qid}/message/send_text");
    refused(
        app.post_form(
            &send,
            &[
                ("session", &user),
                ("sender", "u1"),
                ("sender_type", "3"),
                ("text", "x"),
            ],
        )
        .await,
        400,
        "invalid_field",
        Some("sender_type"),
    );
    refused(
        app.post_form(
            &send,
            &[
                ("session", &user),
                ("sender", "u1"),
                ("sender_type", "abc"),
                ("text", "x"),
            ],
        )
        .await,
        400,
        "invalid_field",
        Some("sender_type"),
    );
    refused(
        app.post_form(&send, &[("session", &user), ("sender", "u1"), ("sender_type", "1")])
            .await,
        400,
        "missing_field",
        Some("text"),
    );
    refused(
        app.post_form(&send, &[("session", &user), ("sender_type", "1"), ("text", "x")])
            .await,
        400,
        "missing_field",
        Some("sender"),
    );
    let long_text = "字".repeat(4001);
    refused(
        app.post_form(
            &send,
            &[
                ("session", &user),
                ("sender", "u1"),
                ("sender_type", "1"),
                ("text", &long_text),
            ],
        )
        .await,
        400,
        "invalid_field",
        Some("text"),
    );
    refused(
        app.post_form(
            &send,
            &[
                ("session", &user),
                ("sender", "someone-else"),
                ("sender_type", "1"),
                ("text", "x"),
            ],
        )
        .await,
        403,
        "forbidden",
        Some("sender"),
    );
    refused(
        app.post_form(
            "/v1/question/nothex/message/send_text",
            &[
                ("session", &user),
                ("sender", "u1"),
                ("sender_type", "1"),
                ("text", "x"),
            ],
        )
        .await,
        400,
        "invalid_field",
        Some("question_id"),
    );
    // An unknown question: the worker refuses it and writes nothing but its record.
    let unknown = app
        .post_form(
            "/v1/question/0123456789abcdef01234567/message/send_text",
            &[
                ("session", &user),
                ("sender", "u1"),
                ("sender_type", "1"),
                ("text", "x"),
            ],
        )
        .await;
    refused(unknown, 404, "unknown_question", Some("question_id"));

    // Agent calls.
    let serve = format!("/v1/question/{qid}/serve");
    refused(
        app.post_json(&serve, json!({ "session": agent })).await,
        400,
        "missing_field",
        Some("serv_id"),
    );
    refused(
        app.post_json(&serve, json!({ "session": agent, "serv_id": "a".repeat(21) }))
            .await,
        400,
        "invalid_field",
        Some("serv_id"),
    );
    refused(
        app.post_json(&serve, json!({ "session": agent, "serv_id": ["alice"] }))
            .await,
        400,
        "invalid_field",
        Some("serv_id"),
    );
    refused(
        app.post_json(&serve, json!({ "session": user, "serv_id": "alice" }))
            .await,
        403,
        "not_bound",
        Some("serv_id"),
    );
    refused(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &user), ("serv_id", "alice"), ("password", "wrong")],
        )
        .await,
        401,
        "wrong_password",
        Some("password"),
    );
    refused(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &user), ("serv_id", "nobody"), ("password", "secret-pw")],
        )
        .await,
        401,
        "unknown_agent",
        Some("serv_id"),
    );
    refused(
        app.post_form(
            "/v1/serv/bind",
            &[("session", &user), ("serv_id", "alice"), ("password", &"p".repeat(21))],
        )
        .await,
        400,
        "invalid_field",
        Some("password"),
    );
    refused(
        app.post_form("/v1/serv/bind", &[("session", &user), ("serv_id", "alice")])
            .await,
        400,
        "missing_field",
        Some("password"),
    );

    // List parameters: limits, defaults and enums of the spec's tables.
    for (name, value) in [
        ("page", "51"),
        ("page", "-1"),
        ("page", "x"),
        ("num", "0"),
        ("num", "51"),
        ("sort", "0"),
        ("sort", "2"),
        ("question_id", "xyz"),
    ] {
        refused(
            app.get("/v1/question/list", &[("session", &agent), (name, value)])
                .await,
            400,
            "invalid_field",
            Some(name),
        );
    }
    let long_identify = "i".repeat(81);
    refused(
        app.get(
            "/v1/question/list",
            &[("session", &agent), ("identify", &long_identify)],
        )
        .await,
        400,
        "invalid_field",
        Some("identify"),
    );
    refused(
        app.get(
            &format!("/v1/question/{qid}/message"),
            &[("session", &user), ("message_id", "123")],
        )
        .await,
        400,
        "invalid_field",
        Some("message_id"),
    );
    refused(
        app.get("/v1/user/u1/alls", &[("session", &user), ("num", "100")]).await,
        400,
        "invalid_field",
        Some("num"),
    );
    refused(
        app.get("/v1/user/u2/alls", &[("session", &user)]).await,
        403,
        "forbidden",
        Some("user_id"),
    );
    let (status, list) = app
        .get(
            "/v1/question/list",
            &[("session", &agent), ("page", "50"), ("num", "50"), ("sort", "-1")],
        )
        .await;
    assert_eq!(status, 200, "{list}");

    // Signed session/new: bad signature, expired timestamp, missing fields, unknown app.
    let body = json!({ "identify": app.identify, "user_id": "u9", "user_name": "U9" });
    let secret = app.secret.clone();
    refused(
        app.signed_session_new(&body, now_ms(), "not-the-secret").await,
        401,
        "bad_signature",
        Some("signature"),
    );
    refused(
        app.signed_session_new(&body, now_ms() - 6 * 60 * 1000, &secret).await,
        401,
        "expired_timestamp",
        Some("timestamp"),
    );
    refused(
        app.signed_session_new(&body, now_ms() + 6 * 60 * 1000, &secret).await,
        401,
        "expired_timestamp",
        Some("timestamp"),
    );
    let no_user = json!({ "identify": app.identify, "user_name": "U9" });
    refused(
        app.signed_session_new(&no_user, now_ms(), &secret).await,
        400,
        "missing_field",
        Some("user_id"),
    );
    let unknown_app = json!({ "identify": "com.unknown", "user_id": "u9", "user_name": "U9" });
    refused(
        app.signed_session_new(&unknown_app, now_ms(), &secret).await,
        404,
        "unknown_app",
        Some("identify"),
    );
    // Replaying a signed request answers the first session and opens no other.
    let ts = now_ms();
    let (status, first) = app.signed_session_new(&body, ts, &secret).await;
    assert_eq!(status, 200, "{first}");
    let (status, replayed) = app.signed_session_new(&body, ts, &secret).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["session"], first["session"]);
    // Unsigned query fields are not taken into a signed call.
    let raw = serde_json::to_vec(&json!({ "identify": app.identify, "user_id": "u8" })).unwrap();
    let ts = now_ms().to_string();
    let sig = support::sign(&secret, &ts, "POST", "/v1/session/new", &raw);
    let sneaky = app
        .http
        .post(app.url("/v1/session/new"))
        .query(&[
            ("timestamp", ts.as_str()),
            ("signature", sig.as_str()),
            ("user_name", "injected"),
        ])
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    refused(read(sneaky).await, 400, "missing_field", Some("user_name"));
    let unsigned = app.post_json("/v1/session/new", body.clone()).await;
    refused(unsigned, 400, "missing_field", Some("timestamp"));

    // Unknown endpoints and methods answer in the same format.
    refused(app.get("/v1/nothing", &[]).await, 404, "not_found", None);
    refused(app.get("/v1/question/new", &[]).await, 405, "method_not_allowed", None);

    let after = counts(&app).await;
    // The only write is the worker's record of the refused unknown-question command.
    // and the one valid signed session/new (a session, its user, its command record).
    let mut expected = before.clone();
    expected[0] += 1;
    expected[1] += 1;
    expected[5] += 2;
    assert_eq!(after, expected, "tables {TABLES:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_embedded_sqlite() {
    bad_input(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_rabbitmq_postgres() {
    bad_input(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_rabbitmq_mariadb() {
    bad_input(Backend::RabbitMariadb).await;
}
