//! Outbound IM delivery: agents' messages and notifications reach the user's Tencent
//! Cloud IM through `v4/desk_http_svc/send_msg`, on the `im-deliveries` task queue.
//!
//! A task names a question; its worker leases the question's pending deliveries and
//! sends them in commit order, reading the run's question, settings and messages once
//! and writing its delivered rows back together. A retriable failure counts an attempt
//! on the row, sets its `next_attempt_at` from the queue's retry schedule and sends the
//! task through the matching delay queue, so later messages of that question wait
//! behind it (order kept) while other questions' tasks go on. Out of retries, the delivery is marked failed
//! (re-drivable), the rest of the question goes on, and the task is dead-lettered.
//! `MsgRandom` is fixed per message, so a send repeated after a crash or a lost answer
//! is de-duplicated by the IM.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kefu_common::domain::events::MessageFacts;
use kefu_common::domain::secret::ExposeSecret;
use kefu_common::domain::tasks::ImTask;
use kefu_common::domain::DeliveryState;
use kefu_common::infra::broker::TaskQueue;
use kefu_common::now_ms;
use kefu_common::store::entity::{app_im_settings, im_delivery, message, question};
use kefu_common::store::im::deliveries::QUEUE;
use kefu_common::store::im::message::{send_msg_body, verdict, Recipient, Verdict};
use kefu_common::store::im::usersig::UserSigCache;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

use crate::tasks::{run_tasks, wait_until_needed, TaskError};
use crate::Worker;

/// A pending delivery of a question, as the ordering sees it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    lease_until: i64,
    next_attempt_at: i64,
}

/// What a worker holding `lease` may do with a question's pending deliveries (in
/// commit order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// An earlier message is held by another worker (in the middle of its send): ours
    /// must not overtake it. Let go and come back after the queue's delay.
    HeldByOther,
    /// The first is in its backoff: the task that will retry it is in a delay queue
    /// (or the sweeper re-enqueues it), so this one ends here.
    InBackoff,
    /// Send the first `n`, the run this lease holds.
    Send(usize),
}

fn next_in_order(pending: &[Slot], lease: i64, now: i64) -> Order {
    match pending.first() {
        Some(first) if first.lease_until != lease => Order::HeldByOther,
        Some(first) if first.next_attempt_at > now => Order::InBackoff,
        _ => Order::Send(pending.iter().take_while(|s| s.lease_until == lease).count()),
    }
}

/// Added to one send's worst case (connect + request timeout) for a question's lease.
const LEASE_MARGIN_MS: i64 = 2_000;

struct Sender {
    worker: Worker,
    http: reqwest::Client,
    usersigs: UserSigCache,
    rate: Option<DefaultKeyedRateLimiter<i64>>,
    clock: DefaultClock,
}

pub fn task_queue(worker: &Worker) -> TaskQueue {
    worker.config.task_queue(QUEUE)
}

/// After a commit that recorded deliveries: a task per question (best effort; the
/// sweeper picks up what a crash in between left behind).
pub async fn trigger(worker: &Worker, questions: &[String]) {
    if questions.is_empty() {
        return;
    }
    worker.im_wakeup.notify_one();
    if let Err(err) = kefu_common::store::im::deliveries::enqueue(&worker.broker, &task_queue(worker), questions).await
    {
        tracing::warn!(error = %err, "could not enqueue IM deliveries; the sweeper will");
    }
}

/// Runs the IM deliveries until `cancel`: the task queue and the sweeper. Nothing is
/// declared on the broker until some app has IM settings.
pub async fn run(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_secs(worker.config.im_sweep_secs.max(1));
    let has_settings = || async { Ok(app_im_settings::Entity::find().one(&worker.db).await?.is_some()) };
    if !wait_until_needed(&worker.im_wakeup, every, &cancel, "IM deliveries", has_settings).await {
        return;
    }
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(worker.config.im_connect_timeout_ms))
        .timeout(Duration::from_millis(worker.config.im_request_timeout_ms))
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            tracing::error!(error = %err, "no HTTP client: IM deliveries are off");
            return;
        }
    };
    let rate = NonZeroU32::new(worker.config.im_rate_per_sec).map(|r| RateLimiter::keyed(Quota::per_second(r)));
    let sender = Arc::new(Sender {
        worker: worker.clone(),
        http,
        usersigs: UserSigCache::default(),
        rate,
        clock: DefaultClock::default(),
    });
    let sweeper = tokio::spawn(sweep(worker.clone(), cancel.clone()));
    let queue = Arc::new(task_queue(&worker));
    let handler = move |payload: Vec<u8>| {
        let sender = Arc::clone(&sender);
        async move {
            let task = ImTask::from_bytes(&payload).map_err(|e| TaskError::Fail(format!("unreadable task: {e}")))?;
            let ImTask::DeliverQuestionV1 { question_id } = task;
            sender.deliver_question(&question_id).await
        }
    };
    run_tasks(worker, queue, handler, cancel).await;
    let _ = sweeper.await;
}

