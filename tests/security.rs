//! Authorization that holds: every endpoint against every identity that must not reach
//! another's data, with the row counts of every table compared before and after; plus
//! sessions (digests, revocation, expiry, pruning), login lockout, rate limits, secret
//! rotation, readiness, metrics and the operators' admin API and CLI.

mod support;

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
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

/// A small baseline JPEG (8×8 grey).
fn jpeg() -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend([0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    b.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    b.extend(std::iter::repeat_n(7u8, 64));
    b.extend([0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00]);
    for class in [0x00u8, 0x10] {
        b.extend([0xFF, 0xC4, 0x00, 0x14, class, 0x01]);
        b.extend([0u8; 15]);
        b.push(0x00);
    }
    b.extend([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x3F, 0xFF, 0xD9]);
    b
}

fn amr() -> Vec<u8> {
    let mut b = b"#!AMR\n".to_vec();
    for _ in 0..50 {
        b.push(0x3C);
        b.extend([0x55u8; 31]);
    }
    b
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
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
    let resp = app.http.post(app.url(path)).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn setup() -> (TestApp, Resources, Vec<Who>) {
    let app = spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.admin_token = Some(kefu_common::config::Redacted::new(ADMIN_TOKEN));
            c.session_rate_per_sec = 0;
        },
        true,
    )
    .await;
    let db = app.config.database_url.clone();
    let bank = admin(&db, &["app", "create", "--identify", "com.example.bank"]);
    let off = admin(&db, &["app", "create", "--identify", "com.example.off"]);
    admin_with_stdin(&db, &["agent", "create", "--serv-id", "carol", "--password-stdin", "--app", "com.example.bank"], "secret-pw\n");
    admin_with_stdin(&db, &["agent", "create", "--serv-id", "dave", "--password-stdin", "--app", "com.example.shop"], "secret-pw\n");
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
            let (status, body) = app.post_json("/v1/question/new", json!({ "session": u1, "title": title, "labels": ["秘密"] })).await;
            assert_eq!(status, 200, "{body}");
            body["question_id"].as_str().unwrap().to_owned()
        }
    };
    let waiting = new_question("waiting").await;
    let served = new_question("served").await;
    let finished = new_question("finished").await;
    for (q, action) in [(&served, "serve"), (&finished, "serve"), (&finished, "finish")] {
        let (status, body) = app
            .post_json(&format!("/v1/question/{q}/{action}"), json!({ "session": alice, "serv_id": "alice" }))
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
    let template = admin(&db, &["template", "create", "--identify", "com.example.shop", "--title", "安装"]);
    let template = template["template_id"].as_str().unwrap().to_owned();
    admin(&db, &["template", "add-item", "--template", &template, "--question", "怎么装", "--content", "先下载"]);
    let leave = leave_message(&app).await;

    // The identities.
    let after_unbind = app.agent_session("alice").await;
    let (status, body) = app
        .post_form("/v1/serv/unbind", &[("session", &after_unbind), ("serv_id", "alice"), ("password", "secret-pw")])
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
        who("unbound_device", Some(app.session("device-zed").await), "device-zed", "alice"),
        who("other_app_agent", Some(bank.agent_session("carol").await), "device-carol", "carol"),
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
        Row { name: "question/list", method: "GET", path: "/v1/question/list".into(), fields: |_| json!({}), expect: agent_list },
        Row { name: "question/<id>/serve", method: "POST", path: format!("/v1/question/{w}/serve"), fields: agent_fields, expect: agent_side },
        Row { name: "question/<id>/quit", method: "POST", path: format!("/v1/question/{s}/quit"), fields: agent_fields, expect: agent_side },
        Row { name: "question/<id>/finish", method: "POST", path: format!("/v1/question/{s}/finish"), fields: agent_fields, expect: agent_side },
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
            fields: |who| json!({ "sender": who.user, "sender_type": 1, "image": b64(&jpeg()) }),
            expect: user_side,
        },
        Row {
            name: "send_audio as user",
            method: "POST",
            path: format!("/v1/question/{s}/message/send_audio"),
            fields: |who| json!({ "sender": who.user, "sender_type": 1, "audio": b64(&amr()), "audio_len": 3 }),
            expect: user_side,
        },
        Row { name: "question/<id>/reopen", method: "POST", path: format!("/v1/question/{f}/reopen"), fields: |_| json!({}), expect: user_side },
        Row { name: "question/<id>/message", method: "GET", path: format!("/v1/question/{s}/message"), fields: |_| json!({}), expect: user_read },
        Row { name: "question/<id>/position", method: "GET", path: format!("/v1/question/{w}/position"), fields: |_| json!({}), expect: user_read },
        Row { name: "user page", method: "GET", path: format!("/v1/user?question_id={s}"), fields: |_| json!({}), expect: agent_side },
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
        Row { name: "leavemessages", method: "GET", path: "/v1/leavemessages".into(), fields: |_| json!({}), expect: agent_list },
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
        Row { name: "answer/templates", method: "GET", path: "/v1/answer/templates".into(), fields: |_| json!({}), expect: agent_list },
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
    let secrets = [r.waiting.as_str(), r.served.as_str(), r.finished.as_str(), r.template.as_str(), r.leave.as_str(), "User u1", "我的订单号", "秘密", "先下载"];
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
                failures.push(format!("{} by {}: expected {expected:?}, got {status} {text}", row.name, who.name));
            }
        }
    }
    let mut after = counts(&app).await;
    // The app-1 devices that bound alice in the serv/bind row (other_user,
    // unbound_device, after_unbind) are the only rows allowed to add a binding.
    let rebound = 3;
    assert_eq!(after["agent_bindings"], before["agent_bindings"] + rebound, "{observed:#?}");
    after.insert("agent_bindings", before["agent_bindings"]);
    eprintln!("authorization matrix: {} endpoints × {} identities = {} cases\n{}", rows.len(), identities.len(), rows.len() * identities.len(), observed.join("\n"));
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), rows.len() * identities.len(), failures.join("\n"));
    assert_eq!(before, after, "a refused call changed a table");
    app.shutdown().await;
}
