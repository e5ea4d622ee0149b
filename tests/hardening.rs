//! Hardening: streams end when access ends, slow and idle clients cannot hold
//! connections, bytes are stored as sent, no lever to lock an agent out, signatures out
//! of URLs and secrets out of logs.

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{admin, admin_with_stdin, free_addr, Client, Proc};

const TOKEN: &str = "the-admin-token-of-this-test";

/// An SSE stream read in the background: what arrived, and whether it ended.
struct Stream {
    text: Arc<Mutex<String>>,
    ended: Arc<Mutex<Option<Instant>>>,
}

impl Stream {
    async fn open(url: String) -> Stream {
        let mut response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        let (text, ended) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(None)));
        let (sink, end) = (Arc::clone(&text), Arc::clone(&ended));
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = response.chunk().await {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
            }
            *end.lock().unwrap() = Some(Instant::now());
        });
        Stream { text, ended }
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits for `event: revoked` and the end of the stream: how long it took.
    async fn revoked_within(&self, since: Instant, limit: Duration) -> Duration {
        loop {
            if let Some(at) = *self.ended.lock().unwrap() {
                let text = self.text();
                assert!(text.contains("event: revoked"), "ended without revoked: {text}");
                return at - since;
            }
            assert!(since.elapsed() < limit, "still open after {limit:?}: {}", self.text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn admin_post(c: &Client, path: &str, body: Value) -> (u16, Value) {
    let (status, body) = c.admin_post(TOKEN, path, body).await;
    (status.as_u16(), body)
}

/// Revoke, unbind, disabling the agent or the app, and a new password each close the
/// affected streams on another ingest within 5 s, with a final `event: revoked`;
/// streams they do not concern go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_access_ends_rabbitmq_postgres() {
    let (db, app) = support::shop_with_alice().await;
    let prefix = format!("kefu-test-revoke-{}", uuid::Uuid::new_v4().simple());
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let env = [("KEFU_SESSION_RATE_PER_SEC", "0"), ("KEFU_ADMIN_TOKEN", TOKEN)];
    let _ingest_a = Proc::start("ingest", &db.url, &prefix, &addr_a, &env);
    let _ingest_b = Proc::start("ingest", &db.url, &prefix, &addr_b, &env);
    let _worker = Proc::start("worker", &db.url, &prefix, &free_addr(), &env);
    let (a, b) = (
        Client::new(format!("http://{addr_a}"), &app),
        Client::new(format!("http://{addr_b}"), &app),
    );
    a.wait_ready().await;
    b.wait_ready().await;
    let limit = Duration::from_secs(5);
    let user_stream = |session: String| {
        let url = b.url(&format!("/v1/user/u1/stream?session={session}"));
        Stream::open(url)
    };
    let agent_stream = |session: String| {
        let url = b.url(&format!("/v1/serv/alice/stream?session={session}"));
        Stream::open(url)
    };
    let mut took = Vec::new();

    // A user's session revoked: its stream ends; another session of the same user goes on.
    let (revoked, kept) = (a.session("u1").await, a.session("u1").await);
    let (gone, stays) = (user_stream(revoked.clone()).await, user_stream(kept.clone()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Instant::now();
    assert_eq!(
        admin_post(&a, "/admin/v1/sessions/revoke", json!({ "session": revoked }))
            .await
            .0,
        200
    );
    took.push(("revoke", gone.revoked_within(at, limit).await));
    // What the user writes later reaches the stream still allowed, never the ended one.
    let (_, q) = a
        .post_json("/v1/question/new", json!({ "session": kept, "title": "still here" }))
        .await;
    let q = q["question_id"].as_str().unwrap().to_owned();
    let (status, _) = a
        .post_json(
            &format!("/v1/question/{q}/message/send_text"),
            json!({ "session": kept, "sender": "u1", "sender_type": 1, "text": "after the revoke" }),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(stays.text().contains("after the revoke"), "{}", stays.text());
    assert!(!gone.text().contains("after the revoke"));

    // An agent's device unbinds: the stream of that device ends, the other device's goes on.
    let (device_1, device_2) = (a.agent_session("alice").await, a.agent_session("alice").await);
    let (one, two) = (
        agent_stream(device_1.clone()).await,
        agent_stream(device_2.clone()).await,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Instant::now();
    let (status, body) = a
        .post_form(
            "/v1/serv/unbind",
            &[("session", &device_1), ("serv_id", "alice"), ("password", "secret-pw")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    took.push(("unbind", one.revoked_within(at, limit).await));
    assert!(two.ended.lock().unwrap().is_none(), "the other device's stream goes on");

    // The agent disabled: its remaining stream ends; enabled again for what follows.
    let at = Instant::now();
    admin(&db.url, &["agent", "disable", "--serv-id", "alice"]);
    took.push(("disable agent", two.revoked_within(at, limit).await));
    admin(&db.url, &["agent", "enable", "--serv-id", "alice"]);

    // A new password.
    let device = a.agent_session("alice").await;
    let stream = agent_stream(device).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Instant::now();
    let (status, body) = admin_post(
        &a,
        "/admin/v1/agents/alice/password",
        json!({ "password": "another-pw" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    took.push(("password", stream.revoked_within(at, limit).await));
    admin_with_stdin(
        &db.url,
        &["agent", "set-password", "--serv-id", "alice", "--password-stdin"],
        "secret-pw\n",
    );

    // The app disabled: every stream of it ends.
    let (user, device) = (a.session("u1").await, a.agent_session("alice").await);
    let (for_user, for_agent) = (user_stream(user).await, agent_stream(device).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at = Instant::now();
    assert_eq!(
        admin_post(&a, "/admin/v1/apps/com.example.shop/disable", json!({}))
            .await
            .0,
        200
    );
    took.push(("disable app: user", for_user.revoked_within(at, limit).await));
    took.push(("disable app: agent", for_agent.revoked_within(at, limit).await));
    println!("streams closed after: {took:?}");
    db.drop_db().await;
}

/// A session holds at most KEFU_SSE_MAX_PER_SESSION streams (429 too_many_streams).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_session_are_capped_embedded_sqlite() {
    let app = support::spawn_custom(support::Backend::Embedded, |c| c.session_rate_per_sec = 0, true).await;
    let session = app.session("u1").await;
    let url = app.url(&format!("/v1/user/u1/stream?session={session}"));
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(Stream::open(url.clone()).await);
    }
    let (status, body) = app.get("/v1/user/u1/stream", &[("session", &session)]).await;
    assert_eq!(status, 429, "{body}");
    support::assert_code(&body, "too_many_streams");
    assert_eq!(body["error"], 30022);
    app.shutdown().await;
}

fn connect(addr: &str) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream
}

/// Reads until the server closes the connection: what it sent, and when it closed.
fn until_closed(mut stream: std::net::TcpStream) -> (String, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed: {e} after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

/// Unfinished headers, an idle connection, a stalled body and a chunked body without
/// its end are each closed within their timeouts (the stalled bodies with 408), while
/// /health stays fast beside 500 such connections; beyond KEFU_MAX_CONNECTIONS, 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_embedded_sqlite() {
    let db = support::TestDb::create(support::Backend::Embedded).await;
    let addr = free_addr();
    let env = [
        ("KEFU_HEADER_READ_TIMEOUT_MS", "2000"),
        ("KEFU_BODY_READ_TIMEOUT_MS", "2000"),
        ("KEFU_MAX_CONNECTIONS", "1000"),
    ];
    let _serve = Proc::start_embedded("serve", &db.url, &addr, &env);
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("headers never finished", b"GET /health HTTP/1.1\r\nHost: kefu\r\n".to_vec(), None),
        ("idle, nothing sent", Vec::new(), None),
        (
            "Content-Length 100, 10 bytes sent",
            b"POST /v1/question/new HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"title\":1".to_vec(),
            Some("HTTP/1.1 408"),
        ),
        (
            "chunked body without its end",
            b"POST /v1/question/new HTTP/1.1\r\nHost: kefu\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n".to_vec(),
            Some("HTTP/1.1 408"),
        ),
    ];
    let mut timings = Vec::new();
    for (name, sent, answer) in cases {
        let addr = addr.clone();
        let (got, took) = tokio::task::spawn_blocking(move || {
            let mut stream = connect(&addr);
            stream.write_all(&sent).unwrap();
            let started = Instant::now();
            let (got, closed) = until_closed(stream);
            (got, closed - started)
        })
        .await
        .unwrap();
        // Headers: 2 s. Bodies: 2 s plus their length (chunked: the 64 KiB limit) at 16 KiB/s.
        assert!(took < Duration::from_secs(8), "{name}: closed after {took:?}");
        match answer {
            Some(status) => {
                assert!(got.starts_with(status), "{name}: {got}");
                assert!(
                    got.contains("request_timeout") && got.to_lowercase().contains("connection: close"),
                    "{name}: {got}"
                );
            }
            None => assert!(!got.contains("200 OK"), "{name}: {got}"),
        }
        timings.push((name, took));
    }

    // 500 slowloris connections (headers trickling, never finished) held open meanwhile.
    let held: Vec<std::net::TcpStream> = (0..500)
        .map(|_| {
            let mut s = connect(&addr);
            s.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let resp = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p99 = latencies[98];
    // They are all closed by the header timeout.
    let closed = tokio::task::spawn_blocking(move || {
        held.into_iter()
            .filter(|s| {
                let mut buf = [0u8; 64];
                let mut s = s.try_clone().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
                matches!(s.read(&mut buf), Ok(0) | Err(_))
            })
            .count()
    })
    .await
    .unwrap();
    println!(
        "closed after: {timings:?}; 500 slowloris held, {closed} closed; /health p50 {:?} p99 {p99:?}",
        latencies[49]
    );
    assert_eq!(closed, 500);
    assert!(
        p99 < Duration::from_millis(500),
        "/health p99 {p99:?} beside 500 slow connections"
    );
    db.drop_db().await;
}

/// Beyond KEFU_MAX_CONNECTIONS a connection is answered 503 too_many_connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_503_embedded_sqlite() {
    let db = support::TestDb::create(support::Backend::Embedded).await;
    let addr = free_addr();
    let _serve = Proc::start_embedded("serve", &db.url, &addr, &[("KEFU_MAX_CONNECTIONS", "5")]);
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for _ in 0..200 {
        if http.get(format!("http://{addr}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr2 = addr.clone();
    let got = tokio::task::spawn_blocking(move || {
        let held: Vec<_> = (0..5).map(|_| connect(&addr2)).collect();
        std::thread::sleep(Duration::from_millis(300));
        let mut extra = connect(&addr2);
        let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: kefu\r\n\r\n");
        let (got, _) = until_closed(extra);
        drop(held);
        got
    })
    .await
    .unwrap();
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("too_many_connections"), "{got}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        http.get(format!("http://{addr}/health")).send().await.unwrap().status(),
        200
    );
    db.drop_db().await;
}

/// What is accepted is stored as sent: `%ff%fe` in a form is refused naming the field,
/// a compressed body is 415, and valid percent-encoded UTF-8 arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_bytes_are_taken_as_sent_or_refused_embedded_sqlite() {
    let app = support::spawn_custom(support::Backend::Embedded, |c| c.session_rate_per_sec = 0, true).await;
    let session = app.session("u1").await;
    let questions = app.count("questions").await;
    let raw = |body: String, encoding: Option<&str>| {
        let mut req = app
            .http
            .post(app.url("/v1/question/new"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        async move { support::read(req.send().await.unwrap()).await }
    };
    let (status, body) = raw(format!("session={session}&title=%ff%fe"), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (body["error"].as_i64(), body["field"].as_str()),
        (Some(10010), Some("title")),
        "{body}"
    );
    let (status, body) = raw(format!("session={session}&title=ok"), Some("gzip")).await;
    assert_eq!(status, 415, "{body}");
    support::assert_code(&body, "unsupported_media_type");
    assert_eq!(app.count("questions").await, questions, "nothing written");
    let (status, body) = raw(format!("session={session}&title=%E4%BD%A0+%E5%A5%BD"), Some("identity")).await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = app.get("/v1/user/u1/waits", &[("session", &session)]).await;
    assert_eq!(listed["questions"][0]["title"], "你 好");
    app.shutdown().await;
}

async fn bind_from(
    base: &str,
    local: [u8; 4],
    session: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Value, Duration) {
    let http = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(local))
        .build()
        .unwrap();
    let mut req = http.post(format!("{base}/v1/serv/bind")).form(&[
        ("session", session),
        ("serv_id", "alice"),
        ("password", password),
    ]);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let started = Instant::now();
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), started.elapsed())
}

/// Five failures from 127.0.0.2 lock alice for that address only: the right password
/// from 127.0.0.1 works. Past KEFU_LOGIN_AGENT_SLOW_FAILURES overall, attempts are slowed,
/// never refused. Behind a trusted proxy X-Forwarded-For names the client. Wrong admin
/// tokens are throttled per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lever_to_lock_an_agent_out_embedded_sqlite() {
    let app = support::spawn_custom(
        support::Backend::Embedded,
        |c| {
            c.session_rate_per_sec = 0;
            c.login_slow_ms = 200;
            c.login_agent_slow_failures = 8;
            c.trusted_proxies = vec!["127.0.0.5".into()];
            c.admin_token = Some(kefu_common::infra::config::SecretString::from(TOKEN));
        },
        true,
    )
    .await;
    let base = app.api.base.clone();
    let device = app.session("device-1").await;
    for _ in 0..5 {
        let (status, body, _) = bind_from(&base, [127, 0, 0, 2], &device, "wrong-password", None).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, _) = bind_from(&base, [127, 0, 0, 2], &device, "secret-pw", None).await;
    assert_eq!(status, 429, "the pair is locked: {body}");
    support::assert_code(&body, "agent_locked");
    let (status, body, _) = bind_from(&base, [127, 0, 0, 1], &device, "secret-pw", None).await;
    assert_eq!(status, 200, "another address is not locked: {body}");

    // Failures from many addresses (behind the trusted proxy, each its own client)
    // slow alice's logins past 8 overall, but lock none of the addresses that did not fail.
    for i in 0..9u8 {
        let xff = format!("198.51.100.{i}");
        let (status, body, _) = bind_from(&base, [127, 0, 0, 5], &device, "wrong-password", Some(&xff)).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, took) = bind_from(&base, [127, 0, 0, 3], &device, "secret-pw", None).await;
    assert_eq!(status, 200, "slowed, not refused: {body}");
    assert!(
        took >= Duration::from_millis(200),
        "the right password is slowed after many failures: {took:?}"
    );
    // A client's own forwarded address counts for it, the proxy's does not.
    for _ in 0..5 {
        bind_from(&base, [127, 0, 0, 5], &device, "wrong-password", Some("203.0.113.9")).await;
    }
    let (status, _, _) = bind_from(&base, [127, 0, 0, 5], &device, "secret-pw", Some("203.0.113.9")).await;
    assert_eq!(status, 429, "203.0.113.9 is locked for alice");
    let (status, body, _) = bind_from(&base, [127, 0, 0, 5], &device, "secret-pw", Some("203.0.113.10")).await;
    assert_eq!(status, 200, "{body}");
    // X-Forwarded-For from an untrusted peer is ignored: 127.0.0.2 is still locked.
    let (status, _, _) = bind_from(&base, [127, 0, 0, 2], &device, "secret-pw", Some("192.0.2.1")).await;
    assert_eq!(status, 429);

    // Wrong admin tokens: 10 a minute from one address, then 429 (the right token too);
    // another address is not affected.
    let admin_get = |local: [u8; 4], token: &'static str| {
        let http = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(local))
            .build()
            .unwrap();
        let url = format!("{base}/admin/v1/apps");
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    for _ in 0..10 {
        assert_eq!(admin_get([127, 0, 0, 6], "not-the-admin-token").await, 401);
    }
    assert_eq!(admin_get([127, 0, 0, 6], "not-the-admin-token").await, 429);
    assert_eq!(
        admin_get([127, 0, 0, 6], TOKEN).await,
        429,
        "throttled before the token is compared"
    );
    assert_eq!(admin_get([127, 0, 0, 7], TOKEN).await, 200);
    app.shutdown().await;
}

/// session/new and the leave-message API take their signature in Kefu-Timestamp /
/// Kefu-Signature (the query form still works); no log line of the ingest or the
/// worker holds a signature, session, token, password or secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_in_headers_and_no_secret_in_logs_rabbitmq_postgres() {
    let (db, app) = support::shop_with_alice().await;
    let prefix = format!("kefu-test-logs-{}", uuid::Uuid::new_v4().simple());
    let addr = free_addr();
    let dir = std::env::temp_dir().join(format!("kefu-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut children = Vec::new();
    for (role, log) in [("ingest", "ingest.log"), ("worker", "worker.log")] {
        let file = std::fs::File::create(dir.join(log)).unwrap();
        let child = support::kefu_cmd(&db.url)
            .arg(role)
            .env("KEFU_AMQP_URL", support::AMQP_URL)
            .env("KEFU_AMQP_PREFIX", &prefix)
            .env(
                "KEFU_HTTP_ADDR",
                if role == "ingest" { addr.clone() } else { free_addr() },
            )
            .env("KEFU_ADMIN_TOKEN", TOKEN)
            .env("KEFU_MEDIA_DIR", dir.join("media"))
            .env(
                "RUST_LOG",
                "debug,sqlx=warn,sea_orm=warn,lapin=warn,hyper=warn,h2=warn,reqwest=warn",
            )
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        children.push(Proc { child });
    }
    let c = Client::new(format!("http://{addr}"), &app);
    c.wait_ready().await;
    let secret = app["secret"].as_str().unwrap().to_owned();

    // session/new, signed in the headers.
    let raw =
        serde_json::to_vec(&json!({ "identify": "com.example.shop", "user_id": "u1", "user_name": "Ann" })).unwrap();
    let ts = support::now_ms().to_string();
    let sig = support::sign(&secret, &ts, "POST", "/v1/session/new", &raw);
    let resp = c
        .http
        .post(c.url("/v1/session/new"))
        .header("Kefu-Timestamp", &ts)
        .header("Kefu-Signature", &sig)
        .header("content-type", "application/json")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    let (status, opened) = support::read(resp).await;
    assert_eq!(status, 200, "{opened}");
    let session = opened["session"].as_str().unwrap().to_owned();
    // A wrong signature in the header is refused, even with a right one in the query.
    let resp = c
        .http
        .post(c.url("/v1/session/new"))
        .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
        .header("Kefu-Timestamp", &ts)
        .header("Kefu-Signature", "00".repeat(32))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The leave-message API: headers, and the clients' query form.
    let app_id = app["app_id"].as_i64().unwrap().to_string();
    let mut leave_sigs = Vec::new();
    for in_headers in [true, false] {
        let ts = (support::now_ms() + i64::from(in_headers)).to_string();
        let lsig = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(
            format!("{app_id}{secret}{ts}").as_bytes(),
        ));
        let mut req = c
            .http
            .post(c.url(&format!("/api/v1/{app_id}/leavemessage")))
            .json(&json!({ "contact": "Ann", "callback": "email", "email": "ann@example.com", "subject": "Hi", "content": "x" }));
        req = if in_headers {
            req.header("Kefu-Timestamp", &ts).header("Kefu-Signature", &lsig)
        } else {
            req.query(&[("timestamp", ts.as_str()), ("signature", lsig.as_str())])
        };
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["errcode"], 0, "{answer}");
        leave_sigs.push(lsig);
    }

    // Traffic that carries every kind of secret: a bind, user calls with the session in
    // the query and the body, the admin API, a wrong password.
    let device = c.session("device-alice").await;
    let (status, _) = c
        .post_form(
            "/v1/serv/bind",
            &[("session", &device), ("serv_id", "alice"), ("password", "secret-pw")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .post_form(
            "/v1/serv/bind",
            &[("session", &device), ("serv_id", "alice"), ("password", "wrong-pw-123")],
        )
        .await;
    assert_eq!(status, 401);
    let (_, q) = c
        .post_json("/v1/question/new", json!({ "session": session, "title": "hello" }))
        .await;
    let q = q["question_id"].as_str().unwrap().to_owned();
    c.get(&format!("/v1/question/{q}/message"), &[("session", &session)])
        .await;
    let resp = c
        .http
        .get(c.url("/admin/v1/apps"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .http
        .get(c.url("/admin/v1/apps"))
        .bearer_auth("a-wrong-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop(children);

    let logs = std::fs::read_to_string(dir.join("ingest.log")).unwrap()
        + &std::fs::read_to_string(dir.join("worker.log")).unwrap();
    assert!(logs.lines().count() > 5, "the processes logged: {logs}");
    let secrets = [
        ("session", session.as_str()),
        ("device session", device.as_str()),
        ("session/new signature", sig.as_str()),
        ("leave-message signature (headers)", leave_sigs[0].as_str()),
        ("leave-message signature (query)", leave_sigs[1].as_str()),
        ("admin token", TOKEN),
        ("wrong admin token", "a-wrong-admin-token"),
        ("password", "secret-pw"),
        ("wrong password", "wrong-pw-123"),
        ("app secret", secret.as_str()),
    ];
    for (what, value) in secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(value)) {
            panic!("a log line holds the {what}: {line}");
        }
    }
    db.drop_db().await;
}

/// A stream ends with `event: revoked` when its session expires, without any change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_session_expires_embedded_sqlite() {
    let app = support::spawn_custom(
        support::Backend::Embedded,
        |c| {
            c.session_rate_per_sec = 0;
            c.session_ttl_secs = 3;
        },
        true,
    )
    .await;
    let session = app.session("u1").await;
    let opened = Instant::now();
    let stream = Stream::open(app.url(&format!("/v1/user/u1/stream?session={session}"))).await;
    let took = stream.revoked_within(opened, Duration::from_secs(8)).await;
    assert!(took >= Duration::from_secs(2), "not before the session's end: {took:?}");
    assert!(stream.text().contains("session expired"), "{}", stream.text());
    app.shutdown().await;
}
