//! The agent console's server side: its embedded files, signing in with a cookie
//! session (HttpOnly, SameSite=Strict, CSRF for state-changing calls, serv/bind's
//! locks), signing out, and the demo customer that is off unless turned on.
//! The page itself is tested in Chromium by tests/console (bash .ci/console).

mod support;

use reqwest::header;
use serde_json::{json, Value};
use support::{spawn_custom, Backend};

fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn value_of(cookies: &[String], name: &str) -> String {
    let line = cookies.iter().find(|c| c.starts_with(&format!("{name}="))).expect(name);
    line[name.len() + 1..].split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn console_sign_in_is_a_cookie_session_with_csrf_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |c| c.login_max_failures = 3, true).await;
    let http = &app.api.http;
    let url = |p: &str| app.api.url(p);

    // A wrong password is refused like serv/bind, naming the field, with no cookie.
    let resp = http
        .post(url("/console/session"))
        .json(&json!({"serv_id": "alice", "password": "wrong-pw-1"}))
        .send()
        .await
        .unwrap();
    assert!(cookies(&resp).is_empty());
    let body: Value = resp.json().await.unwrap();
    support::assert_code(&body, "wrong_password");
    assert_eq!(body["field"], "password");

    let resp = http
        .post(url("/console/session"))
        .json(&json!({"serv_id": "alice", "password": "secret-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = cookies(&resp);
    let session_line = set.iter().find(|c| c.starts_with("kefu_console=")).unwrap();
    assert!(
        session_line.contains("HttpOnly") && session_line.contains("SameSite=Strict"),
        "{session_line}"
    );
    let csrf_line = set.iter().find(|c| c.starts_with("kefu_csrf=")).unwrap();
    assert!(
        !csrf_line.contains("HttpOnly") && csrf_line.contains("SameSite=Strict"),
        "{csrf_line}"
    );
    let (session, csrf) = (value_of(&set, "kefu_console"), value_of(&set, "kefu_csrf"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["serv_id"], "alice");
    assert_eq!(body["csrf"], csrf);
    assert_eq!(body["apps"][0]["identify"], app.api.identify);
    let cookie = format!("kefu_console={session}; kefu_csrf={csrf}");

    // The cookie is a session bound to alice: reads work with it alone.
    let me: Value = http
        .get(url("/console/session"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["serv_id"], "alice");
    let user = app.api.session("ann").await;
    let (_, q) = app
        .api
        .post_form("/v1/question/new", &[("session", &user), ("title", "hi")])
        .await;
    let qid = q["question_id"].as_str().unwrap().to_owned();
    let list: Value = http
        .get(url("/v1/question/list"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["questions"][0]["question_id"], qid.as_str(), "{list}");

    // A state-changing call needs the CSRF token; without it nothing is done.
    let serve = |token: Option<&str>| {
        let mut req = http
            .post(url(&format!("/v1/question/{qid}/serve")))
            .header(header::COOKIE, &cookie)
            .json(&json!({"serv_id": "alice"}));
        if let Some(token) = token {
            req = req.header("x-csrf-token", token);
        }
        req.send()
    };
    for wrong in [None, Some("0123456789abcdef0123456789abcdef")] {
        let resp = serve(wrong).await.unwrap();
        assert_eq!(resp.status(), 403);
        let body: Value = resp.json().await.unwrap();
        support::assert_code(&body, "forbidden");
        assert_eq!(body["field"], "session");
    }
    assert_eq!(
        support::count_rows(&app.db, "questions", Some("status = 2")).await,
        0,
        "refused calls wrote nothing"
    );
    let resp = serve(Some(&csrf)).await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let tasks: Value = http
        .get(url("/v1/serv/alice/tasks"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["questions"][0]["question_id"], qid.as_str());

    // Signing out unbinds, ends the session and clears the cookies.
    let resp = http
        .delete(url("/console/session"))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(cookies(&resp).iter().all(|c| c.contains("Max-Age=0")));
    let (_, body) = app.api.get("/v1/question/list", &[("session", &session)]).await;
    support::assert_code(&body, "invalid_session");
    assert_eq!(support::count_rows(&app.db, "agent_bindings", None).await, 0);

    // serv/bind's locks hold here too: after three failures alice is locked out.
    for _ in 0..3 {
        let _ = http
            .post(url("/console/session"))
            .json(&json!({"serv_id": "alice", "password": "wrong-pw-2"}))
            .send()
            .await
            .unwrap();
    }
    let body: Value = http
        .post(url("/console/session"))
        .json(&json!({"serv_id": "alice", "password": "secret-pw"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    support::assert_code(&body, "agent_locked");
    app.shutdown().await;
}

#[tokio::test]
async fn console_files_are_embedded_compressed_and_cached_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |_| {}, true).await;
    let http = &app.api.http;
    let resp = http.get(app.api.url("/console")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
    // No inline script may run and no other site may frame the console.
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(resp.text().await.unwrap().contains("/console/app.js"));
    let again = http
        .get(app.api.url("/console"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    for file in ["/console/app.js", "/console/feed.js", "/console/console.css"] {
        let resp = http
            .get(app.api.url(file))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip", "{file}");
    }
    // The demo customer is off by default: no page, no sessions without a signature.
    let resp = http.get(app.api.url("/console/demo")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let (status, body) = app
        .api
        .post_json("/console/demo/session", json!({"user_id": "eve"}))
        .await;
    assert_eq!(status, 404);
    support::assert_code(&body, "not_found");
    assert_eq!(
        support::count_rows(&app.db, "sessions", Some("user_id = 'eve'")).await,
        0
    );
    app.shutdown().await;
}

#[tokio::test]
async fn demo_customer_opens_sessions_only_when_enabled_embedded_sqlite() {
    let app = spawn_custom(Backend::Embedded, |c| c.console_demo = true, true).await;
    let resp = app.api.http.get(app.api.url("/console/demo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = app
        .api
        .post_json(
            "/console/demo/session",
            json!({"identify": app.api.identify, "user_id": "ann", "user_name": "Ann"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let session = body["session"].as_str().unwrap();
    let (_, q) = app
        .api
        .post_form("/v1/question/new", &[("session", session), ("title", "from the demo")])
        .await;
    assert_eq!(q["status"], 200, "{q}");
    let (status, body) = app
        .api
        .post_json(
            "/console/demo/session",
            json!({"identify": "no.such.app", "user_id": "ann"}),
        )
        .await;
    assert_eq!(status, 404);
    support::assert_code(&body, "unknown_app");
    assert_eq!(body["field"], "identify");
    let (_, body) = app.api.post_json("/console/demo/session", json!({"user_id": ""})).await;
    assert_eq!(body["field"], "user_id", "{body}");
    app.shutdown().await;
}
