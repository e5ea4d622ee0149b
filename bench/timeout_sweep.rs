//! The deadline sweep: `cargo bench --bench timeout_sweep` (PostgreSQL and RabbitMQ on
//! this machine). Seeds `KEFU_BENCH_OPEN` (default 1,000,000) open questions of which
//! `KEFU_BENCH_DUE` (default 10,000) are due, prints the plan of the sweep's claim
//! query, then times one full sweep (every due deadline fired, notifications, events).

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use sea_orm::{ConnectionTrait, Statement};
use support::Backend;

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let open = env_or("KEFU_BENCH_OPEN", 1_000_000);
        let due = env_or("KEFU_BENCH_DUE", 10_000);
        let app = support::spawn_custom(Backend::RabbitPostgres, |c| c.timeout_batch = 500, false).await;
        let now = kefu_common::now_ms();
        let seeded = Instant::now();
        // Due ones first (anchor 11 minutes ago: the default 10-minute user-reply
        // timeout has passed), the rest due in an hour.
        let sql = format!(
            "INSERT INTO questions (id, app_id, user_id, title, labels, status, serv_id, created_at, updated_at, seq, \
             due_kind, due_anchor, due_at) \
             SELECT lpad(to_hex(g), 24, '0'), 1, 'user-' || g, 'bench', '[]', 2, 'alice', {now}, {now}, 1, 1, \
                    CASE WHEN g <= {due} THEN {past} ELSE {now} + 3000000 END, \
                    CASE WHEN g <= {due} THEN {past} + 600000 ELSE {now} + 3600000 END \
             FROM generate_series(1, {open}) AS g",
            past = now - 660_000,
        );
        app.db
            .execute(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .unwrap();
        app.db
            .execute(Statement::from_string(
                app.db.get_database_backend(),
                "ANALYZE questions",
            ))
            .await
            .unwrap();
        println!(
            "seeded {open} open questions ({due} due) in {:.1} s",
            seeded.elapsed().as_secs_f64()
        );
        let plan = app
            .db
            .query_all(Statement::from_string(
                app.db.get_database_backend(),
                format!(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM questions WHERE due_at <= {} ORDER BY due_at \
                     LIMIT 500 FOR UPDATE SKIP LOCKED",
                    kefu_common::now_ms()
                ),
            ))
            .await
            .unwrap();
        println!("claim query plan:");
        for row in plan {
            println!("  {}", row.try_get::<String>("", "QUERY PLAN").unwrap());
        }
        let worker = kefu_workers::Worker::new(
            app.db.clone(),
            app.broker.clone(),
            Arc::new(app.config.clone()),
            Arc::new(kefu_common::infra::metrics::Metrics::new()),
        );
        let started = Instant::now();
        let fired = kefu_workers::timeouts::sweep(&worker).await.unwrap();
        let elapsed = started.elapsed();
        println!(
            "timeout_sweep: {fired} deadlines fired among {open} open questions in {:.3} s ({:.0}/s)",
            elapsed.as_secs_f64(),
            fired as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(fired, due as u64);
        app.shutdown().await;
    });
}
