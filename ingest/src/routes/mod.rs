//! The `/v1` API. Handlers stay thin: extract → authorize → command → answer.

pub(crate) mod admin;
pub(crate) mod answers;
pub(crate) mod landing;
pub(crate) mod leave;
pub(crate) mod lists;
pub(crate) mod media;
pub(crate) mod question;
pub(crate) mod routing;
pub(crate) mod serv;
pub(crate) mod session;
pub(crate) mod stream;
pub(crate) mod user;

use axum::extract::MatchedPath;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, MethodRouter};
use axum::{Json, Router};
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::infra::metrics::Metrics;
use serde_json::json;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;

use crate::console;
use crate::input::{read_input, BodyLimit, BodyPace, ErrorStyle};
use crate::{ApiError, AppState};

pub fn router(state: &AppState) -> Router<AppState> {
    let pace = BodyPace {
        base: std::time::Duration::from_millis(state.config.body_read_timeout_ms),
        min_bytes_per_sec: state.config.body_min_bytes_per_sec,
    };
    // A route whose handler reads its input (query and body, at most `limit` bytes).
    let reads_as = |route: MethodRouter<AppState>, limit: usize, style: ErrorStyle| {
        route.layer(from_fn_with_state(
            BodyLimit {
                bytes: limit,
                style,
                pace,
            },
            read_input,
        ))
    };
    let reads = |route: MethodRouter<AppState>, limit: usize| reads_as(route, limit, ErrorStyle::V1);
    let limit = state.config.body_limit_bytes;
    let media_limit = state.config.media_body_limit();
    let api = Router::new()
        .route("/", get(landing::page))
        .route("/guide/api.md", get(landing::api_guide))
        .route("/guide/errors.md", get(landing::errors_guide))
        .route(
            "/console/session",
            reads(
                get(console::current).post(console::sign_in).delete(console::sign_out),
                limit,
            ),
        )
        .route("/console/demo", get(console::demo_page))
        .route("/console/demo/session", reads(post(console::demo_session), limit))
        .route("/v1/session/new", reads(post(session::new), limit))
        .route("/v1/serv/bind", reads(post(serv::bind), limit))
        .route("/v1/serv/unbind", reads(post(serv::unbind), limit))
        .route("/v1/serv/{serv_id}/tasks", reads(get(lists::serv_tasks), limit))
        .route("/v1/serv/{serv_id}/overs", reads(get(lists::serv_overs), limit))
        .route(
            "/v1/serv/{serv_id}/status",
            reads(get(routing::status).post(routing::set_status), limit),
        )
        .route("/v1/serv/{serv_id}/stats", reads(get(routing::stats), limit))
        .route(
            "/v1/question/{question_id}/transfer",
            reads(post(routing::transfer), limit),
        )
        .route("/v1/question/{question_id}/rate", reads(post(routing::rate), limit))
        .route("/v1/question/{question_id}/accept", reads(post(routing::accept), limit))
        .route(
            "/v1/question/{question_id}/decline",
            reads(post(routing::decline), limit),
        )
        .route("/v1/serv/{serv_id}/stream", reads(get(stream::serv_stream), limit))
        .route("/v1/user/{user_id}/stream", reads(get(stream::user_stream), limit))
        .route("/v1/question/new", reads(post(question::new), limit))
        .route("/v1/question/list", reads(get(lists::waiting), limit))
        .route("/v1/question/{question_id}/serve", reads(post(question::serve), limit))
        .route("/v1/question/{question_id}/quit", reads(post(question::quit), limit))
        .route(
            "/v1/question/{question_id}/finish",
            reads(post(question::finish), limit),
        )
        .route(
            "/v1/question/{question_id}/request_finish",
            reads(post(question::request_finish), limit),
        )
        .route(
            "/v1/question/{question_id}/reopen",
            reads(post(question::reopen), limit),
        )
        .route("/v1/question/{question_id}/message", reads(get(lists::messages), limit))
        .route(
            "/v1/question/{question_id}/message/send_text",
            reads(post(question::send_text), limit),
        )
        .route(
            "/v1/question/{question_id}/message/send_image",
            reads(post(media::send_image), media_limit),
        )
        .route(
            "/v1/question/{question_id}/message/send_audio",
            reads(post(media::send_audio), media_limit),
        )
        .route("/media/{key}", get(media::get_media))
        .route("/v1/question/{question_id}/position", reads(get(user::position), limit))
        .route("/v1/user", reads(get(user::page), limit))
        .route(
            "/api/{version}/{appid}/leavemessage",
            reads_as(post(leave::create), limit, ErrorStyle::LeaveMessage),
        )
        .route("/v1/leavemessages", reads(get(leave::list), limit))
        .route("/v1/leavemessage/{id}", reads(get(leave::show), limit))
        .route("/v1/leavemessage/{id}/tag", reads(post(leave::tag), limit))
        .route("/admin/v1/apps", reads(get(admin::apps).post(admin::create_app), limit))
        .route(
            "/admin/v1/apps/{app}",
            // DELETE disables (nothing is ever deleted: questions and messages keep their app).
            reads(
                get(admin::app)
                    .patch(admin::update_app)
                    .post(admin::update_app)
                    .delete(admin::disable_app),
                limit,
            ),
        )
        .route(
            "/admin/v1/apps/{app}/webhooks",
            reads(get(admin::list_webhooks).post(admin::create_webhook), limit),
        )
        .route(
            "/admin/v1/webhooks/{id}/disable",
            reads(post(admin::disable_webhook), limit),
        )
        .route(
            "/admin/v1/webhooks/{id}/enable",
            reads(post(admin::enable_webhook), limit),
        )
        .route(
            "/admin/v1/webhooks/{id}/rotate_secret",
            reads(post(admin::rotate_webhook_secret), limit),
        )
        .route(
            "/admin/v1/apps/{app}/push",
            reads(
                get(admin::get_push)
                    .put(admin::set_push)
                    .post(admin::set_push)
                    .delete(admin::clear_push),
                limit,
            ),
        )
        .route(
            "/admin/v1/apps/{app}/timeouts",
            reads(
                get(admin::get_timeouts)
                    .put(admin::set_timeouts)
                    .post(admin::set_timeouts),
                limit,
            ),
        )
        .route(
            "/admin/v1/apps/{app}/im",
            reads(
                get(admin::get_im)
                    .put(admin::set_im)
                    .post(admin::set_im)
                    .delete(admin::clear_im),
                limit,
            ),
        )
        .route(
            "/admin/v1/apps/{app}/routing",
            reads(
                get(admin::get_routing).put(admin::set_routing).post(admin::set_routing),
                limit,
            ),
        )
        .route("/admin/v1/apps/{app}/report", reads(get(admin::report), limit))
        .route("/admin/v1/apps/{app}/disable", reads(post(admin::disable_app), limit))
        .route("/admin/v1/apps/{app}/enable", reads(post(admin::enable_app), limit))
        .route(
            "/admin/v1/apps/{app}/rotate_secret",
            reads(post(admin::rotate_secret), limit),
        )
        .route(
            "/admin/v1/apps/{app}/rotate-secret",
            reads(post(admin::rotate_secret), limit),
        )
        .route(
            "/admin/v1/agents",
            reads(get(admin::agents).post(admin::create_agent), limit),
        )
        .route(
            "/admin/v1/agents/{serv_id}",
            reads(
                get(admin::agent)
                    .patch(admin::update_agent)
                    .post(admin::update_agent)
                    .delete(admin::disable_agent),
                limit,
            ),
        )
        .route(
            "/admin/v1/agents/{serv_id}/unlock",
            reads(post(admin::unlock_agent), limit),
        )
        .route(
            "/admin/v1/addresses/{address}/unlock",
            reads(post(admin::unlock_address), limit),
        )
        .route("/admin/v1/questions", reads(get(admin::questions), limit))
        .route("/admin/v1/questions/{question_id}", reads(get(admin::question), limit))
        .route(
            "/admin/v1/agents/{serv_id}/disable",
            reads(post(admin::disable_agent), limit),
        )
        .route(
            "/admin/v1/agents/{serv_id}/enable",
            reads(post(admin::enable_agent), limit),
        )
        .route(
            "/admin/v1/agents/{serv_id}/password",
            reads(post(admin::agent_password), limit),
        )
        .route(
            "/admin/v1/agents/{serv_id}/apps",
            reads(post(admin::agent_apps).put(admin::agent_apps), limit),
        )
        .route("/admin/v1/dead-letters", reads(get(admin::dead_letters), limit))
        .route("/admin/v1/dead-letters/redrive", reads(post(admin::redrive), limit))
        .route("/admin/v1/sessions/revoke", reads(post(admin::revoke_sessions), limit))
        .route(
            "/admin/v1/sessions/{session}",
            reads(delete(admin::delete_session), limit),
        )
        .route("/admin/v1/leavemessages", reads(get(admin::leave_messages), limit))
        .route("/admin/v1/leavemessage/{id}", get(admin::leave_message))
        .route(
            "/admin/v1/leavemessage/{id}/tag",
            reads(post(admin::tag_leave_message), limit),
        )
        .route("/v1/answer/templates", reads(get(answers::templates), limit))
        .route("/v1/answer/template/{template_id}", reads(get(answers::items), limit))
        .route("/v1/user/{user_id}/waits", reads(get(lists::user_waits), limit))
        .route("/v1/user/{user_id}/tasks", reads(get(lists::user_tasks), limit))
        .route("/v1/user/{user_id}/overs", reads(get(lists::user_overs), limit))
        .route("/v1/user/{user_id}/alls", reads(get(lists::user_alls), limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.config.always_200(), status_mode));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/static/default-avatar.png", get(default_avatar))
        .merge(crate::openapi::routes())
        .merge(console::assets())
        .merge(api)
        .layer(from_fn_with_state(Arc::clone(&state.metrics), access_log))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(sane_request_id))
}

