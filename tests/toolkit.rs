//! The agent's toolkit: pictures and voice through the media store, quick answers, the
//! user page, and the queue position.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::media::{amr, b64, jpeg};
use support::{admin, now_ms, spawn_app, spawn_custom, Backend, TestApp, AMQP_URL};

fn mp3() -> Vec<u8> {
    let mut b = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
    b.extend([0xFF, 0xFB, 0x90, 0x64]);
    b.extend([0u8; 400]);
    b
}

fn ogg_opus() -> Vec<u8> {
    let mut b = b"OggS\x00\x02".to_vec();
    b.extend([0u8; 20]);
    b.extend([0x01, 0x13]);
    b.extend(b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    b
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde";

async fn new_question(app: &TestApp, session: &str) -> String {
    let (status, body) = app
        .post_json("/v1/question/new", json!({ "session": session, "title": "help" }))
        .await;
    assert_eq!(status, 200, "{body}");
    body["question_id"].as_str().unwrap().to_owned()
}

async fn send_image(
    app: &TestApp,
    qid: &str,
    session: &str,
    sender: &str,
    kind: i64,
    image: &str,
) -> (reqwest::StatusCode, Value) {
    app.post_json(
        &format!("/v1/question/{qid}/message/send_image"),
        json!({ "session": session, "sender": sender, "sender_type": kind, "image": image }),
    )
    .await
}

async fn send_audio(app: &TestApp, qid: &str, session: &str, audio: &str, len: Value) -> (reqwest::StatusCode, Value) {
    app.post_json(
        &format!("/v1/question/{qid}/message/send_audio"),
        json!({ "session": session, "sender": "u1", "sender_type": 1, "audio": audio, "audio_len": len }),
    )
    .await
}

/// Files in the test's media directory.
fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(&app.config.media_dir).map(|d| d.count()).unwrap_or(0)
}

async fn fetch(app: &TestApp, url: &str) -> (String, String, Vec<u8>) {
    let resp = app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    (ctype, cache, resp.bytes().await.unwrap().to_vec())
}

#[track_caller]
fn refused(result: (reqwest::StatusCode, Value), http: u16, code: &str, field: &str) {
    let (status, body) = result;
    assert_eq!(status.as_u16(), http, "{body}");
    support::assert_code(&body, code);
    assert_eq!(body["field"], field, "{body}");
}

/// Images and audio round-trip byte for byte through their URLs; bad uploads are
/// refused with their codes and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_round_trip_and_refusals_rabbitmq_postgres() {
    let app = spawn_custom(Backend::RabbitPostgres, |c| c.media_max_bytes = 64 * 1024, true).await;
    let user = app.session("u1").await;
    let alice = app.agent_session("alice").await;
    let q = new_question(&app, &user).await;

    // The user may send a picture while the question waits.
    let image = jpeg(7);
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &b64(&image)).await;
    assert_eq!(status, 200, "{body}");
    let url = body["image_url"].as_str().unwrap().to_owned();
    assert!(body["message_id"].is_string());
    let (ctype, cache, bytes) = fetch(&app, &url).await;
    assert_eq!((ctype.as_str(), bytes), ("image/jpeg", image.clone()));
    assert!(cache.contains("max-age=31536000"), "{cache}");
    let name = url.rsplit('/').next().unwrap();
    assert_eq!(name.len(), 64 + 4, "a SHA-256 content address: {name}");

    // The agent's picture, with a data: prefix and line breaks as mobile clients send.
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{q}/serve"),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    let other = jpeg(9);
    let wrapped = format!("data:image/jpeg;base64,{}\n", b64(&other));
    let (status, body) = send_image(&app, &q, &alice, "alice", 2, &wrapped).await;
    assert_eq!(status, 200, "{body}");
    let agent_url = body["image_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&app, &agent_url).await.2, other);
    let (_, tasks) = app.get("/v1/serv/alice/tasks", &[("session", &alice)]).await;
    assert_eq!(tasks["questions"][0]["last_mess_text"], "[图片]");
    assert_eq!(tasks["questions"][0]["last_mess_sender"], "alice");
    assert_eq!(tasks["questions"][0]["last_mess_sender_type"], 2);

    // Audio, told by its bytes.
    for (bytes, ctype) in [(amr(), "audio/amr"), (mp3(), "audio/mpeg"), (ogg_opus(), "audio/ogg")] {
        let (status, body) = send_audio(&app, &q, &user, &b64(&bytes), json!(3)).await;
        assert_eq!(status, 200, "{ctype}: {body}");
        let (got_type, _, got) = fetch(&app, body["audio_url"].as_str().unwrap()).await;
        assert_eq!((got_type.as_str(), got), (ctype, bytes));
    }
    let (_, tasks) = app.get("/v1/serv/alice/tasks", &[("session", &alice)]).await;
    assert_eq!(tasks["questions"][0]["last_mess_text"], "[语音]");
    let (_, messages) = app
        .get(
            &format!("/v1/question/{q}/message"),
            &[("session", &user), ("sort", "1")],
        )
        .await;
    let kinds: Vec<i64> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_i64().unwrap())
        .collect();
    assert_eq!(kinds, vec![2, 4, 2, 1, 1, 1]);
    let first = &messages["messages"][0];
    assert_eq!(first["image_url"], url.as_str());
    let audio = &messages["messages"][3];
    assert_eq!(audio["audio_len"], 3);
    assert_eq!(fetch(&app, audio["audio_url"].as_str().unwrap()).await.2, amr());

    // Refusals: nothing stored, nothing written.
    let (blobs, files, rows) = (
        app.count("media_blobs").await,
        stored_files(&app),
        app.count("messages").await,
    );
    refused(
        send_image(&app, &q, &user, "u1", 1, &b64(PNG)).await,
        400,
        "invalid_field",
        "image",
    );
    refused(
        send_image(&app, &q, &user, "u1", 1, &b64(b"random bytes, not a picture")).await,
        400,
        "invalid_field",
        "image",
    );
    refused(
        send_image(&app, &q, &user, "u1", 1, "%%% not base64 %%%").await,
        400,
        "bad_base64",
        "image",
    );
    let mut big = jpeg(3);
    big.resize(64 * 1024 + 1, 0);
    refused(
        send_image(&app, &q, &user, "u1", 1, &b64(&big)).await,
        413,
        "body_too_large",
        "image",
    );
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &"A".repeat(200 * 1024)).await;
    assert_eq!(status, 413, "over the route's body limit: {body}");
    refused(
        send_audio(&app, &q, &user, &b64(&image), json!(3)).await,
        400,
        "invalid_field",
        "audio",
    );
    refused(
        send_audio(&app, &q, &user, &b64(&amr()), json!(0)).await,
        400,
        "invalid_field",
        "audio_len",
    );
    refused(
        send_audio(&app, &q, &user, &b64(&amr()), json!(301)).await,
        400,
        "invalid_field",
        "audio_len",
    );
    refused(
        send_audio(&app, &q, &user, "@@", json!(3)).await,
        400,
        "bad_base64",
        "audio",
    );
    assert_eq!(app.count("media_blobs").await, blobs);
    assert_eq!(stored_files(&app), files);
    assert_eq!(app.count("messages").await, rows);

    // The same state rules as send_text: a finished question takes no picture.
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{q}/finish"),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = send_image(&app, &q, &alice, "alice", 2, &b64(&jpeg(11))).await;
    assert_eq!(status, 409, "{body}");
    support::assert_code(&body, "question_finished");
    app.shutdown().await;
}

