//! Authorization that holds: every endpoint against every identity that must not reach
//! another's data, with the row counts of every table compared before and after; plus
//! sessions (digests, revocation, expiry, pruning), login lockout, rate limits, secret
//! rotation, readiness, metrics and the operators' admin API and CLI.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use support::media::{amr, b64, jpeg};
use support::{admin, admin_with_stdin, now_ms, spawn_custom, Backend, Client, TestApp};

const ADMIN_TOKEN: &str = "the-admin-token-of-this-test";

/// Every table holding what users, agents and operators own. (The bookkeeping tables
/// `processed_commands`, `idempotency_keys` and `queue_jobs` record refusals too.)
const TABLES: [&str; 14] = [
    "apps",
    "users",
    "sessions",
    "agents",
    "agent_apps",
    "agent_bindings",
    "questions",
    "question_labels",
    "messages",
    "media_blobs",
    "answer_templates",
    "answer_items",
    "cc_misc_lvmsg",
    "leave_message_apps",
];

async fn counts(app: &TestApp) -> BTreeMap<&'static str, i64> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        out.insert(t, app.count(t).await);
    }
    out
}

/// One identity that must not reach app 1's data (or, for lists, must see none of it).
struct Who {
    name: &'static str,
    session: Option<String>,
    /// The user it writes as.
    user: String,
    /// The agent it acts as.
    agent: String,
}

/// What the matrix expects of one call by one identity.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Refused with this error name.
    Refused(&'static str),
    /// Allowed (it reads the identity's own, empty world): the answer names none of
    /// app 1's questions, users, templates or leave messages.
    SeesNothing,
}

struct Resources {
    waiting: String,
    served: String,
    finished: String,
    template: String,
    leave: String,
}

async fn call(app: &TestApp, who: &Who, method: &str, path: &str, fields: Value) -> (u16, Value, String) {
    let mut fields = fields.as_object().cloned().unwrap_or_default();
    if let Some(s) = &who.session {
        fields.insert("session".into(), json!(s));
    }
    let req = if method == "GET" {
        let query: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        app.http.get(app.url(path)).query(&query)
    } else {
        app.http.post(app.url(path)).json(&Value::Object(fields))
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, text)
}