/// A client's `x-request-id` is kept when it is a plain token (1–128 of
/// `[A-Za-z0-9._:-]`), so it can be followed through the logs; anything else is
/// replaced by a fresh UUID rather than written into log lines.
async fn sane_request_id(mut request: axum::extract::Request, next: Next) -> Response {
    let ok = |v: &axum::http::HeaderValue| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len()) && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
    };
    if request.headers().get("x-request-id").is_some_and(|v| !ok(v)) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// `KEFU_ERROR_HTTP_STATUS=always-200`: every API answer is HTTP 200 with the outcome
/// (`status` 200 / 202 / 300, `error`) in the body, as the original server answered.
async fn status_mode(State(always_200): State<bool>, request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if always_200 && response.status() != StatusCode::OK {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// One line per request (method, route, status, latency, request id; never the query:
/// it may hold a session) and its metrics. Client errors at debug, server errors at warn.
async fn access_log(State(metrics): State<Arc<Metrics>>, request: axum::extract::Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", %request_id);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.http(method.as_str(), &route, status, elapsed);
    // Two decimals (ms=0.05): the nanoseconds of an f64 are noise in a log line.
    let ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    let _enter = span.enter();
    match status {
        500.. => tracing::warn!(%method, %route, status, ms, "request failed"),
        400..=499 => tracing::debug!(%method, %route, status, ms, "request refused"),
        _ => tracing::info!(%method, %route, status, ms, "request"),
    }
    response
}

/// Prometheus metrics of this process (requests; under `kefu serve` also the workers'
/// commands), with the command queue read at scrape time.
async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.broker).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            kefu_common::infra::metrics::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        Json(json!({ "status": 200, "broker": state.broker.kind() })),
    )
        .into_response()
}