/// The natural curl call (`-d "image=$(base64 -w0 photo.jpg)"`) sends `+` unescaped and
/// form decoding makes it a space: the file must still be stored byte for byte, as it
/// must from JSON with such spaces and from URL-safe base64; a stray character is 10031.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_stored_byte_identical_from_every_encoding_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    let q = new_question(&app, &user).await;
    // 0xFB bytes encode as "+/v7": the picture's base64 holds both `+` and `/`.
    let image = jpeg(0xFB);
    let standard = b64(&image);
    assert!(standard.contains('+') && standard.contains('/'), "{standard}");

    let stored = |body: Value| {
        assert!(body["image_url"].is_string(), "{body}");
        body["image_url"].as_str().unwrap().to_owned()
    };
    // 1. A form body with the base64 pasted in unescaped, exactly as curl -d sends it.
    let raw_form = format!("session={user}&sender=u1&sender_type=1&image={standard}");
    let resp = app
        .http
        .post(app.url(&format!("/v1/question/{q}/message/send_image")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(raw_form)
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetch(&app, &stored(body)).await.2, image, "curl-style form body");
    // 2. JSON whose base64 had its `+` turned into spaces on the way.
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &standard.replace('+', " ")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetch(&app, &stored(body)).await.2, image, "JSON with spaces");
    // 3. URL-safe base64, unpadded.
    let url_safe = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &image);
    assert!(url_safe.contains('-') && url_safe.contains('_'));
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &url_safe).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetch(&app, &stored(body)).await.2, image, "URL-safe base64");

    // Anything else outside the alphabet is refused, naming the field; nothing written.
    let rows = app.count("messages").await;
    let blobs = app.count("media_blobs").await;
    for stray in ['*', '\t', '.', '%'] {
        let mut bad = standard.clone();
        bad.insert(8, stray);
        refused(
            send_image(&app, &q, &user, "u1", 1, &bad).await,
            400,
            "bad_base64",
            "image",
        );
        let mut bad_audio = b64(&amr());
        bad_audio.insert(4, stray);
        refused(
            send_audio(&app, &q, &user, &bad_audio, json!(3)).await,
            400,
            "bad_base64",
            "audio",
        );
    }
    assert_eq!(app.count("messages").await, rows);
    assert_eq!(app.count("media_blobs").await, blobs);
    app.shutdown().await;
}

