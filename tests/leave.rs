//! Leave messages: the signed API as its clients call it, its validation, the spec's
//! table, and the agents' reads and tags.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use support::{admin, now_ms, spawn_app, spawn_custom, Backend, TestApp};

/// The clients' signature: lowercase hex SHA-1 of `appid + secret + timestamp`.
fn signature(appid: &str, secret: &str, timestamp: &str) -> String {
    hex::encode(Sha1::digest(format!("{appid}{secret}{timestamp}").as_bytes()))
}

struct Sent {
    status: u16,
    body: Value,
}

async fn send_at(
    app: &TestApp,
    version: &str,
    appid: &str,
    ts: i64,
    sig: Option<&str>,
    body: &Value,
    headers: &[(&str, &str)],
) -> Sent {
    let ts = ts.to_string();
    let sig = sig
        .map(str::to_owned)
        .unwrap_or_else(|| signature(appid, &app.secret, &ts));
    let mut req = app
        .http
        .post(app.url(&format!("/api/{version}/{appid}/leavemessage")))
        .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    Sent { status, body }
}

/// Each call gets its own timestamp, so its own signature.
async fn send(app: &TestApp, body: &Value) -> Sent {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let ts = now_ms() + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    send_at(app, "v1", "1", ts, None, body, &[]).await
}

fn example() -> Value {
    json!({
        "user_id": "198979273423",
        "contact": "王五",
        "callback": "email",
        "email": "wangwu@163.com",
        "subject": "空调没人来装呀,你们的安装肿么了?",
        "content": "",
        "user_data": { "geolocation": [12.23, 40.1], "app_version": "1.2.1231", "os": "iOS 6.0" }
    })
}

#[track_caller]
fn refused(sent: &Sent, http: u16, code: &str, field: Option<&str>) {
    assert_eq!(sent.status, http, "{}", sent.body);
    assert_eq!(
        sent.body["errcode"],
        support::error_number(code),
        "{code}: {}",
        sent.body
    );
    assert!(
        sent.body["errmsg"].as_str().is_some_and(|m| !m.is_empty() && m != "ok"),
        "{}",
        sent.body
    );
    assert_eq!(sent.body.get("field").and_then(Value::as_str), field, "{}", sent.body);
}

#[track_caller]
fn accepted(sent: &Sent) -> String {
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["errcode"], 0, "{}", sent.body);
    assert_eq!(sent.body["errmsg"], "ok");
    let id = sent.body["id"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&id).expect("a UUID");
    id
}

async fn row(app: &TestApp, id: &str) -> Value {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = format!(
        "SELECT id, acc_type, acc_name, user_id, contact, callback, tel, email, subject, content, user_data, tag \
         FROM cc_misc_lvmsg WHERE id = '{id}'"
    );
    let r = app
        .db
        .query_one(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .expect("the row");
    let s = |c: &str| r.try_get::<Option<String>>("", c).unwrap();
    json!({
        "acc_type": s("acc_type"), "acc_name": s("acc_name"), "user_id": s("user_id"), "contact": s("contact"),
        "callback": s("callback"), "tel": s("tel"), "email": s("email"), "subject": s("subject"),
        "content": s("content"), "user_data": s("user_data"), "tag": s("tag"),
    })
}

async fn rows(app: &TestApp) -> i64 {
    app.count("cc_misc_lvmsg").await
}

/// The spec's example, signed the clients' way, through both path forms; replays; the
/// signature checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_message_signed_like_the_clients_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let ts = now_ms();
    let sent = send_at(&app, "v1.0", "1", ts, None, &example(), &[]).await;
    let id = accepted(&sent);
    let stored = row(&app, &id).await;
    assert_eq!(stored["acc_type"], "app");
    assert_eq!(stored["acc_name"], "Shop");
    assert_eq!(stored["user_id"], "198979273423");
    assert_eq!(stored["contact"], "王五");
    assert_eq!(stored["callback"], "email");
    assert_eq!(stored["email"], "wangwu@163.com");
    assert_eq!(stored["subject"], "空调没人来装呀,你们的安装肿么了?");
    let data: Value = serde_json::from_str(stored["user_data"].as_str().unwrap()).unwrap();
    assert_eq!(data, example()["user_data"]);

    // The same signed request again: the first answer, nothing new.
    let again = send_at(&app, "v1.0", "1", ts, None, &example(), &[]).await;
    assert_eq!(accepted(&again), id);
    assert_eq!(rows(&app).await, 1);
    // The same signature with another body: refused.
    let mut other = example();
    other["subject"] = json!("另一个");
    refused(
        &send_at(&app, "v1.0", "1", ts, None, &other, &[]).await,
        409,
        "idempotency_key_reused",
        Some("signature"),
    );
    assert_eq!(rows(&app).await, 1);

    // The client's extra fields are ignored; the app named by its identify; `v1`.
    let mut extra = example();
    extra["FromUserId"] = json!("someone");
    let id2 = accepted(&send_at(&app, "v1", &app.identify.clone(), now_ms(), None, &extra, &[]).await);
    assert_ne!(id2, id);
    assert_eq!(rows(&app).await, 2);

    // Signature and timestamp.
    let ts = now_ms() + 7;
    refused(
        &send_at(&app, "v1", "1", ts, Some(&"0".repeat(40)), &example(), &[]).await,
        401,
        "bad_signature",
        Some("signature"),
    );
    // Signed for another appid spelling: the appid is signed exactly as in the path.
    let wrong_spelling = signature(&app.identify, &app.secret, &ts.to_string());
    refused(
        &send_at(&app, "v1", "1", ts, Some(&wrong_spelling), &example(), &[]).await,
        401,
        "bad_signature",
        Some("signature"),
    );
    refused(
        &send_at(&app, "v1", "1", now_ms() - 6 * 60_000, None, &example(), &[]).await,
        401,
        "expired_timestamp",
        Some("timestamp"),
    );
    refused(
        &send_at(&app, "v1", "999", now_ms(), None, &example(), &[]).await,
        404,
        "unknown_app",
        Some("appid"),
    );
    refused(
        &send_at(&app, "v2", "1", now_ms() + 9, None, &example(), &[]).await,
        404,
        "not_found",
        Some("version"),
    );
    let resp = app
        .http
        .post(app.url("/api/v1/1/leavemessage"))
        .header("content-type", "application/json")
        .body(example().to_string())
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errcode"], support::error_number("missing_field"), "{body}");
    assert_eq!(rows(&app).await, 2);
    app.shutdown().await;
}