/// How long each readiness check may take.
const READY_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready to serve: the database answers and is migrated, the broker answers. 503
/// otherwise, naming what is wrong (for load balancers and orchestrators; never
/// rewritten by `always-200`).
async fn ready(State(state): State<AppState>) -> Response {
    use kefu_migrations::{Migrator, MigratorTrait};
    let database = match tokio::time::timeout(READY_CHECK, state.db.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            "unreachable"
        }
        Err(_) => "timeout",
    };
    let migrations = if database != "ok" {
        json!("unknown")
    } else {
        match tokio::time::timeout(READY_CHECK, Migrator::get_pending_migrations(&state.db)).await {
            Ok(Ok(pending)) if pending.is_empty() => json!("current"),
            Ok(Ok(pending)) => json!(format!("{} pending", pending.len())),
            _ => json!("unknown"),
        }
    };
    let (broker, queue) = match tokio::time::timeout(READY_CHECK, state.broker.probe()).await {
        Ok(Ok(stats)) => ("ok", json!({ "ready": stats.ready, "consumers": stats.consumers })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: broker unreachable");
            ("unreachable", json!(null))
        }
        Err(_) => ("timeout", json!(null)),
    };
    let ok = database == "ok" && migrations == "current" && broker == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": status.as_u16(),
        "database": database,
        "migrations": migrations,
        "broker": broker,
        "broker_kind": state.broker.kind(),
        "broker_node": state.broker.node(),
        "queue": queue,
    });
    (status, Json(body)).into_response()
}

/// The built-in avatar of users without one (`KEFU_DEFAULT_AVATAR_URL` unset).
async fn default_avatar() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        &include_bytes!("../../assets/default-avatar.png")[..],
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this endpoint")
}
