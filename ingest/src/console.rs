//! The agent console at `/console`: its files (ingest/console, embedded and compressed
//! at build time), signing in and out with a cookie session, and the demo customer
//! (`/console/demo`, only with `KEFU_CONSOLE_DEMO=1`).
//!
//! The console's session is an ordinary device session bound to the agent, kept in an
//! `HttpOnly`, `SameSite=Strict` cookie. A request carrying it (and no `session` or
//! Bearer) must also send the session's CSRF token in `X-CSRF-Token` unless it is a
//! GET: the token is derived from the session, readable by the console's own script
//! (the `kefu_csrf` cookie) and by no other site.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use kefu_common::domain::command::Command;
use kefu_common::domain::outcome::{ErrorCode, Outcome};
use kefu_common::domain::{DeviceId, SessionToken, UserId, UserName};
use kefu_common::now_ms;
use kefu_common::store::{self, operators};
use serde::Deserialize;
use serde_json::{json, Map};
use sha2::Sha256;

use crate::auth::{verify_agent, Caller, Source};
use crate::dispatch::{submit, Answer, Key};
use crate::input::{Input, RawInput, Valid};
use crate::requests::ServCredentials;
use crate::{ApiError, AppState};

/// The cookie holding the console's session (never readable by scripts).
pub const SESSION_COOKIE: &str = "kefu_console";
/// The cookie holding the CSRF token (read by the console's script).
const CSRF_COOKIE: &str = "kefu_csrf";
/// The header state-changing console requests echo the CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// The device id of console sessions (the user page's device count).
const DEVICE: &str = "console";
/// Console sessions act as this user of the agent's first app (sessions belong to a
/// user; an agent's binding is what lets it act as the agent).
const USER_PREFIX: &str = "kefu-console:";

/// The embedded files, under `/console`.
pub fn assets() -> Router<AppState> {
    let files = memory_serve::load!()
        .index_file(Some("/index.html"))
        .enable_gzip(true)
        .enable_brotli(true)
        .html_cache_control(memory_serve::CacheControl::NoCache)
        .cache_control(memory_serve::CacheControl::NoCache)
        .into_router();
    Router::new()
        .route("/console/", get(|| async { Redirect::permanent("/console") }))
        .nest("/console", files)
        .layer(axum::middleware::map_response(page_headers))
}

/// Scripts only from Kefu itself (no inline script runs, whatever a message holds),
/// pictures and audio from wherever the media store serves them, and no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; \
                   media-src 'self' blob: http: https:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The CSRF token of a session: an HMAC of it, so it proves the page read its cookie.
pub fn csrf_token(token: &SessionToken) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_str().as_bytes()).expect("HMAC takes any key length");
    mac.update(b"kefu console csrf");
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The console cookie's session, if the request has one; a state-changing request
/// without the matching CSRF token is refused.
pub fn cookie_session(input: &RawInput) -> Option<Result<String, ApiError>> {
    let raw = cookie_value(&input.headers, SESSION_COOKIE)?;
    if matches!(input.method, Method::GET | Method::HEAD) {
        return Some(Ok(raw));
    }
    let Ok(token) = SessionToken::parse(&raw) else {
        return Some(Ok(raw)); // refused as a malformed session by the caller
    };
    let sent = input.header(CSRF_HEADER).unwrap_or("");
    let expected = csrf_token(&token);
    if subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected.as_bytes()).into() {
        Some(Ok(raw))
    } else {
        Some(Err(ApiError::field(
            ErrorCode::Forbidden,
            "session",
            format!("a request with the console's cookie must send its {CSRF_HEADER} header"),
        )))
    }
}

/// `secure`: Kefu is reached over HTTPS (`KEFU_PUBLIC_URL`), so browsers must never send
/// the cookie over plain HTTP.
fn set_cookie(name: &str, value: &str, http_only: bool, max_age_secs: i64, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(http_only)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie values are plain tokens")
}