fn with(field: &str, value: Value) -> Value {
    let mut body = json!({ "contact": "王五", "callback": "tel", "tel": "07522026666", "subject": "装空调" });
    if value.is_null() {
        body.as_object_mut().unwrap().remove(field);
    } else {
        body[field] = value;
    }
    body
}

/// Every rule on both sides of its bound; lengths count characters (Chinese, emoji).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_message_validation_embedded_sqlite() {
    let app = spawn_app(Backend::Embedded).await;
    let ok = |body: Value| {
        let app = &app;
        async move { accepted(&send(app, &body).await) }
    };
    let bad = |body: Value, field: &'static str, code: &'static str| {
        let app = &app;
        async move {
            let before = rows(app).await;
            refused(&send(app, &body).await, 400, code, Some(field));
            assert_eq!(rows(app).await, before, "nothing stored for a bad {field}");
        }
    };
    // contact: required, 2–32 characters.
    bad(with("contact", Value::Null), "contact", "missing_field").await;
    bad(with("contact", json!("王")), "contact", "invalid_field").await;
    ok(with("contact", json!("王五"))).await;
    ok(with("contact", json!("客".repeat(32)))).await;
    bad(with("contact", json!("客".repeat(33))), "contact", "invalid_field").await;
    bad(with("contact", json!(12345)), "contact", "invalid_field").await;
    // callback: required, one of email, fax, sms, tel.
    bad(with("callback", Value::Null), "callback", "missing_field").await;
    bad(with("callback", json!("pigeon")), "callback", "invalid_field").await;
    for callback in ["tel", "fax", "sms"] {
        ok(with("callback", json!(callback))).await;
        let mut body = with("callback", json!(callback));
        body.as_object_mut().unwrap().remove("tel");
        bad(body, "tel", "missing_field").await;
    }
    // tel: digits, landline with area code, mobile, +country code; at most 45.
    ok(with("tel", json!("13800138000"))).await;
    ok(with("tel", json!("+8613800138000"))).await;
    bad(with("tel", json!("0752-2026666x")), "tel", "invalid_field").await;
    bad(with("tel", json!("call me")), "tel", "invalid_field").await;
    bad(with("tel", json!("1".repeat(46))), "tel", "invalid_field").await;
    // email: required and well-formed for email, at most 100.
    let mut email = with("callback", json!("email"));
    email.as_object_mut().unwrap().remove("tel");
    bad(email.clone(), "email", "missing_field").await;
    let mut e = email.clone();
    e["email"] = json!("wangwu@163");
    bad(e, "email", "invalid_field").await;
    let mut e = email.clone();
    e["email"] = json!(format!("wangwu@{}.{}.com", "a".repeat(50), "b".repeat(38)));
    assert_eq!(e["email"].as_str().unwrap().len(), 100);
    ok(e).await;
    let mut e = email.clone();
    e["email"] = json!(format!("wangwu@{}.{}.com", "a".repeat(50), "b".repeat(39)));
    bad(e, "email", "invalid_field").await;
    // subject: required, at most 50 characters; Chinese and emoji count one each.
    bad(with("subject", Value::Null), "subject", "missing_field").await;
    ok(with("subject", json!("空".repeat(50)))).await;
    bad(with("subject", json!("空".repeat(51))), "subject", "invalid_field").await;
    let emoji_id = ok(with("subject", json!("😀".repeat(50)))).await;
    bad(with("subject", json!("😀".repeat(51))), "subject", "invalid_field").await;
    assert_eq!(row(&app, &emoji_id).await["subject"], "😀".repeat(50), "emoji survive");
    // content: at most 2000.
    ok(with("content", json!("内".repeat(2000)))).await;
    bad(with("content", json!("内".repeat(2001))), "content", "invalid_field").await;
    // user_data: any JSON, at most 2000 characters serialized.
    let fits = "x".repeat(2000 - 2);
    ok(with("user_data", json!(fits))).await;
    bad(
        with("user_data", json!(format!("{fits}x"))),
        "user_data",
        "invalid_field",
    )
    .await;
    ok(with("user_data", json!({ "nested": [1, 2, { "a": null }] }))).await;
    // user_id: optional, at most 50.
    ok(with("user_id", json!("u".repeat(50)))).await;
    bad(with("user_id", json!("u".repeat(51))), "user_id", "invalid_field").await;
    // Not JSON at all.
    let resp = app
        .http
        .post(app.url("/api/v1/1/leavemessage"))
        .query(&[("timestamp", now_ms().to_string()), ("signature", "x".into())])
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errcode"], support::error_number("malformed_body"), "{body}");
    app.shutdown().await;
}