/// A blob stored for a command that never got published (here: the command queue is
/// gone) is never referenced, and the collector removes it; referenced blobs stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_of_an_unpublished_command_is_collected_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let user = app.session("u1").await;
    let q = new_question(&app, &user).await;
    let kept = jpeg(21);
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &b64(&kept)).await;
    assert_eq!(status, 200, "{body}");
    let kept_url = body["image_url"].as_str().unwrap().to_owned();

    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(
        format!("{}.commands", app.config.amqp_prefix).into(),
        Default::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    let (status, body) = send_image(&app, &q, &user, "u1", 1, &b64(&jpeg(22))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(app.count("media_blobs").await, 2, "written before the publish");
    assert_eq!(stored_files(&app), 2);
    assert_eq!(
        support::count_rows(&app.db, "messages", Some("media_key IS NOT NULL")).await,
        1
    );

    let media = kefu_common::infra::media::MediaStore::from_config(&app.config).unwrap();
    let collected = kefu_workers::collect_unreferenced_media(&app.db, &media, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(collected, 1);
    assert_eq!(app.count("media_blobs").await, 1);
    assert_eq!(stored_files(&app), 1);
    assert_eq!(fetch(&app, &kept_url).await.2, kept, "the referenced file stays");
    app.shutdown().await;
}

fn item_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Templates of an app, paged with a cursor and filtered by `q`; another app's agent
/// sees none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_answers_embedded_sqlite() {
    let app = spawn_app(Backend::Embedded).await;
    let db = app.config.database_url.clone();
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
    let tid = template["template_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (q, c) in [
        ("空调怎么装", "请预约师傅上门安装"),
        ("多久到货", "三天内"),
        ("能退货吗", "七天无理由"),
        ("安装收费吗", "免费安装"),
        ("发票", "电子发票随货"),
    ] {
        let item = admin(
            &db,
            &[
                "template",
                "add-item",
                "--template",
                &tid,
                "--question",
                q,
                "--content",
                c,
            ],
        );
        ids.push(item["item_id"].as_str().unwrap().to_owned());
    }
    admin(
        &db,
        &["app", "create", "--identify", "com.example.bank", "--name", "Bank"],
    );
    support::create_agent(&db, "carol", "com.example.bank", "secret-pw\n");
    let bank_template = admin(
        &db,
        &[
            "template",
            "create",
            "--identify",
            "com.example.bank",
            "--title",
            "开户",
        ],
    );

    let alice = app.agent_session("alice").await;
    let (status, body) = app.get("/v1/answer/templates", &[("session", &alice)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["templates"], json!([{ "template_id": tid, "title": "安装" }]));

    let path = format!("/v1/answer/template/{tid}");
    let (_, page1) = app.get(&path, &[("session", &alice), ("num", "2")]).await;
    assert_eq!(item_ids(&page1), vec![ids[4].clone(), ids[3].clone()], "newest first");
    let (_, page2) = app
        .get(&path, &[("session", &alice), ("num", "2"), ("item_id", &ids[3])])
        .await;
    assert_eq!(item_ids(&page2), vec![ids[2].clone(), ids[1].clone()]);
    let (_, asc) = app
        .get(
            &path,
            &[("session", &alice), ("num", "2"), ("sort", "1"), ("page", "1")],
        )
        .await;
    assert_eq!(item_ids(&asc), vec![ids[2].clone(), ids[3].clone()]);
    let (_, found) = app.get(&path, &[("session", &alice), ("q", "安装")]).await;
    assert_eq!(
        item_ids(&found),
        vec![ids[3].clone(), ids[0].clone()],
        "question or content"
    );
    assert_eq!(found["items"][1]["question"], "空调怎么装");
    assert_eq!(found["items"][1]["content"], "请预约师傅上门安装");
    let (_, none) = app
        .get(&path, &[("session", &alice), ("identify", "com.example.bank")])
        .await;
    assert_eq!(item_ids(&none), Vec::<String>::new());

    // The bank's agent: only the bank's template; the shop's is no template at all.
    let api = support::Client::new(
        app.base.clone(),
        &json!({ "identify": "com.example.bank", "secret": bank_secret(&app).await }),
    );
    let carol = api.agent_session("carol").await;
    let (_, body) = app.get("/v1/answer/templates", &[("session", &carol)]).await;
    assert_eq!(
        body["templates"],
        json!([{ "template_id": bank_template["template_id"], "title": "开户" }])
    );
    let (status, body) = app.get(&path, &[("session", &carol)]).await;
    assert_eq!(status, 404, "{body}");
    support::assert_code(&body, "unknown_template");
    assert!(!body.to_string().contains("安装"));
    let user = app.session("u1").await;
    let (status, body) = app.get("/v1/answer/templates", &[("session", &user)]).await;
    assert_eq!(status, 403, "{body}");
    support::assert_code(&body, "not_bound");

    // update and delete through the CLI.
    admin(
        &db,
        &["template", "update-item", "--item", &ids[0], "--content", "师傅上门"],
    );
    admin(&db, &["template", "delete-item", "--item", &ids[4]]);
    let listed = admin(&db, &["template", "list", "--identify", "com.example.shop"]);
    let items = listed["templates"][0]["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["content"], "师傅上门");
    admin(&db, &["template", "delete", "--template", &tid]);
    let (status, _) = app.get(&path, &[("session", &alice)]).await;
    assert_eq!(status, 404);
    app.shutdown().await;
}

async fn bank_secret(app: &TestApp) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT secret FROM apps WHERE identify = 'com.example.bank'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "secret").unwrap()
}

/// The user page: name, devices, groups; every user string escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_page_escapes_what_users_send_embedded_sqlite() {
    let app = spawn_app(Backend::Embedded).await;
    let evil = "<script>alert(1)</script>";
    let mut session = String::new();
    for device in ["phone", "tablet", "phone"] {
        let body = json!({ "identify": app.identify, "user_id": "mallory", "user_name": evil,
                           "device_id": device, "groups": ["vip", "beta"] });
        let (status, opened) = app.signed_session_new(&body, now_ms(), &app.secret.clone()).await;
        assert_eq!(status, 200, "{opened}");
        session = opened["session"].as_str().unwrap().to_owned();
    }
    let q = new_question(&app, &session).await;
    let alice = app.agent_session("alice").await;

    let resp = app
        .http
        .get(app.url("/v1/user"))
        .query(&[("session", &alice), ("question_id", &q)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(!html.contains(evil), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains(r#"<dd id="device_count">2</dd>"#), "{html}");
    assert!(html.contains(r#"<dd id="group_count">2</dd>"#), "{html}");

    let resp = app
        .http
        .get(app.url("/v1/user"))
        .query(&[("session", &alice), ("question_id", &q)])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": 200, "user_id": "mallory", "user_name": evil, "device_count": 2, "group_count": 2 })
    );
    // Only agents look users up.
    let (status, body) = app.get("/v1/user", &[("session", &session), ("question_id", &q)]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.get("/v1/user", &[("session", &alice)]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "question_id");
    app.shutdown().await;
}

async fn position(app: &TestApp, q: &str, session: &str) -> (reqwest::StatusCode, Value) {
    app.get(&format!("/v1/question/{q}/position"), &[("session", session)])
        .await
}

/// Five waiting questions hold places 1–5; once the first is served the rest move up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_positions_rabbitmq_postgres() {
    let app = spawn_app(Backend::RabbitPostgres).await;
    let alice = app.agent_session("alice").await;
    let mut asked = Vec::new();
    for i in 0..5 {
        let user = app.session(&format!("q{i}")).await;
        asked.push((new_question(&app, &user).await, user));
    }
    for (i, (q, user)) in asked.iter().enumerate() {
        let (status, body) = position(&app, q, user).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["position"].as_u64(), body["waiting"].as_u64()),
            (Some(i as u64 + 1), Some(5)),
            "{body}"
        );
        assert!(body["estimated_wait"].as_u64().unwrap() > 0);
    }
    let (status, _) = app
        .post_json(
            &format!("/v1/question/{}/serve", asked[0].0),
            json!({ "session": alice, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200);
    for (i, (q, user)) in asked.iter().enumerate().skip(1) {
        let (_, body) = position(&app, q, user).await;
        assert_eq!(
            (body["position"].as_u64(), body["waiting"].as_u64()),
            (Some(i as u64), Some(4)),
            "{body}"
        );
    }
    // An agent of the app may ask too; the served question has no place.
    let (_, body) = position(&app, &asked[4].0, &alice).await;
    assert_eq!(body["position"], 4);
    let (status, body) = position(&app, &asked[0].0, &asked[0].1).await;
    assert_eq!(status, 409, "{body}");
    support::assert_code(&body, "question_already_served");
    let (status, body) = position(&app, &asked[1].0, &asked[2].1).await;
    assert_eq!(status, 403, "another user's question: {body}");
    app.shutdown().await;
}