fn https(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The outcome of a command the console waits for; a queued one is not an answer.
fn settled(answer: Answer) -> Result<(), ApiError> {
    match answer {
        Answer::Done(Outcome::Ok { .. }) => Ok(()),
        Answer::Done(Outcome::Failed(failure)) => Err(ApiError::Client(failure)),
        Answer::Queued { .. } => Err(ApiError::new(
            ErrorCode::Unavailable,
            "the command is queued but not applied yet; try again",
        )),
    }
}

/// Opens a session for `user_id` of `app_id` through the workers; answers its token.
async fn open_session(
    state: &AppState,
    input: &RawInput,
    app_id: i64,
    user_id: UserId,
    user_name: UserName,
) -> Result<SessionToken, ApiError> {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
    let token = SessionToken::derive(&key, b"console");
    let command = Command::SessionCreateV2 {
        session: token.digest(),
        app_id,
        user_id,
        user_name,
        user_image_url: None,
        device_id: Some(DeviceId::parse(DEVICE).expect("a valid device id")),
        expires_at: now_ms() + (state.config.session_ttl_secs * 1000) as i64,
        groups: None,
    };
    let scope = format!("app:{app_id}");
    settled(
        submit(state, input, &scope, Key::Header, command, Map::new())
            .await?
            .answer,
    )?;
    Ok(token)
}

/// Who the console is signed in as.
async fn whoami(state: &AppState, serv_id: &str, token: &SessionToken) -> Result<serde_json::Value, ApiError> {
    let mut apps = Vec::new();
    for id in store::agent_app_ids(&state.db, serv_id).await? {
        if let Some(app) = store::app_by_id(&state.db, id).await? {
            apps.push(json!({ "app_id": app.id, "identify": app.identify, "name": app.name }));
        }
    }
    Ok(json!({ "status": 200, "serv_id": serv_id, "apps": apps, "csrf": csrf_token(token) }))
}

/// `POST /console/session` (`serv_id`, `password`): signs in. The password check is
/// `serv/bind`'s, with its locks and rate limits; the answer sets the cookies.
#[tracing::instrument(skip_all, fields(serv_id = %req.serv_id))]
pub async fn sign_in(
    State(state): State<AppState>,
    source: Source,
    input: Input,
    Valid(req): Valid<ServCredentials>,
) -> Result<Response, ApiError> {
    verify_agent(&state, &req.serv_id, req.password, source.0).await?;
    let first_app = store::agent_app_ids(&state.db, req.serv_id.as_str())
        .await?
        .into_iter()
        .next();
    let Some(app_id) = first_app else {
        return Err(ApiError::field(
            ErrorCode::Forbidden,
            "serv_id",
            "this agent serves no app yet (kefu admin agent update --app …)",
        ));
    };
    let user_id = UserId::parse(&format!("{USER_PREFIX}{}", req.serv_id))
        .map_err(|e| ApiError::Internal(format!("console user id: {e}")))?;
    let user_name =
        UserName::parse(req.serv_id.as_str()).map_err(|e| ApiError::Internal(format!("console user name: {e}")))?;
    let token = open_session(&state, &input, app_id, user_id, user_name).await?;
    let bind = Command::AgentBindV2 {
        session: token.digest(),
        serv_id: req.serv_id.clone(),
    };
    settled(
        submit(&state, &input, token.as_str(), Key::Header, bind, Map::new())
            .await?
            .answer,
    )?;
    tracing::info!("agent signed in to the console");
    let ttl = state.config.session_ttl_secs as i64;
    let secure = https(&state);
    let body = whoami(&state, req.serv_id.as_str(), &token).await?;
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, token.as_str(), true, ttl, secure),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, &csrf_token(&token), false, ttl, secure),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /console/session`: who is signed in (the console's start).
pub async fn current(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let serv_id = caller.bound_agent()?;
    let mut response = Json(whoami(&state, &serv_id, &caller.token).await?).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /console/session`: signs out: unbinds the device, ends the session and
/// clears the cookies.
#[tracing::instrument(skip_all)]
pub async fn sign_out(State(state): State<AppState>, caller: Caller, input: Input) -> Result<Response, ApiError> {
    if let Ok(serv_id) = caller.bound_agent() {
        let serv_id = kefu_common::domain::ServId::parse(&serv_id)
            .map_err(|e| ApiError::Internal(format!("stored serv id: {e}")))?;
        let unbind = Command::AgentUnbindV2 {
            session: caller.token.digest(),
            serv_id,
        };
        settled(
            submit(&state, &input, caller.token.as_str(), Key::Header, unbind, Map::new())
                .await?
                .answer,
        )?;
    }
    operators::revoke_session(&state.db, &caller.token)
        .await
        .map_err(|e| ApiError::Internal(format!("ending the console session: {e}")))?;
    let mut response = Json(json!({ "status": 200 })).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", true, 0, https(&state)),
    );
    headers.append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, "", false, 0, https(&state)));
    Ok(response)
}

fn demo_enabled(state: &AppState) -> Result<(), ApiError> {
    if state.config.console_demo {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            "the demo customer is off (KEFU_CONSOLE_DEMO=1 turns it on)",
        ))
    }
}

/// `GET /console/demo`: a customer's page, to talk to the console from another tab.
pub async fn demo_page(State(state): State<AppState>) -> Result<Response, ApiError> {
    demo_enabled(&state)?;
    let page = (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Html(include_str!("../console-demo.html")),
    );
    Ok(page_headers(page.into_response()).await)
}

#[derive(Debug, Deserialize)]
pub struct DemoCustomer {
    /// The app; its first one when absent.
    identify: Option<String>,
    user_id: UserId,
    user_name: Option<UserName>,
}

/// `POST /console/demo/session` (`identify`, `user_id`, `user_name`): a session for a
/// customer of the app, opened without the app's signature (the demo only).
#[tracing::instrument(skip_all)]
pub async fn demo_session(
    State(state): State<AppState>,
    input: Input,
    Valid(req): Valid<DemoCustomer>,
) -> Result<Response, ApiError> {
    demo_enabled(&state)?;
    let app = match req.identify.as_deref().filter(|s| !s.is_empty()) {
        Some(identify) => store::app_by_identify(&state.db, identify).await?,
        None => store::first_enabled_app(&state.db).await?,
    };
    let app = app
        .filter(|a| a.disabled_at.is_none())
        .ok_or_else(|| ApiError::field(ErrorCode::UnknownApp, "identify", "no such app"))?;
    let name = match req.user_name {
        Some(name) => name,
        None => UserName::parse(req.user_id.as_str())
            .map_err(|e| ApiError::field(ErrorCode::InvalidField, "user_name", e.to_string()))?,
    };
    let token = open_session(&state, &input, app.id, req.user_id.clone(), name).await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "status": 200, "session": token.as_str(), "user_id": req.user_id, "identify": app.identify })),
    )
        .into_response())
}
