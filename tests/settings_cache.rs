//! The workers' cache of app settings: it serves what it read until the app's settings
//! version moves, and every operator change (CLI, another process) moves it, so the
//! very next command after a change sees it. RabbitMQ + PostgreSQL.

mod support;

use std::time::Duration;

use kefu_common::store::entity::app_push_endpoint;
use kefu_common::store::settings_cache::{touch, SettingsCache};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};
use support::{admin, count_rows, Backend, TestApp};

const IDENTIFY: &str = "com.example.shop";

async fn app_id(app: &TestApp) -> i64 {
    kefu_common::store::app_by_identify(&app.db, IDENTIFY)
        .await
        .unwrap()
        .expect("the test app")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_settings_are_kept_until_their_version_moves_rabbitmq_postgres() {
    support::require_services();
    let app = support::spawn_app(Backend::RabbitPostgres).await;
    let id = app_id(&app).await;
    let cache = SettingsCache::default();
    let first = cache.of_apps(&app.db, &[id]).await.unwrap();
    assert!(!first[&id].has_push, "no push endpoint yet");
    assert_eq!(first[&id].identify, IDENTIFY);

    // A row written behind the cache's back (no version change) is not seen: the cache
    // really serves what it read...
    app_push_endpoint::ActiveModel {
        app_id: Set(id),
        url: Set("http://127.0.0.1:9/push".into()),
        secret: Set(kefu_common::domain::secret::Secret::new("whsec_behind")),
        updated_at: Set(0),
    }
    .insert(&app.db)
    .await
    .unwrap();
    assert!(
        !cache.of_apps(&app.db, &[id]).await.unwrap()[&id].has_push,
        "served from the cache"
    );
    // ...and a version change makes the next read current.
    touch(&app.db, id).await.unwrap();
    assert!(
        cache.of_apps(&app.db, &[id]).await.unwrap()[&id].has_push,
        "re-read after touch"
    );

    // Every operator change moves the version: clear-push, set-timeouts, webhook create.
    admin(&app.config.database_url, &["app", "clear-push", "--identify", IDENTIFY]);
    assert!(
        !cache.of_apps(&app.db, &[id]).await.unwrap()[&id].has_push,
        "clear-push seen"
    );
    admin(
        &app.config.database_url,
        &["app", "set-timeouts", "--identify", IDENTIFY, "--wait", "77s"],
    );
    let timeouts = cache.of_apps(&app.db, &[id]).await.unwrap()[&id].timeouts.clone();
    assert_eq!(timeouts.and_then(|t| t.wait_secs), Some(77), "set-timeouts seen");
    let hook = create_webhook(&app, "kefu.message.*");
    let hooks = cache.of_apps(&app.db, &[id]).await.unwrap()[&id].hooks.clone();
    assert_eq!(hooks.len(), 1, "webhook create seen: {hooks:?}");
    assert_eq!(hooks[0].0, hook["id"].as_str().unwrap());
    admin(
        &app.config.database_url,
        &["webhook", "disable", "--id", hook["id"].as_str().unwrap()],
    );
    assert!(
        cache.of_apps(&app.db, &[id]).await.unwrap()[&id].hooks.is_empty(),
        "webhook disable seen"
    );
    app.shutdown().await;
}

/// `kefu admin webhook create` (another process) for the test app.
fn create_webhook(app: &TestApp, events: &str) -> Value {
    let url = "http://127.0.0.1:9/hook";
    admin(
        &app.config.database_url,
        &[
            "webhook",
            "create",
            "--identify",
            IDENTIFY,
            "--url",
            url,
            "--events",
            events,
        ],
    )
}

async fn send_text(app: &TestApp, q: &str, agent: &str, text: &str) {
    let (status, body) = app
        .api
        .post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": agent, "sender": "alice", "sender_type": 2, "text": text }),
        )
        .await;
    assert_eq!(status, 200, "send_text: {body}");
}

/// The worker that applied messages with no webhook sees one created by the CLI (another
/// process) at its very next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_sees_a_new_webhook_at_the_next_message_rabbitmq_postgres() {
    support::require_services();
    let app = support::spawn_app(Backend::RabbitPostgres).await;
    let user = app.api.session("u-cache").await;
    let agent = app.api.agent_session("alice").await;
    let (status, body) = app
        .api
        .post_json("/v1/question/new", json!({ "session": user, "title": "缓存" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let q = body["question_id"].as_str().unwrap().to_owned();
    let (status, body): (_, Value) = app
        .api
        .post_json(
            &format!("/v1/question/{q}/serve"),
            json!({ "session": agent, "serv_id": "alice" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    send_text(&app, &q, &agent, "before the webhook").await;
    let webhook_rows = "channel = 'webhook'";
    assert_eq!(count_rows(&app.db, "http_deliveries", Some(webhook_rows)).await, 0);

    create_webhook(&app, "kefu.message.created");
    send_text(&app, &q, &agent, "after the webhook").await;
    // The synchronous answer came after the commit: the delivery row is already there.
    let mut rows = 0;
    for _ in 0..20 {
        rows = count_rows(&app.db, "http_deliveries", Some(webhook_rows)).await;
        if rows > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows, 1, "the second message's event is delivered to the new webhook");
    app.shutdown().await;
}
