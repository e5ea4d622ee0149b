//! Named task queues: each with its own queue, prefetch, retry policy (exponential with
//! jitter, through delay queues) and dead letters; retriable and permanent failures told
//! apart; dead letters kept with their attempts and re-driven to their own queue.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kefu_common::infra::broker::TaskQueue;
use kefu_common::infra::retry::RetryPolicy;
use kefu_workers::tasks::{run_tasks, TaskError};
use serde_json::{json, Value};
use support::{count_rows, spawn_app, Backend, TestApp};

type Attempts = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

fn queue() -> Arc<TaskQueue> {
    Arc::new(TaskQueue {
        name: "test-jobs".into(),
        prefetch: 4,
        // 100, 200, 400 ms, each cut by up to 20 %.
        retry: RetryPolicy::exponential(Duration::from_millis(100), 2.0, Duration::from_millis(400), 3, 0.2),
    })
}

/// A handler that fails `fail` times (retriable), or always permanently (`"permanent"`),
/// and records when each attempt came.
fn start(app: &TestApp, attempts: &Attempts) {
    let worker = kefu_workers::Worker::new(
        app.db.clone(),
        app.broker.clone(),
        Arc::new(app.config.clone()),
        Default::default(),
    );
    let attempts = Arc::clone(attempts);
    let handler = move |payload: Vec<u8>| {
        let attempts = Arc::clone(&attempts);
        async move {
            let task: Value = serde_json::from_slice(&payload).unwrap();
            let id = task["id"].as_str().unwrap().to_owned();
            let n = {
                let mut all = attempts.lock().unwrap();
                let mine = all.entry(id).or_default();
                mine.push(Instant::now());
                mine.len() as u64
            };
            if task["permanent"] == true {
                return Err(TaskError::Fail("the task cannot ever work".into()));
            }
            if n <= task["fail"].as_u64().unwrap() {
                return Err(TaskError::Retry(format!("attempt {n} failed")));
            }
            Ok(())
        }
    };
    tokio::spawn(run_tasks(worker, queue(), handler, app.cancel.clone()));
}

async fn attempts_of(attempts: &Attempts, id: &str, n: usize) -> Vec<Instant> {
    for _ in 0..200 {
        if let Some(a) = attempts.lock().unwrap().get(id) {
            if a.len() >= n {
                return a.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "task {id} never had {n} attempts: {:?}",
        attempts.lock().unwrap().get(id)
    );
}

async fn dead_letter(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let listed = kefu_common::store::dead_letters::list(&app.db, Some("test-jobs"))
            .await
            .unwrap();
        if let Some(d) = listed.into_iter().find(|d| d.message_id == id) {
            return serde_json::to_value(d).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} was never dead-lettered");
}

async fn task_queues(backend: Backend) {
    let app = spawn_app(backend).await;
    let attempts: Attempts = Arc::default();
    let q = queue();
    // Declared before the runner starts: RabbitMQ may fail two concurrent first
    // declarations of one quorum queue (the runner retries; this test would not).
    app.broker.declare_tasks(&q).await.unwrap();
    start(&app, &attempts);
    let publish = |id: &str, body: Value| {
        let (broker, q, id) = (app.broker.clone(), Arc::clone(&q), id.to_owned());
        async move { broker.publish_task(&q, &id, body.to_string().as_bytes()).await.unwrap() }
    };
    publish("flaky", json!({ "id": "flaky", "fail": 2 })).await;
    publish("broken", json!({ "id": "broken", "permanent": true })).await;
    publish("hopeless", json!({ "id": "hopeless", "fail": 99 })).await;

    // Retriable: again after 100 ms, then 200 ms (less up to 20 %), then done.
    let flaky = attempts_of(&attempts, "flaky", 3).await;
    let gaps: Vec<Duration> = flaky.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(75),
        "first retry after ~100 ms: {gaps:?}"
    );
    assert!(gaps[1] >= Duration::from_millis(155), "second after ~200 ms: {gaps:?}");
    // Permanent: one attempt, dead-lettered at once.
    let broken = dead_letter(&app, "broken").await;
    assert_eq!(broken["attempts"], 0, "{broken}");
    assert_eq!(attempts_of(&attempts, "broken", 1).await.len(), 1);
    // Out of retries: 1 + 3 attempts, then its own dead letters, with the attempts.
    let hopeless = dead_letter(&app, "hopeless").await;
    assert_eq!(hopeless["attempts"], 3, "{hopeless}");
    assert_eq!(hopeless["queue"], "test-jobs");
    assert_eq!(attempts.lock().unwrap()["hopeless"].len(), 4);
    assert_eq!(
        attempts.lock().unwrap()["flaky"].len(),
        3,
        "done tasks are not run again"
    );
    // Re-driven to its own queue (not the commands'): it runs again.
    let n = kefu_common::store::dead_letters::redrive(&app.db, &app.broker, Some("broken"), None)
        .await
        .unwrap();
    assert_eq!(n, 1);
    attempts_of(&attempts, "broken", 2).await;
    assert_eq!(
        count_rows(&app.db, "processed_commands", Some("id = 'broken'")).await,
        0
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_queues_retry_with_backoff_and_dead_letter_rabbitmq_postgres() {
    task_queues(Backend::RabbitPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_queues_retry_with_backoff_and_dead_letter_embedded_sqlite() {
    task_queues(Backend::Embedded).await;
}
