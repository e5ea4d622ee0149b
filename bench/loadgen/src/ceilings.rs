//! The raw ceilings: RabbitMQ and PostgreSQL used directly, at Kefu's concurrency and
//! message size, in the same run as the Kefu figures they are compared with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};

use crate::stats::rate;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Publishers (or inserting connections) at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long each ceiling runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Bytes per message (a command envelope is about 300).
    #[arg(long, default_value_t = 300)]
    size: usize,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: Args) -> Result<(), Error> {
    let window = Duration::from_secs(args.seconds);
    let publish = publish_confirmed(&args, window, false).await?;
    println!(
        "ceiling  rabbitmq confirmed publish   {publish:>9.0}/s  ({} waiting publishers, quorum queue, {} B)",
        args.concurrency, args.size
    );
    let roundtrip = publish_confirmed(&args, window, true).await?;
    println!("ceiling  rabbitmq publish + consume  {roundtrip:>9.0}/s  (consumed and acked)");
    let inserts = pg_inserts(&args, window).await?;
    println!(
        "ceiling  postgresql single-row insert {inserts:>8.0}/s  ({} connections, autocommit)",
        args.concurrency
    );
    Ok(())
}

/// Confirmed publishes to a fresh quorum queue from `concurrency` waiting publishers;
/// with `consume`, the rate at which a consumer (prefetch 64, one ack each) takes them.
async fn publish_confirmed(args: &Args, window: Duration, consume: bool) -> Result<f64, Error> {
    let conn = Connection::connect(&args.amqp_url, ConnectionProperties::default()).await?;
    let queue = format!("kefu-bench-ceiling-{}", uuid::Uuid::new_v4().simple());
    let setup = conn.create_channel().await?;
    let mut queue_args = FieldTable::default();
    queue_args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    setup.queue_declare(queue.as_str().into(), durable, queue_args).await?;
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = if consume {
        let ch = conn.create_channel().await?;
        ch.basic_qos(64, BasicQosOptions::default()).await?;
        let mut deliveries = ch
            .basic_consume(
                queue.as_str().into(),
                "kefu-bench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let count = Arc::clone(&consumed);
        let task = tokio::spawn(async move {
            while let Some(Ok(d)) = deliveries.next().await {
                if d.ack(BasicAckOptions::default()).await.is_err() {
                    break;
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Some((ch, task))
    } else {
        None
    };
    let published = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let payload = vec![b'x'; args.size];
    let mut publishers = Vec::new();
    for _ in 0..args.concurrency {
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        let (queue, payload, count) = (queue.clone(), payload.clone(), Arc::clone(&published));
        publishers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let props = BasicProperties::default().with_delivery_mode(2);
                let confirm = ch
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &payload,
                        props,
                    )
                    .await;
                let Ok(confirm) = confirm else { break };
                if confirm.await.is_err() {
                    break;
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for p in publishers {
        let _ = p.await;
    }
    let elapsed = started.elapsed();
    let result = if consume {
        let taken = consumed.load(Ordering::Relaxed);
        rate(taken, elapsed)
    } else {
        rate(published.load(Ordering::Relaxed), elapsed)
    };
    // Cancel the consumer before the queue goes (a deleted queue's cancel would race
    // with the client's own and upset the connection).
    if let Some((ch, task)) = consumer {
        let _ = ch
            .basic_cancel("kefu-bench".into(), BasicCancelOptions::default())
            .await;
        task.abort();
        let _ = ch.close(200, "done".into()).await;
    }
    if let Err(err) = setup
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
    {
        eprintln!("kefu-bench: could not delete {queue}: {err}");
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(result)
}

/// Single-row inserts into a scratch table from `concurrency` connections.
async fn pg_inserts(args: &Args, window: Duration) -> Result<f64, Error> {
    let mut options = ConnectOptions::new(args.database_url.clone());
    options
        .max_connections(args.concurrency as u32)
        .min_connections(args.concurrency as u32)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    let table = format!("kefu_bench_ceiling_{}", uuid::Uuid::new_v4().simple());
    let backend = db.get_database_backend();
    db.execute(Statement::from_string(
        backend,
        format!("CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)"),
    ))
    .await?;
    let inserted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let body = "x".repeat(args.size);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (db, table, body, count) = (db.clone(), table.clone(), body.clone(), Arc::clone(&inserted));
        workers.push(tokio::spawn(async move {
            let sql = format!("INSERT INTO {table} (body) VALUES ($1)");
            while Instant::now() < deadline {
                let insert = Statement::from_sql_and_values(backend, &sql, [body.clone().into()]);
                if db.execute(insert).await.is_err() {
                    break;
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let result = rate(inserted.load(Ordering::Relaxed), started.elapsed());
    db.execute(Statement::from_string(backend, format!("DROP TABLE {table}")))
        .await?;
    Ok(result)
}