/// Signed leave message for app 1.
async fn leave_message(app: &TestApp) -> String {
    let ts = now_ms().to_string();
    let sig = hex::encode(Sha1::digest(format!("1{}{ts}", app.secret).as_bytes()));
    let resp = app
        .http
        .post(app.url("/api/v1/1/leavemessage"))
        .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
        .json(&json!({ "contact": "张三", "callback": "tel", "tel": "13800138000", "subject": "退款" }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errcode"], 0, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn setup() -> (TestApp, Resources, Vec<Who>) {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.admin_token = Some(kefu_common::infra::config::SecretString::from(ADMIN_TOKEN));
            c.session_rate_per_sec = 0;
            // The matrix sends hundreds of wrong tokens on purpose (throttling has its own test).
            c.admin_token_max_failures = 0;
        },
        true,
    )
    .await;
    let db = app.config.database_url.clone();
    let bank = admin(&db, &["app", "create", "--identify", "com.example.bank"]);
    let off = admin(&db, &["app", "create", "--identify", "com.example.off"]);
    support::create_agent(&db, "carol", "com.example.bank", "secret-pw\n");
    support::create_agent(&db, "dave", "com.example.shop", "secret-pw\n");
    let bank = Client::new(app.base.clone(), &bank);
    let off = Client::new(app.base.clone(), &off);

    // App 1's data: u1's questions (waiting, served by alice, finished), a template,
    // a leave message.
    let u1 = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let new_question = |title: &'static str| {
        let u1 = u1.clone();
        let app = &app;
        async move {
            let (status, body) = app
                .post_json(
                    "/v1/question/new",
                    json!({ "session": u1, "title": title, "labels": ["秘密"] }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            body["question_id"].as_str().unwrap().to_owned()
        }
    };
    let waiting = new_question("waiting").await;
    let served = new_question("served").await;
    let finished = new_question("finished").await;
    for (q, action) in [(&served, "serve"), (&finished, "serve"), (&finished, "finish")] {
        let (status, body) = app
            .post_json(
                &format!("/v1/question/{q}/{action}"),
                json!({ "session": alice, "serv_id": "alice" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = app
        .post_json(
            &format!("/v1/question/{served}/message/send_text"),
            json!({ "session": u1, "sender": "u1", "sender_type": 1, "text": "我的订单号是 42" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let template = admin(
        &db,
        &[
            "template",
            "create",
            "--identify",
            "com.example.shop",
            "--title",
            "安装",
        ],
    );
    let template = template["template_id"].as_str().unwrap().to_owned();
    admin(
        &db,
        &[
            "template",
            "add-item",
            "--template",
            &template,
            "--question",
            "怎么装",
            "--content",
            "先下载",
        ],
    );
    let leave = leave_message(&app).await;

    // The identities.
    let after_unbind = app.agent_session("alice").await;
    let (status, body) = app
        .post_form(
            "/v1/serv/unbind",
            &[
                ("session", &after_unbind),
                ("serv_id", "alice"),
                ("password", "secret-pw"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let dave = app.agent_session("dave").await;
    let (status, body) = admin_post(&app, "/admin/v1/agents/dave/disable", json!({})).await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(true)), "{body}");
    let disabled_app_user = off.session("u1").await;
    let (status, body) = admin_post(&app, "/admin/v1/apps/com.example.off/disable", json!({})).await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(true)), "{body}");
    let who = |name, session: Option<String>, user: &str, agent: &str| Who {
        name,
        session,
        user: user.to_owned(),
        agent: agent.to_owned(),
    };
    let identities = vec![
        who("none", None, "u1", "alice"),
        who("other_app_user", Some(bank.session("x1").await), "x1", "alice"),
        who("other_user", Some(app.session("u2").await), "u2", "alice"),
        who(
            "unbound_device",
            Some(app.session("device-zed").await),
            "device-zed",
            "alice",
        ),
        who(
            "other_app_agent",
            Some(bank.agent_session("carol").await),
            "device-carol",
            "carol",
        ),
        who("after_unbind", Some(after_unbind), "device-alice", "alice"),
        who("disabled_agent", Some(dave), "device-dave", "dave"),
        who("disabled_app", Some(disabled_app_user), "u1", "alice"),
    ];
    let resources = Resources {
        waiting,
        served,
        finished,
        template,
        leave,
    };
    (app, resources, identities)
}

/// One row of the matrix: an endpoint with the fields an identity sends, and what each
/// identity gets.
struct Row {
    name: &'static str,
    method: &'static str,
    path: String,
    fields: fn(&Who) -> Value,
    expect: fn(&str) -> Expect,
}

fn rows(r: &Resources) -> Vec<Row> {
    use Expect::*;
    // Reads of a question: a device whose agent is disabled is told so.
    fn user_read(name: &str) -> Expect {
        match name {
            "disabled_agent" => Refused("agent_disabled"),
            other => user_side(other),
        }
    }
    let (w, s, f, t, l) = (&r.waiting, &r.served, &r.finished, &r.template, &r.leave);
    // What an agent-side call gets from each identity.
    fn agent_side(name: &str) -> Expect {
        match name {
            "none" => Refused("invalid_session"),
            "disabled_app" => Refused("app_disabled"),
            "disabled_agent" => Refused("agent_disabled"),
            "other_app_agent" => Refused("unknown_question"),
            _ => Refused("not_bound"),
        }
    }
    // Lists an agent of another app may read: its own (empty) world.
    fn agent_list(name: &str) -> Expect {
        match name {
            "other_app_agent" => SeesNothing,
            other => agent_side(other),
        }
    }
    fn user_side(name: &str) -> Expect {
        match name {
            "none" => Refused("invalid_session"),
            "disabled_app" => Refused("app_disabled"),
            "other_user" | "unbound_device" | "after_unbind" | "disabled_agent" => Refused("not_question_owner"),
            _ => Refused("unknown_question"),
        }
    }
    vec![
        Row {
            name: "serv/unbind",
            method: "POST",
            path: "/v1/serv/unbind".into(),
            fields: |who| json!({ "serv_id": if who.name == "disabled_agent" { "dave" } else { "alice" }, "password": "secret-pw" }),
            expect: |n| match n {
                "other_app_agent" => Refused("not_bound"),
                other => agent_side(other),
            },
        },
        Row {
            name: "serv/<serv_id>/tasks",
            method: "GET",
            path: "/v1/serv/{agent}/tasks".into(),
            fields: |_| json!({}),
            expect: agent_list,
        },
        Row {
            name: "question/list",
            method: "GET",
            path: "/v1/question/list".into(),
            fields: |_| json!({}),
            expect: agent_list,
        },
        Row {
            name: "question/<id>/serve",
            method: "POST",
            path: format!("/v1/question/{w}/serve"),
            fields: agent_fields,
            expect: agent_side,
        },
        Row {
            name: "question/<id>/quit",
            method: "POST",
            path: format!("/v1/question/{s}/quit"),
            fields: agent_fields,
            expect: agent_side,
        },
        Row {
            name: "question/<id>/finish",
            method: "POST",
            path: format!("/v1/question/{s}/finish"),
            fields: agent_fields,
            expect: agent_side,
        },
        Row {
            name: "send_text as agent",
            method: "POST",
            path: format!("/v1/question/{s}/message/send_text"),
            fields: |who| json!({ "sender": who.agent, "sender_type": 2, "text": "hi" }),
            expect: |n| match n {
                "none" => Refused("invalid_session"),
                "disabled_app" => Refused("app_disabled"),
                "disabled_agent" => Refused("agent_disabled"),
                "other_app_agent" => Refused("unknown_question"),
                _ => Refused("not_bound"),
            },
        },
        Row {
            name: "send_text as user",
            method: "POST",
            path: format!("/v1/question/{s}/message/send_text"),
            fields: |who| json!({ "sender": who.user, "sender_type": 1, "text": "hi" }),
            expect: user_side,
        },
        Row {
            name: "send_image as user",
            method: "POST",
            path: format!("/v1/question/{s}/message/send_image"),
            fields: |who| json!({ "sender": who.user, "sender_type": 1, "image": b64(&jpeg(7)) }),
            expect: user_side,
        },
        Row {
            name: "send_audio as user",
            method: "POST",
            path: format!("/v1/question/{s}/message/send_audio"),
            fields: |who| json!({ "sender": who.user, "sender_type": 1, "audio": b64(&amr()), "audio_len": 3 }),
            expect: user_side,
        },
        Row {
            name: "question/<id>/reopen",
            method: "POST",
            path: format!("/v1/question/{f}/reopen"),
            fields: |_| json!({}),
            expect: user_side,
        },
        Row {
            name: "question/<id>/message",
            method: "GET",
            path: format!("/v1/question/{s}/message"),
            fields: |_| json!({}),
            expect: user_read,
        },
        Row {
            name: "question/<id>/position",
            method: "GET",
            path: format!("/v1/question/{w}/position"),
            fields: |_| json!({}),
            expect: user_read,
        },
        Row {
            name: "user page",
            method: "GET",
            path: format!("/v1/user?question_id={s}"),
            fields: |_| json!({}),
            expect: agent_side,
        },
        Row {
            name: "user/<user_id>/alls",
            method: "GET",
            path: "/v1/user/u1/alls".into(),
            fields: |_| json!({}),
            expect: |n| match n {
                "none" => Refused("invalid_session"),
                "disabled_app" => Refused("app_disabled"),
                "disabled_agent" => Refused("agent_disabled"),
                "other_app_agent" => Refused("unknown_user"),
                _ => Refused("forbidden"),
            },
        },
        Row {
            name: "leavemessages",
            method: "GET",
            path: "/v1/leavemessages".into(),
            fields: |_| json!({}),
            expect: agent_list,
        },
        Row {
            name: "leavemessage/<id>",
            method: "GET",
            path: format!("/v1/leavemessage/{l}"),
            fields: |_| json!({}),
            expect: |n| match n {
                "other_app_agent" => Refused("unknown_leave_message"),
                other => agent_side(other),
            },
        },
        Row {
            name: "leavemessage/<id>/tag",
            method: "POST",
            path: format!("/v1/leavemessage/{l}/tag"),
            fields: |_| json!({ "tag": "x" }),
            expect: |n| match n {
                "other_app_agent" => Refused("unknown_leave_message"),
                other => agent_side(other),
            },
        },
        Row {
            name: "answer/templates",
            method: "GET",
            path: "/v1/answer/templates".into(),
            fields: |_| json!({}),
            expect: agent_list,
        },
        Row {
            name: "answer/template/<id>",
            method: "GET",
            path: format!("/v1/answer/template/{t}"),
            fields: |_| json!({}),
            expect: |n| match n {
                "other_app_agent" => Refused("unknown_template"),
                other => agent_side(other),
            },
        },
        Row {
            name: "serv/bind (alice's password)",
            method: "POST",
            path: "/v1/serv/bind".into(),
            fields: |who| json!({ "serv_id": if who.name == "disabled_agent" { "dave" } else { "alice" }, "password": "secret-pw" }),
            expect: |n| match n {
                "none" => Refused("invalid_session"),
                "disabled_app" => Refused("app_disabled"),
                "disabled_agent" => Refused("agent_disabled"),
                "other_app_user" | "other_app_agent" => Refused("forbidden"),
                // App 1's own devices with alice's password: that is what binding is.
                _ => SeesNothing,
            },
        },
    ]
}

fn agent_fields(who: &Who) -> Value {
    json!({ "serv_id": who.agent })
}

/// For every endpoint, each identity that must not reach app 1's data is refused with
/// its code, or (lists of its own world) sees none of it; and no table changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_rabbitmq_postgres() {
    let (app, r, identities) = setup().await;
    let secrets = [
        r.waiting.as_str(),
        r.served.as_str(),
        r.finished.as_str(),
        r.template.as_str(),
        r.leave.as_str(),
        "User u1",
        "我的订单号",
        "秘密",
        "先下载",
    ];
    let before = counts(&app).await;
    let rows = rows(&r);
    let mut observed = Vec::new();
    let mut failures = Vec::new();
    for row in &rows {
        for who in &identities {
            let path = row.path.replace("{agent}", &who.agent);
            let fields = (row.fields)(who);
            let (status, body, text) = call(&app, who, row.method, &path, fields).await;
            let expected = (row.expect)(who.name);
            let got = if body["status"] == 300 {
                format!("{} {}", status, body["error_name"].as_str().unwrap_or("?"))
            } else {
                format!("{status} ok")
            };
            observed.push(format!("{:<28} {:<16} {got}", row.name, who.name));
            let ok = match expected {
                Expect::Refused(name) => {
                    body["status"] == 300
                        && status >= 400
                        && body["error"] == support::error_number(name)
                        && !secrets.iter().any(|s| text.contains(s))
                }
                Expect::SeesNothing => status == 200 && !secrets.iter().any(|s| text.contains(s)),
            };
            if !ok {
                failures.push(format!(
                    "{} by {}: expected {expected:?}, got {status} {text}",
                    row.name, who.name
                ));
            }
        }
    }
    let mut after = counts(&app).await;
    // The app-1 devices that bound alice in the serv/bind row (other_user,
    // unbound_device, after_unbind) are the only rows allowed to add a binding.
    let rebound = 3;
    assert_eq!(
        after["agent_bindings"],
        before["agent_bindings"] + rebound,
        "{observed:#?}"
    );
    after.insert("agent_bindings", before["agent_bindings"]);
    eprintln!(
        "authorization matrix: {} endpoints × {} identities = {} cases\n{}",
        rows.len(),
        identities.len(),
        rows.len() * identities.len(),
        observed.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        rows.len() * identities.len(),
        failures.join("\n")
    );
    assert_eq!(before, after, "a refused call changed a table");
    app.shutdown().await;
}

/// The admin API refuses any caller without the token, and signed calls refuse another
/// app's secret; nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_signed_calls_refuse_strangers_rabbitmq_postgres() {
    let (app, r, identities) = setup().await;
    let before = counts(&app).await;
    let user_session = identities
        .iter()
        .find(|w| w.name == "other_user")
        .unwrap()
        .session
        .clone()
        .unwrap();
    let leave = r.leave.clone();
    let routes: Vec<(&str, String)> = vec![
        ("GET", "/admin/v1/apps".into()),
        ("POST", "/admin/v1/apps".into()),
        ("GET", "/admin/v1/apps/1".into()),
        ("PATCH", "/admin/v1/apps/com.example.shop".into()),
        ("POST", "/admin/v1/apps/1/disable".into()),
        ("POST", "/admin/v1/apps/1/enable".into()),
        ("POST", "/admin/v1/apps/1/rotate_secret".into()),
        ("GET", "/admin/v1/agents".into()),
        ("POST", "/admin/v1/agents".into()),
        ("GET", "/admin/v1/agents/alice".into()),
        ("PATCH", "/admin/v1/agents/alice".into()),
        ("POST", "/admin/v1/agents/alice/disable".into()),
        ("POST", "/admin/v1/agents/alice/enable".into()),
        ("POST", "/admin/v1/agents/alice/password".into()),
        ("POST", "/admin/v1/agents/alice/apps".into()),
        ("POST", "/admin/v1/sessions/revoke".into()),
        ("DELETE", format!("/admin/v1/sessions/{user_session}")),
        ("GET", "/admin/v1/leavemessages".into()),
        ("GET", format!("/admin/v1/leavemessage/{leave}")),
        ("POST", format!("/admin/v1/leavemessage/{leave}/tag")),
    ];
    let body = json!({ "identify": "com.example.new", "serv_id": "mallory", "password": "pw-of-mallory",
                       "apps": ["com.example.shop"], "session": user_session, "tag": "x", "disabled": true });
    let mut cases = 0;
    for (method, path) in &routes {
        for auth in [None, Some("not-the-admin-token-at-all"), Some(user_session.as_str())] {
            let mut req = app.http.request(method.parse().unwrap(), app.url(path)).json(&body);
            if let Some(token) = auth {
                req = req.bearer_auth(token);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let answer: Value = resp.json().await.unwrap();
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {answer}");
            support::assert_code(&answer, "bad_admin_token");
            cases += 1;
        }
    }
    // Signed calls with another app's secret.
    let body = json!({ "identify": "com.example.shop", "user_id": "intruder", "user_name": "I" });
    let (status, answer) = app
        .signed_session_new(&body, now_ms(), "the-secret-of-another-app")
        .await;
    assert_eq!(status, 401, "{answer}");
    support::assert_code(&answer, "bad_signature");
    let ts = now_ms().to_string();
    let sig = hex::encode(Sha1::digest(format!("1wrong-secret{ts}").as_bytes()));
    let resp = app
        .http
        .post(app.url("/api/v1/1/leavemessage"))
        .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
        .json(&json!({ "contact": "张三", "callback": "tel", "tel": "13800138000", "subject": "退款" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["errcode"], support::error_number("bad_signature"), "{answer}");
    // A disabled app's own, correctly signed calls.
    let off: Value = {
        let resp = app
            .http
            .get(app.url("/admin/v1/apps/com.example.off"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    };
    assert_eq!(off["disabled"], true, "{off}");
    assert_eq!(counts(&app).await, before, "a refused call changed a table");
    eprintln!("admin matrix: {} routes × 3 callers = {cases} cases", routes.len());
    app.shutdown().await;
}

async fn spawn_tuned(backend: Backend, tune: impl FnOnce(&mut kefu_common::infra::config::Config)) -> TestApp {
    spawn_custom(
        backend,
        |c| {
            c.admin_token = Some(kefu_common::infra::config::SecretString::from(ADMIN_TOKEN));
            c.session_rate_per_sec = 0;
            tune(c);
        },
        true,
    )
    .await
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Sessions are stored as SHA-256 digests, expire, can be revoked by an operator (one,
/// all of a user's, an agent's bindings; API and CLI), and are pruned with their bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_digests_and_end_when_revoked_or_expired_embedded_sqlite() {
    use sea_orm::ConnectionTrait;
    let app = spawn_tuned(Backend::Embedded, |c| c.session_ttl_secs = 3600).await;
    let body = json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "U1" });
    let (status, opened) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
    assert_eq!(status, 200, "{opened}");
    let s1 = opened["session"].as_str().unwrap().to_owned();
    let expires = opened["expires_at"].as_i64().unwrap();
    assert!(
        (expires - now_ms() / 1000 - 3600).abs() <= 5,
        "expires_at follows KEFU_SESSION_TTL_SECS: {opened}"
    );
    // Stored as a digest: the table holds no usable token.
    assert_eq!(
        support::count_rows(&app.db, "sessions", Some(&format!("session = '{s1}'"))).await,
        0
    );
    assert_eq!(
        support::count_rows(&app.db, "sessions", Some(&format!("session = '{}'", sha256_hex(&s1)))).await,
        1
    );
    let ok = |s: String| {
        let app = &app;
        async move { app.get("/v1/user/u1/alls", &[("session", &s)]).await }
    };
    assert_eq!(ok(s1.clone()).await.0, 200);

    // Revoked through the admin API.
    let (status, answer) = admin_post(&app, "/admin/v1/sessions/revoke", json!({ "session": s1 })).await;
    assert_eq!((status, answer["revoked"].as_i64()), (200, Some(1)), "{answer}");
    let (status, answer) = ok(s1.clone()).await;
    assert_eq!(status, 401, "{answer}");
    support::assert_code(&answer, "invalid_session");

    // Every session of one user, through the CLI.
    let a = app.session("u2").await;
    let b = {
        let body =
            json!({ "identify": "com.example.shop", "user_id": "u2", "user_name": "U2", "device_id": "phone-2" });
        let (_, opened) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
        opened["session"].as_str().unwrap().to_owned()
    };
    let out = admin(
        &app.config.database_url,
        &["session", "revoke", "--identify", "com.example.shop", "--user-id", "u2"],
    );
    assert_eq!(out["revoked"], 2, "{out}");
    for s in [a, b] {
        support::assert_code(
            &app.get("/v1/user/u2/alls", &[("session", &s)]).await.1,
            "invalid_session",
        );
    }

    // An agent's device bindings end; the device is a plain user session again.
    let alice = app.agent_session("alice").await;
    let (status, answer) = admin_post(&app, "/admin/v1/sessions/revoke", json!({ "serv_id": "alice" })).await;
    assert_eq!((status, answer["revoked"].as_i64()), (200, Some(1)), "{answer}");
    let (status, answer) = app.get("/v1/serv/alice/tasks", &[("session", &alice)]).await;
    assert_eq!(status, 403, "{answer}");
    support::assert_code(&answer, "not_bound");

    // serv/unbind ends the binding at once.
    let bob = app.agent_session("bob").await;
    let (status, _) = app
        .post_form(
            "/v1/serv/unbind",
            &[("session", &bob), ("serv_id", "bob"), ("password", "secret-pw")],
        )
        .await;
    assert_eq!(status, 200);
    support::assert_code(
        &app.get("/v1/serv/bob/tasks", &[("session", &bob)]).await.1,
        "not_bound",
    );

    // Expired: refused, then pruned together with its binding.
    let carol_device = app.agent_session("alice").await;
    let digest = sha256_hex(&carol_device);
    app.db
        .execute_unprepared(&format!(
            "UPDATE sessions SET expires_at = {} WHERE session = '{digest}'",
            now_ms() - 1
        ))
        .await
        .unwrap();
    support::assert_code(
        &app.get("/v1/serv/alice/tasks", &[("session", &carol_device)]).await.1,
        "invalid_session",
    );
    assert_eq!(
        support::count_rows(&app.db, "agent_bindings", Some(&format!("session = '{digest}'"))).await,
        1
    );
    let pruned = kefu_common::store::operators::prune_expired_sessions(&app.db)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(
        support::count_rows(&app.db, "sessions", Some(&format!("session = '{digest}'"))).await,
        0
    );
    assert_eq!(
        support::count_rows(&app.db, "agent_bindings", Some(&format!("session = '{digest}'"))).await,
        0
    );
    app.shutdown().await;
}

/// Failed agent logins are slowed, then the agent and the client address are locked
/// (10038 with Retry-After, even for the right password) until the lock ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_slowed_then_locked_embedded_sqlite() {
    let app = spawn_tuned(Backend::Embedded, |c| {
        c.login_max_failures = 3;
        c.login_source_max_failures = 5;
        // Failures are forgotten after this long without any.
        c.login_lock_secs = 4;
        c.login_slow_ms = 300;
    })
    .await;
    let device = app.session("device-1").await;
    let bind = |serv_id: &'static str, password: &'static str| {
        let (app, device) = (&app, device.clone());
        async move {
            let started = std::time::Instant::now();
            let resp = app
                .http
                .post(app.url("/v1/serv/bind"))
                .form(&[
                    ("session", device.as_str()),
                    ("serv_id", serv_id),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body, retry_after, started.elapsed())
        }
    };
    let mut took = Vec::new();
    for _ in 0..3 {
        let (status, body, _, elapsed) = bind("alice", "wrong-pw").await;
        assert_eq!(status, 401, "{body}");
        support::assert_code(&body, "wrong_password");
        took.push(elapsed);
    }
    assert!(
        took[1] >= std::time::Duration::from_millis(300),
        "second failure slowed: {took:?}"
    );
    assert!(
        took[2] >= std::time::Duration::from_millis(600),
        "third failure slowed more: {took:?}"
    );
    // Locked: even the right password is refused, without being checked.
    let (status, body, retry_after, _) = bind("alice", "secret-pw").await;
    assert_eq!(status, 429, "{body}");
    support::assert_code(&body, "agent_locked");
    assert_eq!(body["field"], "serv_id", "{body}");
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=4).contains(&retry_after), "Retry-After {retry_after}");
    // Another agent is not locked by alice's failures…
    let (status, body, _, _) = bind("bob", "secret-pw").await;
    assert_eq!(status, 200, "{body}");
    // …but the address is, once it failed often enough across agents.
    for _ in 0..2 {
        let (status, body, _, _) = bind("bob", "wrong-pw").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, _, _) = bind("bob", "secret-pw").await;
    assert_eq!(status, 429, "the source is locked: {body}");
    support::assert_code(&body, "agent_locked");
    assert_eq!(body["field"], "password", "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(4_200)).await;
    let (status, body, _, _) = bind("alice", "secret-pw").await;
    assert_eq!(status, 200, "unlocked after KEFU_LOGIN_LOCK_SECS: {body}");
    app.shutdown().await;
}

/// An app over KEFU_APP_RATE_PER_SEC is refused 10038 with Retry-After, whichever of its
/// sessions asks; other apps go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_rate_limit_answers_10038_with_retry_after_embedded_sqlite() {
    let app = spawn_tuned(Backend::Embedded, |c| {
        c.app_rate_per_sec = 1;
        c.app_rate_burst = 4;
    })
    .await;
    let s = app.session("u1").await; // 1 of 4
    for _ in 0..3 {
        assert_eq!(app.get("/v1/user/u1/alls", &[("session", &s)]).await.0, 200);
    }
    let resp = app
        .http
        .get(app.url("/v1/user/u1/alls"))
        .query(&[("session", &s)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: Value = resp.json().await.unwrap();
    support::assert_code(&body, "too_frequent");
    // The app's signed calls count too.
    let body = json!({ "identify": "com.example.shop", "user_id": "u9", "user_name": "U9" });
    let (status, answer) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
    assert_eq!(status, 429, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(app.get("/v1/user/u1/alls", &[("session", &s)]).await.0, 200);
    app.shutdown().await;
}

/// A rotated secret: the old signature is refused, the new one accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_rotation_refuses_the_old_secret_embedded_sqlite() {
    let app = spawn_tuned(Backend::Embedded, |_| {}).await;
    let old = app.secret.clone();
    let (status, rotated) = admin_post(&app, "/admin/v1/apps/com.example.shop/rotate_secret", json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let body = json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "U1" });
    let (status, answer) = app.signed_session_new(&body, now_ms(), &old).await;
    assert_eq!(status, 401, "{answer}");
    support::assert_code(&answer, "bad_signature");
    let (status, answer) = app.signed_session_new(&body, now_ms() + 1, &new).await;
    assert_eq!(status, 200, "{answer}");
    // The CLI does the same.
    let cli = admin(
        &app.config.database_url,
        &["app", "rotate-secret", "--identify", "com.example.shop"],
    );
    let newer = cli["secret"].as_str().unwrap();
    assert_ne!(newer, new);
    let (status, _) = app.signed_session_new(&body, now_ms() + 2, &new).await;
    assert_eq!(status, 401);
    let (status, _) = app.signed_session_new(&body, now_ms() + 3, newer).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

/// `/ready` answers 503 naming the database while PostgreSQL is unreachable, and 200
/// once it is back; `/health` stays 200 (the process is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_database_rabbitmq_postgres() {
    let test_db = support::TestDb::create(Backend::RabbitPostgres).await;
    let proxy = support::proxy::Proxy::start("127.0.0.1:5432").await;
    let through_proxy = test_db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let prefix = format!("kefu-test-{}", uuid::Uuid::new_v4().simple());
    let mut config = support::test_config(Backend::RabbitPostgres, &through_proxy, &prefix);
    config.db_acquire_timeout_ms = 1_000;
    let app = support::spawn_with(Backend::RabbitPostgres, test_db, config, true).await;
    let ready = || async {
        let resp = app.http.get(app.url("/ready")).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap())
    };
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["database"].as_str(),
            body["migrations"].as_str(),
            body["broker"].as_str()
        ),
        (Some("ok"), Some("current"), Some("ok")),
        "{body}"
    );
    proxy.stop();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["database"], "ok", "{body}");
    assert_eq!(app.http.get(app.url("/health")).send().await.unwrap().status(), 200);
    proxy.resume().await;
    let mut back = None;
    for _ in 0..50 {
        let (status, body) = ready().await;
        if status == 200 {
            back = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back.is_some(), "ready again once the database is back");
    app.shutdown().await;
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `/metrics` counts requests by route and status (with latency histograms), commands
/// applied and refused, the queue; the numbers move under load. A worker-only process
/// serves its own on KEFU_METRICS_ADDR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_under_load_rabbitmq_postgres() {
    let app = spawn_tuned(Backend::RabbitPostgres, |_| {}).await;
    let scrape = || async {
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    let user = app.session("u1").await;
    for i in 0..20 {
        let (status, _) = app
            .post_json("/v1/question/new", json!({ "session": user, "title": format!("q{i}") }))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = app
        .post_json(
            "/v1/question/0123456789abcdef01234567/reopen",
            json!({ "session": user }),
        )
        .await;
    assert_eq!(status, 404);
    let after = scrape().await;
    let route = r#"route="/v1/question/new""#;
    let requests = |t: &str| metric(t, "kefu_http_requests_total", &[route, r#"status="200""#]);
    assert_eq!(requests(&after) - requests(&before), 20.0, "{after}");
    let histogram = |t: &str| metric(t, "kefu_http_request_duration_seconds_count", &[route]);
    assert_eq!(histogram(&after) - histogram(&before), 20.0);
    let applied = |t: &str| {
        metric(
            t,
            "kefu_commands_total",
            &[r#"command="QuestionCreateV1""#, r#"result="applied""#],
        )
    };
    assert_eq!(applied(&after) - applied(&before), 20.0);
    assert_eq!(
        metric(
            &after,
            "kefu_commands_total",
            &[r#"command="QuestionReopenV1""#, r#"result="refused""#]
        ),
        1.0
    );
    assert!(
        metric(
            &after,
            "kefu_command_apply_duration_seconds_count",
            &[r#"command="QuestionCreateV1""#]
        ) >= 20.0
    );
    // Per queue: the commands and the task queues (what an autoscaler acts on).
    assert!(after.contains(r#"kefu_queue_ready{queue="commands"} "#), "{after}");
    assert!(after.contains(r#"kefu_queue_ready{queue="im-deliveries"} "#), "{after}");
    assert!(
        after.contains(r#"kefu_queue_ready{queue="http-deliveries"} "#),
        "{after}"
    );
    assert!(
        metric(&after, "kefu_queue_consumers", &[r#"queue="commands""#]) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains(r#"kefu_queue_consumers{queue="http-deliveries"} "#),
        "{after}"
    );
    assert_eq!(metric(&after, "kefu_broker_up", &[]), 1.0);

    // A worker-only process on its own metrics address.
    let addr = support::free_addr();
    let _worker = support::Proc::start(
        "worker",
        &app.config.database_url,
        &app.config.amqp_prefix,
        &support::free_addr(),
        &[("KEFU_METRICS_ADDR", addr.as_str())],
    );
    let mut text = None;
    for _ in 0..100 {
        if let Ok(resp) = app.http.get(format!("http://{addr}/metrics")).send().await {
            text = Some(resp.text().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = text.expect("the worker serves /metrics on KEFU_METRICS_ADDR");
    assert!(
        metric(&text, "kefu_queue_consumers", &[r#"queue="commands""#]) >= 2.0,
        "both workers consume: {text}"
    );
    app.shutdown().await;
}

/// The operators' surface: apps and agents through the admin API and the CLI (one
/// service layer); passwords from stdin; the CLI does not migrate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_apps_agents_through_api_and_cli_embedded_sqlite() {
    let owned = spawn_tuned(Backend::Embedded, |_| {}).await;
    let app = &owned;
    let get = |path: &'static str| async move {
        let resp = app
            .http
            .get(app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let (status, created) = admin_post(
        app,
        "/admin/v1/apps",
        json!({ "identify": "com.example.game", "name": "Game" }),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["secret"].as_str().unwrap().len(), 40);
    let (status, again) = admin_post(&app, "/admin/v1/apps", json!({ "identify": "com.example.game" })).await;
    assert_eq!(status, 409, "{again}");
    let (status, bad) = admin_post(
        &app,
        "/admin/v1/apps",
        json!({ "identify": "com.example.x", "default_avatar_url": "javascript:alert(1)" }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "default_avatar_url");
    let (_, listed) = get("/admin/v1/apps").await;
    let identifies: Vec<&str> = listed["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["identify"].as_str().unwrap())
        .collect();
    assert_eq!(identifies, ["com.example.shop", "com.example.game"]);
    assert!(listed["apps"][0].get("secret").is_none(), "lists never show secrets");
    let resp = app
        .http
        .patch(app.url("/admin/v1/apps/com.example.game"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "Game 2", "default_avatar_url": "https://cdn.example.com/g.png" }))
        .send()
        .await
        .unwrap();
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(
        (updated["name"].as_str(), updated["default_avatar_url"].as_str()),
        (Some("Game 2"), Some("https://cdn.example.com/g.png"))
    );

    // An agent through the API, its password changed through the API, then its apps.
    let (status, agent) = admin_post(
        &app,
        "/admin/v1/agents",
        json!({ "serv_id": "erin", "password": "first-pw", "apps": ["com.example.shop"] }),
    )
    .await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["apps"], json!(["com.example.shop"]));
    let device = app.session("device-erin").await;
    let bind = |password: &'static str| {
        let (app, device) = (&app, device.clone());
        async move {
            app.post_form(
                "/v1/serv/bind",
                &[("session", &device), ("serv_id", "erin"), ("password", password)],
            )
            .await
        }
    };
    assert_eq!(bind("first-pw").await.0, 200);
    let (status, _) = admin_post(
        &app,
        "/admin/v1/agents/erin/password",
        json!({ "password": "second-pw" }),
    )
    .await;
    assert_eq!(status, 200);
    support::assert_code(
        &app.get("/v1/serv/erin/tasks", &[("session", &device)]).await.1,
        "not_bound",
    );
    assert_eq!(bind("first-pw").await.0, 401);
    assert_eq!(bind("second-pw").await.0, 200);
    let (_, agent) = admin_post(
        &app,
        "/admin/v1/agents/erin/apps",
        json!({ "apps": ["com.example.shop", "com.example.game"] }),
    )
    .await;
    assert_eq!(agent["apps"], json!(["com.example.shop", "com.example.game"]));
    let (_, agents) = get("/admin/v1/agents").await;
    assert_eq!(agents["agents"].as_array().unwrap().len(), 3);

    // The CLI: a password from stdin, never from the arguments.
    let db = app.config.database_url.clone();
    let out = support::create_agent(&db, "frank", "com.example.game", "frank-pw\n");
    assert_eq!(out["apps"], json!(["com.example.game"]));
    let out = admin_with_stdin(
        &db,
        &["agent", "set-password", "--serv-id", "frank", "--password-stdin"],
        "frank-pw-2\n",
    );
    assert_eq!(out["serv_id"], "frank");
    let out = admin(&db, &["agent", "disable", "--serv-id", "frank"]);
    assert_eq!(out["disabled"], true);
    let out = admin(&db, &["app", "list"]);
    assert_eq!(out.as_array().unwrap().len(), 2);

    // The CLI does not migrate as a side effect.
    let fresh = std::env::temp_dir().join(format!("kefu-unmigrated-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", fresh.display());
    let out = support::kefu_cmd(&url).args(["admin", "app", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("kefu migrate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(fresh);
    owned.shutdown().await;
}

/// Identifiers refuse control characters (line breaks too); URLs must be http(s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_and_urls_are_checked_embedded_sqlite() {
    let app = spawn_tuned(Backend::Embedded, |_| {}).await;
    let before = counts(&app).await;
    for (field, body) in [
        (
            "user_id",
            json!({ "identify": "com.example.shop", "user_id": "u1\nINFO forged log line", "user_name": "U" }),
        ),
        (
            "device_id",
            json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "U", "device_id": "d\t1" }),
        ),
        (
            "user_image_url",
            json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "U", "user_image_url": "javascript:alert(1)" }),
        ),
    ] {
        let (status, answer) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    assert_eq!(counts(&app).await, before);
    app.shutdown().await;
}