/// Lets go of what this worker leased.
async fn release(db: &sea_orm::DatabaseConnection, question_id: &str, lease: i64) -> Result<(), DbErr> {
    im_delivery::Entity::update_many()
        .col_expr(im_delivery::Column::LeaseUntil, Expr::value(0i64))
        .filter(im_delivery::Column::QuestionId.eq(question_id))
        .filter(im_delivery::Column::LeaseUntil.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// Re-enqueues questions whose pending deliveries nobody holds and whose next attempt is
/// overdue by a sweep interval: a task lost between a commit and its publish, or
/// dropped by a crash. A backoff in progress is never cut short.
async fn sweep(worker: Worker, cancel: CancellationToken) {
    let every = Duration::from_secs(worker.config.im_sweep_secs.max(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = now_ms();
        let stale = now - (worker.config.im_sweep_secs.max(1) * 1000) as i64;
        let found = im_delivery::Entity::find()
            .filter(im_delivery::Column::State.eq(DeliveryState::Pending))
            .filter(im_delivery::Column::LeaseUntil.lt(now))
            .filter(im_delivery::Column::NextAttemptAt.lt(stale))
            .limit(1000)
            .all(&worker.db)
            .await;
        match found {
            Ok(rows) => {
                let mut questions: Vec<String> = rows.into_iter().map(|r| r.question_id).collect();
                questions.dedup();
                trigger(&worker, &questions).await;
            }
            Err(err) => tracing::warn!(error = %err, "IM sweeper could not read; will try again"),
        }
    }
}

/// Delivered sends written back per statement at most (see the run loop).
const DELIVERED_FLUSH: usize = 64;

/// What a run of one question's sends reads once: the question, its app's IM settings
/// and the run's messages. A run lasts one lease at most, so a settings change reaches
/// the sends within that window (the next lease reads again).
struct Context {
    question: Option<question::Model>,
    settings: Option<app_im_settings::Model>,
    messages: HashMap<String, message::Model>,
}

impl Context {
    async fn load(db: &DatabaseConnection, question_id: &str, rows: &[im_delivery::Model]) -> Result<Context, DbErr> {
        let Some(first) = rows.first() else {
            return Ok(Context {
                question: None,
                settings: None,
                messages: HashMap::new(),
            });
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
        let (question, settings, messages) = tokio::try_join!(
            question::Entity::find_by_id(question_id).one(db),
            app_im_settings::Entity::find_by_id(first.app_id).one(db),
            message::Entity::find().filter(message::Column::Id.is_in(ids)).all(db),
        )?;
        Ok(Context {
            question,
            settings,
            messages: messages.into_iter().map(|m| (m.id.clone(), m)).collect(),
        })
    }
}

/// Marks `delivered` delivered in one statement, and empties it.
async fn mark_delivered(db: &DatabaseConnection, delivered: &mut Vec<String>) -> Result<(), DbErr> {
    if delivered.is_empty() {
        return Ok(());
    }
    im_delivery::Entity::update_many()
        .col_expr(im_delivery::Column::State, Expr::value(DeliveryState::Delivered))
        .col_expr(
            im_delivery::Column::Attempts,
            Expr::col(im_delivery::Column::Attempts).add(1),
        )
        .col_expr(im_delivery::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(im_delivery::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(im_delivery::Column::MessageId.is_in(delivered.drain(..)))
        .exec(db)
        .await?;
    Ok(())
}

impl Sender {
    #[tracing::instrument(skip(self))]
    async fn deliver_question(&self, question_id: &str) -> Result<(), TaskError> {
        let db = &self.worker.db;
        let retry_db = |e: DbErr| TaskError::Retry(format!("database: {e}"));
        let schedule = task_queue(&self.worker).retry;
        let mut gave_up: Option<String> = None;
        // A lease covers one send; it is renewed before each, so a worker that dies
        // mid-send holds the question no longer than that.
        let window = (self.worker.config.im_connect_timeout_ms + self.worker.config.im_request_timeout_ms) as i64
            + LEASE_MARGIN_MS;
        let mut lease = 0i64;
        'lease: loop {
            let now = now_ms();
            // A lease value of our own marks the rows this worker holds (the random part
            // tells apart two workers leasing in the same millisecond).
            let held = lease;
            lease = now + window + rand::thread_rng().gen_range(0..1_000);
            let leased = im_delivery::Entity::update_many()
                .col_expr(im_delivery::Column::LeaseUntil, Expr::value(lease))
                .filter(im_delivery::Column::QuestionId.eq(question_id))
                .filter(im_delivery::Column::State.eq(DeliveryState::Pending))
                .filter(
                    im_delivery::Column::LeaseUntil
                        .lt(now)
                        .or(im_delivery::Column::LeaseUntil.eq(held)),
                )
                .exec(db)
                .await
                .map_err(retry_db)?;
            if leased.rows_affected == 0 {
                // Nothing pending, or another worker is on it (it sends ours too).
                return gave_up.map_or(Ok(()), |reason| Err(TaskError::Fail(reason)));
            }
            let pending = im_delivery::Entity::find()
                .filter(im_delivery::Column::QuestionId.eq(question_id))
                .filter(im_delivery::Column::State.eq(DeliveryState::Pending))
                .order_by_asc(im_delivery::Column::Seq)
                .all(db)
                .await
                .map_err(retry_db)?;
            let slots: Vec<Slot> = pending
                .iter()
                .map(|r| Slot {
                    lease_until: r.lease_until,
                    next_attempt_at: r.next_attempt_at,
                })
                .collect();
            let ours = match next_in_order(&slots, lease, now_ms()) {
                Order::HeldByOther => {
                    release(db, question_id, lease).await.map_err(retry_db)?;
                    return Err(TaskError::Retry(
                        "an earlier message of this question is being sent".into(),
                    ));
                }
                Order::InBackoff => {
                    release(db, question_id, lease).await.map_err(retry_db)?;
                    return gave_up.map_or(Ok(()), |reason| Err(TaskError::Fail(reason)));
                }
                Order::Send(n) => n,
            };
            let rows: Vec<im_delivery::Model> = pending.into_iter().take(ours).collect();
            let context = match Context::load(db, question_id, &rows).await {
                Ok(context) => context,
                Err(err) => {
                    release(db, question_id, lease).await.map_err(retry_db)?;
                    return Err(retry_db(err));
                }
            };
            // Delivered rows are written back together: at the end of the run, before
            // any other write, and every `DELIVERED_FLUSH` sends. A crash before that
            // repeats those sends, which the IM drops by their `MsgRandom`.
            let mut delivered: Vec<String> = Vec::new();
            for row in rows {
                // The app's rate bound first: waiting for it must not eat the lease.
                if let Some(rate) = &self.rate {
                    while let Err(not_until) = rate.check_key(&row.app_id) {
                        tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                    }
                }
                if now_ms() + window - LEASE_MARGIN_MS / 2 > lease {
                    mark_delivered(db, &mut delivered).await.map_err(retry_db)?;
                    continue 'lease;
                }
                let attempt = self.worker.metrics.delivery_started("im");
                let verdict = self.send(&row, &context).await;
                let result = match &verdict {
                    Verdict::Delivered => "delivered",
                    Verdict::Retry(_) => "retried",
                    Verdict::Fail(_) | Verdict::BadSettings(_) => "failed",
                };
                self.worker.metrics.delivery_ended("im", result, attempt);
                if matches!(verdict, Verdict::Delivered) {
                    delivered.push(row.message_id);
                    if delivered.len() >= DELIVERED_FLUSH {
                        mark_delivered(db, &mut delivered).await.map_err(retry_db)?;
                    }
                    continue;
                }
                mark_delivered(db, &mut delivered).await.map_err(retry_db)?;
                // The schedule is the row's: retry number `attempts` (0-based) of the queue's.
                let backoff = match &verdict {
                    Verdict::Retry(_) => schedule.delay(row.attempts.max(0) as u32),
                    _ => None,
                };
                let (state, error) = match &verdict {
                    Verdict::Delivered => (DeliveryState::Delivered, None),
                    Verdict::Retry(e) if backoff.is_some() => (DeliveryState::Pending, Some(e.clone())),
                    Verdict::Retry(e) => {
                        let reason = format!("gave up after {} attempts; last: {e}", row.attempts + 1);
                        tracing::error!(message_id = %row.message_id, %reason, "IM delivery failed");
                        gave_up = Some(reason.clone());
                        (DeliveryState::Failed, Some(reason))
                    }
                    Verdict::Fail(e) => (DeliveryState::Failed, Some(e.clone())),
                    Verdict::BadSettings(e) => {
                        tracing::error!(app_id = row.app_id, error = %e, "the app's IM settings are broken; delivery failed");
                        (DeliveryState::Failed, Some(e.clone()))
                    }
                };
                let mut update = im_delivery::Entity::update_many()
                    .col_expr(im_delivery::Column::State, Expr::value(state))
                    .col_expr(
                        im_delivery::Column::Attempts,
                        Expr::col(im_delivery::Column::Attempts).add(1),
                    )
                    .col_expr(im_delivery::Column::LastError, Expr::value(error.clone()))
                    .col_expr(im_delivery::Column::UpdatedAt, Expr::value(now_ms()))
                    .filter(im_delivery::Column::MessageId.eq(row.message_id.as_str()));
                if let Some((_, wait)) = backoff {
                    update = update
                        .col_expr(im_delivery::Column::LeaseUntil, Expr::value(0i64))
                        .col_expr(
                            im_delivery::Column::NextAttemptAt,
                            Expr::value(now_ms() + wait.as_millis() as i64),
                        );
                }
                update.exec(db).await.map_err(retry_db)?;
                if let (Some((level_ms, wait)), Verdict::Retry(reason)) = (backoff, verdict) {
                    // Release the rest too: they wait behind this one.
                    release(db, question_id, lease).await.map_err(retry_db)?;
                    return Err(TaskError::RetryAfter { level_ms, wait, reason });
                }
            }
            mark_delivered(db, &mut delivered).await.map_err(retry_db)?;
        }
    }

    /// One send_msg call.
    async fn send(&self, row: &im_delivery::Model, context: &Context) -> Verdict {
        let Some(im) = &context.settings else {
            return Verdict::Fail("the app has no IM settings any more".into());
        };
        let (Some(q), Some(m)) = (&context.question, context.messages.get(&row.message_id)) else {
            return Verdict::Fail("the message or its question is gone".into());
        };
        let facts = MessageFacts::new(m, &self.worker.config.media_base());
        let to = Recipient::of(q, im);
        let body = send_msg_body(&q.id, &facts, &to);
        let sdkappid = im.sdkappid as u64;
        let usersig = self
            .usersigs
            .get(sdkappid, im.secret_key.expose_secret(), &im.identifier);
        let random: u32 = rand::thread_rng().gen();
        let url = format!("{}/v4/desk_http_svc/send_msg", im.base_url.trim_end_matches('/'));
        let sent = self
            .http
            .post(url)
            .query(&[
                ("sdkappid", sdkappid.to_string()),
                ("identifier", im.identifier.clone()),
                ("usersig", usersig),
                ("random", random.to_string()),
                ("contenttype", "json".to_owned()),
            ])
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                verdict(status, &text)
            }
            Err(err) if err.is_timeout() => Verdict::Retry("timed out".into()),
            Err(err) => Verdict::Retry(format!("transport: {err}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: i64 = 5_000;
    const NOW: i64 = 1_000;

    fn slot(lease_until: i64, next_attempt_at: i64) -> Slot {
        Slot {
            lease_until,
            next_attempt_at,
        }
    }

    #[test]
    fn a_question_s_messages_go_in_commit_order() {
        assert_eq!(next_in_order(&[], LEASE, NOW), Order::Send(0));
        assert_eq!(
            next_in_order(&[slot(LEASE, 0), slot(LEASE, 0), slot(9_999, 0)], LEASE, NOW),
            Order::Send(2),
            "only the run this lease holds, up to a row another worker took"
        );
        assert_eq!(
            next_in_order(&[slot(9_999, 0), slot(LEASE, 0)], LEASE, NOW),
            Order::HeldByOther,
            "a later message never overtakes an earlier one being sent"
        );
        assert_eq!(
            next_in_order(&[slot(LEASE, NOW + 1), slot(LEASE, 0)], LEASE, NOW),
            Order::InBackoff,
            "the rest wait behind a message in its backoff"
        );
    }
}
