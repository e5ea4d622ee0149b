//! Tencent Cloud IM: per-app settings (CLI and admin API) and UserSig, checked against
//! Tencent's own implementation.

mod support;

use kefu_common::store::im::usersig::{gen_usersig, verify_usersig};
use serde_json::{json, Value};
use support::{admin, set_im, spawn_custom, Backend};

const ADMIN_TOKEN: &str = "the-admin-token-of-this-test";

/// Our UserSig verifies with Tencent's Python package (`tls-sig-api-v2`, pinned, from
/// PyPI), and theirs with our verifier.
#[test]
fn usersig_agrees_with_tencents_reference_implementation() {
    let python = support::python_with("tls-sig-venv", "tls-sig-api-v2==1.1");
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
    let theirs = support::run_ok(std::process::Command::new(&python).args(["-c", &script]));
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
        |c| c.admin_token = Some(kefu_common::infra::config::SecretString::from(ADMIN_TOKEN)),
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
    /// ToAccounts answered 503 while listed (`*`: everyone): the IM down.
    down: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// What the IM accepted, de-duplicated by MsgRandom as the IM does: (ToAccount, text).
    accepted: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    seen: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
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
            fake.calls.lock().unwrap().push((q["random"].clone(), body.clone()));
            let to = body["ToAccount"].as_str().unwrap_or_default().to_owned();
            {
                let down = fake.down.lock().unwrap();
                if down.contains("*") || down.contains(&to) {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down".into());
                }
            }
            let (status, answer, delay) = fake.script.lock().unwrap().pop_front().unwrap_or((
                200,
                r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#.into(),
                0,
            ));
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            if status == 200 && answer.contains(r#""ErrorCode":0"#) {
                let random = body["MsgRandom"].as_u64().unwrap();
                if fake.seen.lock().unwrap().insert(random) {
                    fake.accepted
                        .lock()
                        .unwrap()
                        .push((to, text_of(&(String::new(), body))));
                }
            }
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

    fn accepted(&self) -> Vec<(String, String)> {
        self.accepted.lock().unwrap().clone()
    }

    fn set_down(&self, who: &str, down: bool) {
        let mut set = self.down.lock().unwrap();
        if down {
            set.insert(who.to_owned());
        } else {
            set.remove(who);
        }
    }

    /// Waits until the IM accepted `n` messages.
    async fn wait_accepted(&self, n: usize, secs: u64) -> Vec<(String, String)> {
        for _ in 0..secs * 20 {
            if self.accepted().len() >= n {
                return self.accepted();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the IM accepted {:?}, not {n} messages", self.accepted());
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
    set_im(&app.config.database_url, &base, KEY);
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

/// The `delivery` of the message with this text in `question/<id>/message`.
async fn delivery_shown(app: &support::TestApp, session: &str, q: &str, text: &str) -> Value {
    let (status, body) = app
        .get(&format!("/v1/question/{q}/message"), &[("session", session)])
        .await;
    assert_eq!(status, 200, "{body}");
    let m = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == text)
        .unwrap_or_else(|| panic!("no message {text:?} in {body}"));
    m["delivery"].clone()
}

/// A 500 and a timeout are retried until the IM accepts (same MsgRandom); an IM down
/// for longer than the first retries loses nothing and keeps the order; one question
/// whose sends fail does not hold up another's; the message list and the metrics show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn im_deliveries_ride_out_errors_timeouts_and_outages_rabbitmq_postgres() {
    const KEY: &str = "THE-OTHER-SECRET-KEY";
    let (fake, base) = FakeIm::start(KEY).await;
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.session_rate_per_sec = 0;
            c.task_retry_initial_ms = 100;
            c.task_retry_max_ms = 800;
            c.im_request_timeout_ms = 400;
            c.im_sweep_secs = 1;
        },
        true,
    )
    .await;
    set_im(&app.config.database_url, &base, KEY);
    let alice = app.agent_session("alice").await;
    let mut questions = Vec::new();
    for user in ["u1", "u2"] {
        let session = app.session(user).await;
        let (_, created) = app
            .post_json("/v1/question/new", json!({ "session": session, "title": user }))
            .await;
        questions.push(created["question_id"].as_str().unwrap().to_owned());
    }
    let (q1, q2) = (questions[0].clone(), questions[1].clone());
    let say = |q: String, text: &'static str| {
        let (app, alice) = (&app, alice.clone());
        async move {
            let (status, body) = app
                .post_json(
                    &format!("/v1/question/{q}/message/send_text"),
                    json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": text }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    app.post_json(
        &format!("/v1/question/{q1}/serve"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;
    fake.wait_accepted(1, 10).await;

    // 1. A 500, then an answer slower than the request timeout, then success.
    fake.answer(1, 500, "oops");
    fake.answer_after(1, 200, r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#, 1_500);
    let before = fake.calls().len();
    say(q1.clone(), "x1").await;
    let accepted = fake.wait_accepted(2, 20).await;
    assert_eq!(accepted[1], ("u1".into(), "x1".into()));
    let calls: Vec<_> = fake.calls()[before..].to_vec();
    assert!(calls.len() >= 3, "500, timeout, success: {calls:?}");
    assert!(calls.iter().all(|c| c.1["MsgRandom"] == calls[0].1["MsgRandom"]));
    let randoms: std::collections::HashSet<_> = calls.iter().map(|c| c.0.clone()).collect();
    assert_eq!(randoms.len(), calls.len(), "a fresh random per request");
    let user1 = app.session("u1").await;
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = delivery_shown(&app, &user1, &q1, "x1").await;
        if shown["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(shown["state"], "delivered", "{shown}");
    assert!(shown["attempts"].as_i64().unwrap() >= 3, "{shown}");
    assert_eq!(
        shown.get("last_error"),
        Some(&Value::Null),
        "cleared once delivered: {shown}"
    );

    // 2. The IM down for everyone, longer than the first retries: nothing is lost,
    //    nothing doubled, the order kept.
    fake.set_down("*", true);
    say(q1.clone(), "a1").await;
    say(q1.clone(), "a2").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(fake.accepted().len(), 2, "nothing gets through while it is down");
    let pending = delivery_shown(&app, &user1, &q1, "a1").await;
    assert_eq!(pending["state"], "pending", "{pending}");
    assert!(
        pending["attempts"].as_i64().unwrap() >= 3,
        "retried meanwhile: {pending}"
    );
    assert!(pending["last_error"].as_str().unwrap().contains("503"), "{pending}");
    fake.set_down("*", false);
    let accepted = fake.wait_accepted(4, 20).await;
    assert_eq!(
        accepted[2..],
        [("u1".to_owned(), "a1".to_owned()), ("u1".to_owned(), "a2".to_owned())]
    );

    // 3. Sends to u1 failing do not hold up u2's question.
    fake.set_down("u1", true);
    say(q1.clone(), "a3").await;
    app.post_json(
        &format!("/v1/question/{q2}/serve"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;
    say(q2.clone(), "b1").await;
    let accepted = fake.wait_accepted(6, 20).await;
    assert_eq!(
        accepted[4..],
        [
            ("u2".to_owned(), "<custom>".to_owned()),
            ("u2".to_owned(), "b1".to_owned())
        ],
        "u2's question goes on while u1's is retried"
    );
    fake.set_down("u1", false);
    let accepted = fake.wait_accepted(7, 20).await;
    assert_eq!(accepted[6], ("u1".to_owned(), "a3".to_owned()));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(fake.accepted().len(), 7, "nothing more, nothing twice");
    assert_eq!(
        support::count_rows(&app.db, "im_deliveries", Some("state = 'delivered'")).await,
        7
    );

    // A question that carries the user's IM session is sent to that session.
    let u3 = app.session("u3").await;
    let (status, created) = app
        .post_json(
            "/v1/question/new",
            json!({ "session": u3, "title": "t", "session_id": "fd8a2e30-54de-4e40-bcaf-02718409c5cf" }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let q3 = created["question_id"].as_str().unwrap().to_owned();
    app.post_json(
        &format!("/v1/question/{q3}/serve"),
        json!({ "session": alice, "serv_id": "alice" }),
    )
    .await;
    fake.wait_accepted(8, 20).await;
    let last = fake.calls().last().unwrap().1.clone();
    assert_eq!(last["SessionId"], "fd8a2e30-54de-4e40-bcaf-02718409c5cf", "{last}");
    assert!(
        last.get("ToAccount").is_none() && last.get("FromAccount").is_none(),
        "{last}"
    );

    // The metrics count attempts and outcomes.
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert_eq!(value(r#"kefu_deliveries_total{channel="im",result="delivered"}"#), 8.0);
    assert!(value(r#"kefu_deliveries_total{channel="im",result="retried"}"#) >= 5.0);
    assert_eq!(
        value(r#"kefu_delivery_attempts_total{channel="im"}"#),
        fake.calls().len() as f64
    );
    assert_eq!(value(r#"kefu_deliveries_in_flight{channel="im"}"#), 0.0);
    app.shutdown().await;
}

/// A worker killed (SIGKILL) while its send hangs: after a restart the message is sent
/// again with the same MsgRandom and the IM takes it once; later messages follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn im_delivery_survives_a_worker_killed_mid_send_rabbitmq_postgres() {
    use support::{delete_topology, free_addr, Client, Proc};
    const KEY: &str = "THE-KILLED-WORKERS-KEY";
    let (fake, base) = FakeIm::start(KEY).await;
    let (db, app) = support::shop_with_alice().await;
    set_im(&db.url, &base, KEY);
    let prefix = format!("kefu-imkill-{}", uuid::Uuid::new_v4().simple());
    let addr = free_addr();
    let env = [
        ("KEFU_IM_CONNECT_TIMEOUT_MS", "500"),
        ("KEFU_IM_REQUEST_TIMEOUT_MS", "1500"),
        ("KEFU_IM_SWEEP_SECS", "1"),
        ("KEFU_TASK_RETRY_INITIAL_MS", "100"),
        ("KEFU_TASK_RETRY_MAX_MS", "800"),
    ];
    let _ingest = Proc::start("ingest", &db.url, &prefix, &addr, &env);
    let mut worker = Proc::start("worker", &db.url, &prefix, &addr, &env);
    let remote = Client::new(format!("http://{addr}"), &app);
    remote.wait_ready().await;
    let user = remote.session("u1").await;
    let alice = remote.agent_session("alice").await;
    let (_, created) = remote
        .post_json("/v1/question/new", json!({ "session": user, "title": "t" }))
        .await;
    let q = created["question_id"].as_str().unwrap().to_owned();

    // The serve notification's send hangs far past the request timeout; the worker dies.
    fake.answer_after(1, 200, r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#, 60_000);
    let (status, _) = remote
        .post_json(
            &format!("/v1/question/{q}/serve"),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    wait_calls(&fake, 1).await;
    worker.kill9();
    assert!(fake.accepted().is_empty());

    // A new worker sends it again once the dead one's lease is over.
    let _worker = Proc::start("worker", &db.url, &prefix, &addr, &env);
    let accepted = fake.wait_accepted(1, 30).await;
    assert_eq!(accepted, [("u1".to_owned(), "<custom>".to_owned())]);
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "one send before the kill, one after: {calls:?}");
    assert_eq!(calls[0].1["MsgRandom"], calls[1].1["MsgRandom"], "the same MsgRandom");
    let (status, _) = remote
        .post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": alice, "sender": "alice", "sender_type": 2, "text": "next" }),
        )
        .await;
    assert_eq!(status, 200);
    let accepted = fake.wait_accepted(2, 20).await;
    assert_eq!(accepted[1], ("u1".to_owned(), "next".to_owned()));
    let conn = kefu_common::store::db::connect(&db.url).await.unwrap();
    assert_eq!(
        support::count_rows(&conn, "im_deliveries", Some("state = 'delivered'")).await,
        2
    );
    conn.close().await.ok();
    drop(_ingest);
    drop(_worker);
    delete_topology(&prefix, &[200, 1000]).await;
    db.drop_db().await;
}
