//! Tencent Cloud IM: per-app settings (CLI and admin API) and UserSig, checked against
//! Tencent's own implementation.

mod support;

use kefu_common::im::usersig::{gen_usersig, verify_usersig};
use serde_json::{json, Value};
use support::{admin, spawn_custom, Backend};

const ADMIN_TOKEN: &str = "the-admin-token-of-this-test";

/// Our UserSig verifies with Tencent's Python package (`tls-sig-api-v2`, pinned, from
/// PyPI), and theirs with our verifier.
#[test]
fn usersig_agrees_with_tencents_reference_implementation() {
    const PINNED: &str = "tls-sig-api-v2==1.1";
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-sig-venv");
    let python = venv.join("bin").join("python");
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().expect("run");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    if !python.exists() {
        run(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(std::process::Command::new(venv.join("bin").join("pip")).args(["install", "-q", PINNED]));
    }
    let (sdkappid, key, identifier) = (
        1400000000u64,
        "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
        "administrator",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ours = gen_usersig(sdkappid, key, identifier, 86400, now);
    // Tencent's package checks ours: decode it, recompute the HMAC with its own code.
    let script = format!(
        r#"
import base64, json, zlib, TLSSigAPIv2
sig = "{ours}".replace("*", "+").replace("-", "/").replace("_", "=")
doc = json.loads(zlib.decompress(base64.b64decode(sig)))
api = TLSSigAPIv2.TLSSigAPIv2({sdkappid}, "{key}")
expected = api._TLSSigAPIv2__hmacsha256(doc["TLS.identifier"], doc["TLS.time"], doc["TLS.expire"]).decode()
assert doc["TLS.sig"] == expected, (doc, expected)
assert doc["TLS.identifier"] == "{identifier}" and doc["TLS.sdkappid"] == {sdkappid} and doc["TLS.ver"] == "2.0"
print(api.gen_sig("{identifier}", 3600))
"#
    );
    let theirs = run(std::process::Command::new(&python).args(["-c", &script]));
    // And ours checks theirs.
    let verified = verify_usersig(&theirs, key).expect("Tencent's UserSig verifies");
    assert_eq!(
        (verified.identifier.as_str(), verified.sdkappid, verified.expire),
        (identifier, sdkappid, 3600)
    );
    assert!(verify_usersig(&theirs, "another-key").is_none());
}

/// IM settings through the CLI form of the issue and the admin API; the key is never
/// shown; bad values are refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn im_settings_through_cli_and_admin_api_embedded_sqlite() {
    let app = spawn_custom(
        Backend::Embedded,
        |c| c.admin_token = Some(kefu_common::config::Redacted::new(ADMIN_TOKEN)),
        true,
    )
    .await;
    let db = app.config.database_url.clone();
    let set = admin(
        &db,
        &[
            "app",
            "set-im",
            "--identify",
            "com.example.shop",
            "--base-url",
            "http://127.0.0.1:9/im",
            "--sdkappid",
            "1400000000",
            "--identifier",
            "administrator",
            "--secret-key",
            "THE-SECRET-KEY",
            "--from-account",
            "@customer_service_account",
        ],
    );
    assert_eq!(set["sdkappid"], 1400000000, "{set}");
    assert_eq!(set["from_account"], "@customer_service_account");
    assert_eq!(set["base_url"], "http://127.0.0.1:9/im");
    assert_eq!(set["secret_key_set"], true);
    assert!(!set.to_string().contains("THE-SECRET-KEY"));
    let shown = admin(&db, &["app", "show-im", "--identify", "com.example.shop"]);
    assert_eq!(shown, set);
    let get = |path: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .get(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = get("/admin/v1/apps/com.example.shop/im").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["identifier"], "administrator");
    assert!(!body.to_string().contains("THE-SECRET-KEY"));
    // Through the API, with the default base URL.
    let resp = app
        .http
        .put(app.url("/admin/v1/apps/1/im"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "sdkappid": 1400000001, "identifier": "admin2", "secret_key": "K2", "from_account": "@cs" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["base_url"].as_str(), body["sdkappid"].as_i64()),
        (Some("https://console.tim.qq.com"), Some(1400000001))
    );
    let resp = app
        .http
        .put(app.url("/admin/v1/apps/1/im"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "base_url": "ftp://im", "sdkappid": 1, "identifier": "a", "secret_key": "k", "from_account": "b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "base_url", "{body}");
    // Cleared: none.
    let resp = app
        .http
        .delete(app.url("/admin/v1/apps/com.example.shop/im"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(get("/admin/v1/apps/com.example.shop/im").await.0, 404);
    app.shutdown().await;
}

/// An agent's text that could never pass the IM's 12 KB limit is refused at the ingest,
/// naming `text`, for apps that deliver to the IM; other apps take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_text_over_the_ims_12k_is_refused_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |c| c.session_rate_per_sec = 0, true).await;
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
    let long = "😀".repeat(4000); // 16,000 bytes of UTF-8: the spec's 4,000 characters, over 12 KB
    let send = |text: String| {
        let (app, alice, q) = (&app, alice.clone(), q.clone());
        async move {
            app.post_json(
                &format!("/v1/question/{q}/message/send_text"),
                json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text }),
            )
            .await
        }
    };
    assert_eq!(
        send(long.clone()).await.0,
        200,
        "no IM settings: the spec's 4000 characters"
    );
    admin(
        &app.config.database_url,
        &[
            "app",
            "set-im",
            "--identify",
            "com.example.shop",
            "--sdkappid",
            "1400000000",
            "--identifier",
            "administrator",
            "--secret-key",
            "K",
            "--from-account",
            "@customer_service_account",
        ],
    );
    let (status, body) = send(long).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "text");
    support::assert_code(&body, "invalid_field");
    assert_eq!(send("长".repeat(4000)).await.0, 200, "12,000 bytes of text still fit");
    app.shutdown().await;
}

/// A stand-in for the IM's REST API: checks the query and the UserSig, records each
/// call, answers from a script (then success).
#[derive(Clone, Default)]
struct FakeIm {
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    /// (HTTP status, body, ms to wait before answering)
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(u16, String, u64)>>>,
}

impl FakeIm {
    async fn start(key: &'static str) -> (FakeIm, String) {
        use axum::extract::{Query, State};
        use axum::routing::post;
        let fake = FakeIm::default();
        async fn send_msg(
            State((fake, key)): State<(FakeIm, &'static str)>,
            Query(q): Query<std::collections::HashMap<String, String>>,
            body: String,
        ) -> (axum::http::StatusCode, String) {
            let verified = verify_usersig(&q["usersig"], key).expect("a UserSig made with the app's key");
            assert_eq!(verified.identifier, q["identifier"]);
            assert_eq!(verified.sdkappid.to_string(), q["sdkappid"]);
            assert_eq!(q["contenttype"], "json");
            let body: Value = serde_json::from_str(&body).unwrap();
            fake.calls.lock().unwrap().push((q["random"].clone(), body));
            let (status, answer, delay) = fake.script.lock().unwrap().pop_front().unwrap_or((
                200,
                r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#.into(),
                0,
            ));
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            (axum::http::StatusCode::from_u16(status).unwrap(), answer)
        }
        let app = axum::Router::new()
            .route("/v4/desk_http_svc/send_msg", post(send_msg))
            .with_state((fake.clone(), key));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, base)
    }

    fn answer(&self, times: usize, status: u16, body: &str) {
        self.answer_after(times, status, body, 0);
    }

    fn answer_after(&self, times: usize, status: u16, body: &str, delay_ms: u64) {
        for _ in 0..times {
            self.script
                .lock()
                .unwrap()
                .push_back((status, body.to_owned(), delay_ms));
        }
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

async fn wait_calls(fake: &FakeIm, n: usize) -> Vec<(String, Value)> {
    for _ in 0..200 {
        if fake.calls().len() >= n {
            return fake.calls();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the IM got {} calls, not {n}: {:?}", fake.calls().len(), fake.calls());
}

fn text_of(call: &(String, Value)) -> String {
    let element = &call.1["MsgBody"][0];
    match element["MsgType"].as_str() {
        Some("TIMTextElem") => element["MsgContent"]["Text"].as_str().unwrap().to_owned(),
        _ => "<custom>".into(),
    }
}

/// Agents' messages reach the IM in order, with the UserSig; a 141002 is retried with the
/// same MsgRandom and a fresh random while the later messages wait; a 141005 is given
/// up at once and does not hold the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn im_deliveries_retry_keep_order_and_give_up_rabbitmq_postgres() {
    use sea_orm::ConnectionTrait;
    const KEY: &str = "THE-IM-SECRET-KEY";
    let (fake, base) = FakeIm::start(KEY).await;
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.session_rate_per_sec = 0;
            c.task_retry_initial_ms = 100;
            c.task_retry_max_ms = 400;
        },
        true,
    )
    .await;
    admin(
        &app.config.database_url,
        &[
            "app",
            "set-im",
            "--identify",
            "com.example.shop",
            "--base-url",
            &base,
            "--sdkappid",
            "1400000000",
            "--identifier",
            "administrator",
            "--secret-key",
            KEY,
            "--from-account",
            "@customer_service_account",
        ],
    );
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let (_, created) = app
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();
    // The user's own message is not sent to the IM (it came from there).
    app.post_json(
        &format!("/v1/question/{q}/message/send_text"),
        json!({ "session": user, "sender": "u1", "sender_type": 1, "text": "from the user" }),
    )
    .await;
    // The serve notification meets two 141002s, the first one slow (the three texts are
    // written while it is in flight: they must not overtake it).
    let internal = r#"{"ActionStatus":"FAIL","ErrorInfo":"internal error","ErrorCode":141002}"#;
    fake.answer_after(1, 200, internal, 500);
    fake.answer(1, 200, internal);
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{q}/serve"),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    for text in ["one", "two", "three"] {
        let (status, _) = app
            .post_json(
                &format!("/v1/question/{q}/message/send_text"),
                json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text }),
            )
            .await;
        assert_eq!(status, 200);
    }
    let calls = wait_calls(&fake, 6).await;
    let texts: Vec<String> = calls.iter().map(text_of).collect();
    assert_eq!(
        texts,
        ["<custom>", "<custom>", "<custom>", "one", "two", "three"],
        "in order, the first retried"
    );
    let (first, second, third) = (&calls[0], &calls[1], &calls[2]);
    assert_eq!(first.1["MsgRandom"], second.1["MsgRandom"]);
    assert_eq!(
        first.1["MsgRandom"], third.1["MsgRandom"],
        "the same MsgRandom on every attempt"
    );
    assert!(first.0 != second.0 && second.0 != third.0, "a fresh random per request");
    assert_eq!(first.1["ExcludeFromUserRespTimeout"], 1);
    assert_eq!(calls[3].1["ToAccount"], "u1");
    assert_eq!(calls[3].1["FromAccount"], "@customer_service_account");
    let data: Value = serde_json::from_str(first.1["MsgBody"][0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
    assert_eq!(
        (data["push_type"].as_str(), data["action"].as_i64()),
        (Some("service"), Some(1))
    );

    // A 141005 is final: one call, marked failed; the next message still goes.
    fake.answer(
        1,
        200,
        r#"{"ActionStatus":"FAIL","ErrorInfo":"session ended","ErrorCode":141005}"#,
    );
    for text in ["lost", "after"] {
        app.post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text }),
        )
        .await;
    }
    let calls = wait_calls(&fake, 8).await;
    let texts: Vec<String> = calls.iter().skip(6).map(text_of).collect();
    assert_eq!(texts, ["lost", "after"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(fake.calls().len(), 8, "nothing sent twice");
    let sql = "SELECT d.state AS state, d.attempts AS attempts, d.last_error AS last_error FROM im_deliveries d \
               JOIN messages m ON m.id = d.message_id WHERE m.text = 'lost'";
    let mut row = None;
    for _ in 0..5 {
        // Tolerates a busy database pool on a loaded machine.
        match app
            .db
            .query_one(sea_orm::Statement::from_string(app.db.get_database_backend(), sql))
            .await
        {
            Ok(found) => {
                row = found;
                break;
            }
            Err(err) => eprintln!("retrying the check: {err}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let row = row.expect("the delivery of 'lost'");
    assert_eq!(row.try_get::<String>("", "state").unwrap(), "failed");
    assert_eq!(row.try_get::<i32>("", "attempts").unwrap(), 1);
    assert!(row.try_get::<String>("", "last_error").unwrap().contains("141005"));
    assert_eq!(
        support::count_rows(&app.db, "im_deliveries", Some("state = 'delivered'")).await,
        5
    );

    // Operators list the failed one and re-drive it: sent again (same MsgRandom), delivered.
    let cli = |args: &[&str]| support::admin_on_broker(&app, args);
    let failed = cli(&["deliveries", "list", "--failed", "--identify", "com.example.shop"]);
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("141005"));
    let id = failed[0]["message_id"].as_str().unwrap().to_owned();
    assert_eq!(cli(&["deliveries", "redrive", "--id", &id])["redriven"], 1);
    let calls = wait_calls(&fake, 9).await;
    assert_eq!(text_of(&calls[8]), "lost");
    assert_eq!(calls[8].1["MsgRandom"], calls[6].1["MsgRandom"]);
    for _ in 0..100 {
        if support::count_rows(&app.db, "im_deliveries", Some("state = 'delivered'")).await == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        support::count_rows(&app.db, "im_deliveries", Some("state = 'delivered'")).await,
        6
    );
    app.shutdown().await;
}