/// On MariaDB the table is the spec's DDL: names, types, lengths, nullability, key and
/// comments, InnoDB; utf8mb4 so emoji survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_message_table_matches_the_ddl_rabbitmq_mariadb() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(Backend::RabbitMariadb).await;
    let expected: [(&str, &str, &str, &str, &str); 13] = [
        ("id", "varchar(50)", "NO", "PRI", ""),
        (
            "acc_type",
            "varchar(50)",
            "NO",
            "",
            "留言来源的账户类型。微信请自行填写\"weixin\",否则是\"app\"",
        ),
        (
            "acc_name",
            "varchar(50)",
            "NO",
            "",
            "账户名。微信的需要自行填写微信账户名,app的是app的name",
        ),
        (
            "user_id",
            "varchar(50)",
            "YES",
            "",
            "如果APP能够提供用户的唯一ID,就在这个字段填写。如果无法确定,则可不提供该字段。",
        ),
        ("contact", "varchar(32)", "NO", "", "联络人称谓"),
        ("callback", "varchar(50)", "NO", "", "回复方式"),
        ("tel", "varchar(45)", "YES", "", ""),
        ("email", "varchar(100)", "YES", "", ""),
        ("subject", "varchar(50)", "NO", "", "留言主题"),
        ("content", "varchar(2000)", "YES", "", "留言内容"),
        ("create_time", "timestamp", "NO", "MUL", ""),
        ("user_data", "varchar(2000)", "YES", "", "附加数据"),
        ("tag", "varchar(45)", "YES", "", "标签,开发可任意处置"),
    ];
    let backend = app.db.get_database_backend();
    let columns = app
        .db
        .query_all(Statement::from_string(
            backend,
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_COMMENT, COLUMN_DEFAULT, EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cc_misc_lvmsg' \
             ORDER BY ORDINAL_POSITION",
        ))
        .await
        .unwrap();
    assert_eq!(columns.len(), expected.len());
    for (got, want) in columns.iter().zip(expected) {
        let s = |c: &str| got.try_get::<Option<String>>("", c).unwrap().unwrap_or_default();
        assert_eq!(
            (
                s("COLUMN_NAME"),
                s("COLUMN_TYPE"),
                s("IS_NULLABLE"),
                s("COLUMN_KEY"),
                s("COLUMN_COMMENT")
            ),
            (
                want.0.into(),
                want.1.into(),
                want.2.into(),
                want.3.into(),
                want.4.into()
            )
        );
        if want.0 == "create_time" {
            assert_eq!(s("COLUMN_DEFAULT").to_lowercase(), "current_timestamp()");
            assert!(
                s("EXTRA").to_lowercase().contains("on update current_timestamp"),
                "{}",
                s("EXTRA")
            );
        }
    }
    let table = app
        .db
        .query_one(Statement::from_string(
            backend,
            "SELECT ENGINE, TABLE_COLLATION, TABLE_COMMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cc_misc_lvmsg'",
        ))
        .await
        .unwrap()
        .unwrap();
    let t = |c: &str| table.try_get::<String>("", c).unwrap();
    assert_eq!(t("ENGINE"), "InnoDB");
    assert!(t("TABLE_COLLATION").starts_with("utf8mb4"), "{}", t("TABLE_COLLATION"));
    assert_eq!(t("TABLE_COMMENT"), "留言记录");

    // Emoji survive, and tagging does not move create_time (its ON UPDATE clause).
    let id = accepted(&send(&app, &with("subject", json!("空调😀坏了"))).await);
    assert_eq!(row(&app, &id).await["subject"], "空调😀坏了");
    let alice = app.agent_session("alice").await;
    let (_, before) = app.get(&format!("/v1/leavemessage/{id}"), &[("session", &alice)]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app
        .post_json(
            &format!("/v1/leavemessage/{id}/tag"),
            json!({ "session": alice, "tag": "已回电" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, after) = app.get(&format!("/v1/leavemessage/{id}"), &[("session", &alice)]).await;
    assert_eq!(after["leavemessage"]["tag"], "已回电");
    assert_eq!(
        after["leavemessage"]["create_time"],
        before["leavemessage"]["create_time"]
    );
    app.shutdown().await;
}

/// Agents list, filter, read and tag the messages of their apps, and no others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_work_the_leave_messages_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let mut ids = Vec::new();
    for (i, callback) in ["tel", "sms", "tel", "fax"].iter().enumerate() {
        let mut body = with("callback", json!(callback));
        body["subject"] = json!(format!("主题{i}"));
        body["content"] = json!(if i == 2 { "空调漏水" } else { "其他" });
        ids.push(accepted(&send(&app, &body).await));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let alice = app.agent_session("alice").await;
    let list = |query: Vec<(&'static str, String)>| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let mut q: Vec<(&str, String)> = vec![("session", alice)];
            q.extend(query);
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = app.get("/v1/leavemessages", &q).await;
            assert_eq!(status, 200, "{body}");
            body["leavemessages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(list(vec![]).await, newest_first);
    assert_eq!(
        list(vec![("callback", "tel".into())]).await,
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(list(vec![("q", "漏水".into())]).await, vec![ids[2].clone()]);
    assert_eq!(list(vec![("num", "2".into())]).await, newest_first[..2].to_vec());
    assert_eq!(
        list(vec![("num", "2".into()), ("id", newest_first[1].clone())]).await,
        newest_first[2..].to_vec()
    );
    assert_eq!(
        list(vec![("sort", "1".into()), ("num", "1".into())]).await,
        vec![ids[0].clone()]
    );
    let future = (now_ms() / 1000 + 3600).to_string();
    assert_eq!(list(vec![("since", future)]).await, Vec::<String>::new());

    let (status, body) = app
        .post_form(
            &format!("/v1/leavemessage/{}/tag", ids[1]),
            &[("session", &alice), ("tag", "called back")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(list(vec![("tag", "called back".into())]).await, vec![ids[1].clone()]);
    assert_eq!(list(vec![("tag", "".into())]).await.len(), 3);
    let (_, one) = app
        .get(&format!("/v1/leavemessage/{}", ids[1]), &[("session", &alice)])
        .await;
    assert_eq!(one["leavemessage"]["tag"], "called back");
    assert_eq!(one["leavemessage"]["callback"], "sms");
    assert!(one["leavemessage"]["create_time"].is_f64());
    let (status, _) = app
        .post_form(
            &format!("/v1/leavemessage/{}/tag", ids[1]),
            &[("session", &alice), ("tag", "")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list(vec![("tag", "".into())]).await.len(), 4);

    // Another app's agent sees nothing of them; a user session is no agent.
    admin(
        &app.config.database_url,
        &["app", "create", "--identify", "com.example.bank", "--name", "Bank"],
    );
    support::create_agent(&app.config.database_url, "carol", "com.example.bank", "secret-pw\n");
    let bank: Value = {
        use sea_orm::{ConnectionTrait, Statement};
        let r = app
            .db
            .query_one(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT secret FROM apps WHERE identify = 'com.example.bank'",
            ))
            .await
            .unwrap()
            .unwrap();
        json!({ "identify": "com.example.bank", "secret": r.try_get::<String>("", "secret").unwrap() })
    };
    let carol = support::Client::new(app.base.clone(), &bank)
        .agent_session("carol")
        .await;
    let (_, theirs) = app.get("/v1/leavemessages", &[("session", &carol)]).await;
    assert_eq!(theirs["leavemessages"], json!([]));
    let (status, body) = app
        .get(&format!("/v1/leavemessage/{}", ids[0]), &[("session", &carol)])
        .await;
    assert_eq!(status, 404, "{body}");
    support::assert_code(&body, "unknown_leave_message");
    let (status, _) = app
        .post_form(
            &format!("/v1/leavemessage/{}/tag", ids[0]),
            &[("session", &carol), ("tag", "mine")],
        )
        .await;
    assert_eq!(status, 404);
    let user = app.session("u1").await;
    let (status, _) = app.get("/v1/leavemessages", &[("session", &user)]).await;
    assert_eq!(status, 403);
    app.shutdown().await;
}

/// A message accepted with `Prefer: respond-async` survives a worker killed (SIGKILL)
/// before it committed it: a later worker stores it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_leave_message_survives_a_killed_worker_rabbitmq_postgres() {
    let app = spawn_custom(Backend::RabbitPostgres, |_| {}, false).await;
    let sent = send_at(
        &app,
        "v1",
        "1",
        now_ms(),
        None,
        &example(),
        &[("Prefer", "respond-async")],
    )
    .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["errcode"], 0);
    let id = sent.body["id"].as_str().unwrap().to_owned();

    let mut doomed = support::Proc::start(
        "worker",
        &app.config.database_url,
        &app.config.amqp_prefix,
        &support::free_addr(),
        &[("KEFU_WORKER_PAUSE_BEFORE_COMMIT_MS", "60000")],
    );
    // It took the command (nothing ready in the queue) and sits before its commit.
    let commands = format!("{}.commands", app.config.amqp_prefix);
    let mut taken = false;
    for _ in 0..100 {
        if support::queue_ready(&commands).await == 0 {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken, "the worker received the command");
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.kill9();
    assert_eq!(rows(&app).await, 0, "killed before the commit");

    let _healthy = support::Proc::start(
        "worker",
        &app.config.database_url,
        &app.config.amqp_prefix,
        &support::free_addr(),
        &[],
    );
    let mut stored = false;
    for _ in 0..150 {
        if rows(&app).await == 1 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the accepted message was stored after the crash");
    assert_eq!(row(&app, &id).await["contact"], "王五");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows(&app).await, 1, "stored once");
    app.shutdown().await;
}

/// Operators read and tag every app's leave messages through the admin API, by token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_works_the_leave_messages_embedded_sqlite() {
    const TOKEN: &str = "admin-token-for-tests-0123";
    let app = spawn_custom(
        Backend::Embedded,
        |c| c.admin_token = Some(kefu_common::infra::config::SecretString::from(TOKEN)),
        true,
    )
    .await;
    let id = accepted(&send(&app, &with("subject", json!("请回电"))).await);
    let admin_get = |path: String, token: &'static str| {
        let app = &app;
        async move {
            let resp = app.http.get(app.url(&path)).bearer_auth(token).send().await.unwrap();
            support::read(resp).await
        }
    };
    let (status, body) = admin_get("/admin/v1/leavemessages".into(), TOKEN).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["leavemessages"][0]["id"], id.as_str());
    assert_eq!(body["leavemessages"][0]["subject"], "请回电");
    let (status, body) = admin_get("/admin/v1/leavemessages?identify=com.example.none".into(), TOKEN).await;
    assert_eq!((status.as_u16(), body["leavemessages"].clone()), (200, json!([])));
    let (status, body) = admin_get("/admin/v1/leavemessages".into(), "wrong-token-wrong-token").await;
    assert_eq!(status, 401, "{body}");
    support::assert_code(&body, "bad_admin_token");
    let resp = app
        .http
        .post(app.url(&format!("/admin/v1/leavemessage/{id}/tag")))
        .bearer_auth(TOKEN)
        .json(&json!({ "tag": "已回电" }))
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 200, "{body}");
    let (_, one) = admin_get(format!("/admin/v1/leavemessage/{id}"), TOKEN).await;
    assert_eq!(one["leavemessage"]["tag"], "已回电");
    app.shutdown().await;

    // Without KEFU_ADMIN_TOKEN there is no admin API.
    let off = spawn_app(Backend::Embedded).await;
    let resp = off
        .http
        .get(off.url("/admin/v1/leavemessages"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 404, "{body}");
    off.shutdown().await;
}
