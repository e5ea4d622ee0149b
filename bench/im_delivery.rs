//! IM delivery throughput: `cargo bench --bench im_delivery` (RabbitMQ + PostgreSQL on
//! this machine, as the tests use). Seeds questions with pending deliveries, starts one
//! worker process's pipeline against a local send_msg stand-in answering after 1 ms and
//! after 50 ms, and reports deliveries per second until all are delivered.
//!
//! `KEFU_BENCH_QUESTIONS` (default 2,000) × `KEFU_BENCH_PER_QUESTION` (default 5)
//! deliveries per run; `KEFU_BENCH_PREFETCH` (default 256) questions in flight.

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kefu_common::domain::{DeliveryState, MessageType, QuestionStatus, SenderType};
use kefu_common::store::entity::{im_delivery, message, question};
use sea_orm::{EntityTrait, Set};
use support::Backend;
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A send_msg stand-in: answers OK after `delay`.
async fn stand_in(delay: Duration) -> (String, Arc<AtomicU64>) {
    use axum::routing::post;
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/v4/desk_http_svc/send_msg",
        post(move || {
            let calls = Arc::clone(&counted);
            async move {
                tokio::time::sleep(delay).await;
                calls.fetch_add(1, Ordering::Relaxed);
                r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, calls)
}

async fn run(delay_ms: u64, questions: usize, per_question: usize, prefetch: u16) {
    let (base, calls) = stand_in(Duration::from_millis(delay_ms)).await;
    let app = support::spawn_custom(
        Backend::RabbitPostgres,
        |c| {
            c.im_rate_per_sec = 0;
            c.task_prefetch = prefetch;
            c.im_sweep_secs = 3600;
        },
        false,
    )
    .await;
    let db_url = app.config.database_url.clone();
    support::set_im(&db_url, &base, "BENCH-KEY");
    let ids = kefu_common::domain::ids::IdGen::default();
    let now = kefu_common::now_ms();
    let mut question_ids = Vec::with_capacity(questions);
    for chunk in 0..questions.div_ceil(500) {
        let (mut qs, mut ms, mut ds) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..500.min(questions - chunk * 500) {
            let q = ids.next_id().to_string();
            qs.push(question::ActiveModel {
                id: Set(q.clone()),
                app_id: Set(1),
                user_id: Set(format!("user-{}", qs.len())),
                title: Set("bench".into()),
                labels: Set("[]".into()),
                status: Set(QuestionStatus::Serving),
                serv_id: Set(Some("alice".into())),
                created_at: Set(now),
                updated_at: Set(now),
                last_mess_text: Set(None),
                last_mess_timestamp: Set(None),
                last_mess_sender: Set(None),
                last_mess_sender_type: Set(None),
                last_mess_type: Set(None),
                served_at: Set(Some(now)),
                seq: Set(per_question as i64),
                im_session_id: Set(None),
                due_kind: Set(None),
                due_anchor: Set(None),
                due_at: Set(None),
                timed_out_at: Set(None),
                ..Default::default()
            });
            for seq in 0..per_question {
                let m = ids.next_id().to_string();
                ms.push(message::ActiveModel {
                    id: Set(m.clone()),
                    question_id: Set(q.clone()),
                    sender: Set("alice".into()),
                    sender_type: Set(SenderType::Agent),
                    msg_type: Set(MessageType::Text),
                    text: Set(Some(format!("reply {seq}"))),
                    action: Set(None),
                    audio_url: Set(None),
                    audio_len: Set(None),
                    image_url: Set(None),
                    created_at: Set(now),
                    media_key: Set(None),
                    seq: Set(seq as i64 + 1),
                    exclude_from_timeout: Set(false),
                });
                ds.push(im_delivery::ActiveModel {
                    message_id: Set(m),
                    question_id: Set(q.clone()),
                    app_id: Set(1),
                    seq: Set(seq as i64 + 1),
                    state: Set(DeliveryState::Pending),
                    attempts: Set(0),
                    last_error: Set(None),
                    lease_until: Set(0),
                    next_attempt_at: Set(now),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
            question_ids.push(q);
        }
        question::Entity::insert_many(qs).exec(&app.db).await.unwrap();
        message::Entity::insert_many(ms).exec(&app.db).await.unwrap();
        im_delivery::Entity::insert_many(ds).exec(&app.db).await.unwrap();
    }
    let total = (questions * per_question) as i64;
    let queue = app.config.task_queue(kefu_common::store::im::deliveries::QUEUE);
    app.broker.declare_tasks(&queue).await.unwrap();
    kefu_common::store::im::deliveries::enqueue(&app.broker, &queue, &question_ids)
        .await
        .unwrap();

    let metrics = Arc::new(kefu_common::infra::metrics::Metrics::new());
    let worker = kefu_workers::Worker::new(
        app.db.clone(),
        app.broker.clone(),
        Arc::new(app.config.clone()),
        metrics,
    );
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(kefu_workers::run(worker, cancel.clone()));
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let done = support::count_rows(&app.db, "im_deliveries", Some("state = 'delivered'")).await;
        if done >= total {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {total} delivered"
        );
    }
    let elapsed = started.elapsed();
    println!(
        "im_delivery stand-in {delay_ms:>2} ms: {total} deliveries ({questions} questions × {per_question}, \
         prefetch {prefetch}) in {:.2} s = {:.0}/s ({} calls)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        calls.load(Ordering::Relaxed)
    );
    cancel.cancel();
    let _ = running.await;
    app.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let questions = env_or("KEFU_BENCH_QUESTIONS", 2_000);
    let per_question = env_or("KEFU_BENCH_PER_QUESTION", 5);
    let prefetch = env_or("KEFU_BENCH_PREFETCH", 256) as u16;
    runtime.block_on(async {
        for delay in [1, 50] {
            run(delay, questions, per_question, prefetch).await;
        }
    });
}
