//! Test harness: each test gets its own database and its own queue prefix, on the real
//! services of the machine (RabbitMQ, PostgreSQL, MariaDB) or the embedded default.
#![allow(dead_code)]

pub mod contract;
pub mod media;
pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use kefu_common::infra::broker::Broker;
use kefu_common::infra::config::Config;
use kefu_migrations::{Migrator, MigratorTrait};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MARIADB_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + embedded queue: what `kefu serve` uses with no environment.
    Embedded,
    RabbitPostgres,
    RabbitMariadb,
}

impl Backend {
    pub fn rabbit(self) -> bool {
        self != Backend::Embedded
    }
}

/// A fresh database for one test, removed by `drop_db` or, if the test panics, on drop.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    name: String,
    removed: bool,
}

/// Runs async clean-up from `Drop` (a failing test unwinding) on a thread of its own.
fn cleanup_blocking(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            runtime.block_on(cleanup);
        }
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.removed {
            let (backend, name) = (self.backend, self.name.clone());
            cleanup_blocking(async move { remove_db(backend, &name).await });
        }
    }
}

/// The real services the tests run against: (name, port).
const SERVICES: [(&str, u16); 3] = [("PostgreSQL", 5432), ("MariaDB", 3306), ("RabbitMQ", 5672)];

/// Stops the whole test binary at once, with one message, when a real service is not
/// reachable (instead of a screen of connection errors from every test).
pub fn require_services() {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let missing: Vec<String> = SERVICES
            .iter()
            .filter(|(_, port)| {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
            })
            .map(|(name, port)| format!("{name} (127.0.0.1:{port})"))
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "\nkefu tests: not reachable: {}.\n\
                 The tests run against real PostgreSQL, MariaDB and RabbitMQ on 127.0.0.1. Either\n\
                 - install and start them: apt-get install -y postgresql mariadb-server rabbitmq-server\n\
                   (PostgreSQL with trust auth for user postgres; MariaDB root without password), or\n\
                 - start the ones in docker-compose.yml: docker compose --profile test up -d rabbitmq test-postgres test-mariadb\n\
                 `bash .ci/run` does the first by itself on Debian.\n",
                missing.join(", ")
            );
            std::process::exit(2);
        }
    });
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        require_services();
        let name = format!("kefu_t_{}", uuid::Uuid::new_v4().simple());
        let url = match backend {
            Backend::Embedded => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                format!("sqlite://{}?mode=rwc", path.display())
            }
            Backend::RabbitPostgres => {
                let admin = sea_orm::Database::connect(PG_ADMIN_URL)
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432 must be running");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                format!("postgres://postgres@127.0.0.1:5432/{name}")
            }
            Backend::RabbitMariadb => {
                let admin = sea_orm::Database::connect(MARIADB_ADMIN_URL)
                    .await
                    .expect("MariaDB at 127.0.0.1:3306 must be running");
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .await
                    .expect("create database");
                format!("mysql://root@127.0.0.1:3306/{name}")
            }
        };
        TestDb {
            url,
            backend,
            name,
            removed: false,
        }
    }

    pub async fn drop_db(mut self) {
        remove_db(self.backend, &self.name).await;
        self.removed = true;
    }
}

async fn remove_db(backend: Backend, name: &str) {
    match backend {
        Backend::Embedded => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        Backend::RabbitPostgres => {
            if let Ok(admin) = sea_orm::Database::connect(PG_ADMIN_URL).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
        Backend::RabbitMariadb => {
            if let Ok(admin) = sea_orm::Database::connect(MARIADB_ADMIN_URL).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await;
            }
        }
    }
}

pub fn test_config(backend: Backend, db_url: &str, prefix: &str) -> Config {
    Config {
        http_addr: "127.0.0.1:0".into(),
        database_url: db_url.into(),
        amqp_url: backend.rabbit().then(|| AMQP_URL.to_owned()),
        amqp_prefix: prefix.into(),
        retry_schedule_ms: vec![200, 1_000],
        embedded_poll_ms: 50,
        media_dir: std::env::temp_dir()
            .join(format!("kefu-media-{prefix}"))
            .display()
            .to_string(),
        ..Config::default()
    }
}

/// Deletes every queue and exchange of a test prefix.
pub async fn delete_topology(prefix: &str, schedule_ms: &[u64]) {
    let Ok(conn) = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default()).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    let mut queues = vec![format!("{prefix}.commands"), format!("{prefix}.commands.dead")];
    queues.extend(schedule_ms.iter().map(|ms| format!("{prefix}.commands.retry.{ms}")));
    // The task queue of tests/tasks.rs.
    queues.extend(
        [
            "test-jobs",
            "test-jobs.dead",
            "test-jobs.retry.100",
            "test-jobs.retry.200",
            "test-jobs.retry.400",
        ]
        .map(|q| format!("{prefix}.{q}")),
    );
    // The delivery task queues, with the delay levels of the default and the tests'
    // retry policies.
    for task in ["im-deliveries", "http-deliveries"] {
        queues.extend([task.to_owned(), format!("{task}.dead")].map(|q| format!("{prefix}.{q}")));
        for initial in [100u64, 1_000] {
            let mut level = initial;
            while level < 3_600_000 {
                queues.push(format!("{prefix}.{task}.retry.{level}"));
                level *= 2;
            }
        }
        queues.extend([200, 800, 3_600_000].map(|l| format!("{prefix}.{task}.retry.{l}")));
    }
    for q in queues {
        let _ = ch.queue_delete(q.into(), Default::default()).await;
    }
    for x in [
        format!("{prefix}.commands"),
        format!("{prefix}.dlx"),
        format!("{prefix}.events"),
        format!("{prefix}.test-jobs.dlx"),
        format!("{prefix}.im-deliveries.dlx"),
        format!("{prefix}.http-deliveries.dlx"),
    ] {
        let _ = ch.exchange_delete(x.into(), Default::default()).await;
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// The `kefu` binary with a clean environment.
pub fn kefu_cmd(db_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kefu"));
    cmd.env_clear().env("KEFU_DATABASE_URL", db_url).env("RUST_LOG", "warn");
    cmd
}

/// `kefu migrate` through the real CLI (the admin CLI does not migrate).
pub fn migrate(db_url: &str) {
    let out = kefu_cmd(db_url).arg("migrate").output().expect("run kefu migrate");
    assert!(
        out.status.success(),
        "kefu migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kefu admin …` through the real CLI; returns its JSON output.
pub fn admin(db_url: &str, args: &[&str]) -> Value {
    admin_with_stdin(db_url, args, "")
}

/// `kefu admin …` of an app on RabbitMQ (commands that publish: re-drives).
pub fn admin_on_broker(app: &TestApp, args: &[&str]) -> Value {
    let out = kefu_cmd(&app.config.database_url)
        .env("KEFU_AMQP_URL", AMQP_URL)
        .env("KEFU_AMQP_PREFIX", &app.config.amqp_prefix)
        .arg("admin")
        .args(args)
        .output()
        .expect("run kefu admin");
    assert!(
        out.status.success(),
        "kefu admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

/// A fresh PostgreSQL database for `kefu` processes: migrated, with the app
/// `com.example.shop` (answers its JSON, secret included) and the agent `alice`
/// (password `secret-pw`) serving it.
pub async fn shop_with_alice() -> (TestDb, Value) {
    init_tracing();
    let db = TestDb::create(Backend::RabbitPostgres).await;
    migrate(&db.url);
    let app = admin(&db.url, &["app", "create", "--identify", "com.example.shop"]);
    create_agent(&db.url, "alice", "com.example.shop", "secret-pw\n");
    (db, app)
}

/// `kefu admin app set-im` for com.example.shop, pointed at a stand-in.
pub fn set_im(db_url: &str, base: &str, key: &str) {
    admin(
        db_url,
        &[
            "app",
            "set-im",
            "--identify",
            "com.example.shop",
            "--base-url",
            base,
            "--sdkappid",
            "1400000000",
            "--identifier",
            "administrator",
            "--secret-key",
            key,
            "--from-account",
            "@customer_service_account",
        ],
    );
}

/// A Python virtual environment under the target directory with `pinned` (from PyPI)
/// installed; answers its `python`.
pub fn python_with(venv_name: &str, pinned: &str) -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(venv_name);
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_ok(std::process::Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run_ok(std::process::Command::new(venv.join("bin").join("pip")).args(["install", "-q", pinned]));
    }
    python
}

/// Runs a command that must succeed; answers its trimmed standard output.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `kefu admin …` with `stdin` on its standard input (`--password-stdin`).
/// Runs `kefu admin ARGS` with `stdin`: its whole output, success or not.
pub fn admin_output(db_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = kefu_cmd(db_url)
        .arg("admin")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kefu admin");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("run kefu admin")
}

/// `kefu admin agent create --serv-id … --password-stdin --app …`: its JSON answer.
pub fn create_agent(db_url: &str, serv_id: &str, app: &str, password_line: &str) -> Value {
    admin_with_stdin(
        db_url,
        &[
            "agent",
            "create",
            "--serv-id",
            serv_id,
            "--password-stdin",
            "--app",
            app,
        ],
        password_line,
    )
}

pub fn admin_with_stdin(db_url: &str, args: &[&str], stdin: &str) -> Value {
    let out = admin_output(db_url, args, stdin);
    assert!(
        out.status.success(),
        "kefu admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("admin prints JSON")
}

pub struct TestApp {
    pub api: Client,
    pub db: DatabaseConnection,
    test_db: Option<TestDb>,
    shut_down: bool,
    pub backend: Backend,
    pub config: Config,
    pub cancel: CancellationToken,
    pub broker: Broker,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts ingest and workers in this process on port 0, with an app and two agents
/// (alice, bob: password "secret-pw") created through `kefu admin`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let test_db = TestDb::create(backend).await;
    let prefix = format!("kefu-test-{}", uuid::Uuid::new_v4().simple());
    let config = test_config(backend, &test_db.url, &prefix);
    spawn_with(backend, test_db, config, true).await
}

/// Like [`spawn_app`] with a tuned configuration, and optionally without workers (to
/// leave commands in the queue).
pub async fn spawn_custom(backend: Backend, tune: impl FnOnce(&mut Config), workers: bool) -> TestApp {
    let test_db = TestDb::create(backend).await;
    let prefix = format!("kefu-test-{}", uuid::Uuid::new_v4().simple());
    let mut config = test_config(backend, &test_db.url, &prefix);
    tune(&mut config);
    spawn_with(backend, test_db, config, workers).await
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub async fn spawn_with(backend: Backend, test_db: TestDb, config: Config, workers: bool) -> TestApp {
    init_tracing();
    let db = kefu_common::store::db::connect_with(&config.database_url, config.db_acquire_timeout())
        .await
        .expect("connect test database");
    Migrator::up(&db, None).await.expect("migrate");
    let app = admin(
        &test_db.url,
        &["app", "create", "--identify", "com.example.shop", "--name", "Shop"],
    );
    for serv_id in ["alice", "bob"] {
        create_agent(&test_db.url, serv_id, "com.example.shop", "secret-pw\n");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = config;
    if config.public_url.is_empty() {
        config.public_url = base.clone();
    }
    let config = Arc::new(config);
    let broker = Broker::connect(&config, db.clone()).await.expect("connect broker");
    let cancel = CancellationToken::new();
    let metrics = Arc::new(kefu_common::infra::metrics::Metrics::new());
    let worker = kefu_workers::Worker::new(db.clone(), broker.clone(), Arc::clone(&config), Arc::clone(&metrics));
    let mut tasks = Vec::new();
    if workers {
        tasks.push(tokio::spawn(kefu_workers::run(worker, cancel.clone())));
    }
    let state = kefu_ingest::AppState::new(db.clone(), broker.clone(), Arc::clone(&config))
        .expect("media store")
        .with_metrics(metrics);
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        kefu_ingest::serve(listener, state, c).await.unwrap();
    }));
    let app = TestApp {
        api: Client::new(base, &app),
        db,
        test_db: Some(test_db),
        shut_down: false,
        backend,
        config: (*config).clone(),
        cancel,
        broker,
        tasks,
    };
    app.api.wait_ready().await;
    app
}

pub fn sign(secret: &str, timestamp: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{method}\n{path}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Reads a JSON answer and checks it against the OpenAPI document.
pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let path = resp.url().path().to_owned();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    if let Some(method) = contract::method_of(&path) {
        contract::check(&method, &path, status.as_u16(), &body);
    }
    (status, body)
}

/// An HTTP client for a running Kefu (in this process or another), knowing the app's
/// identify and secret for signed calls.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub identify: String,
    pub secret: String,
}

impl Client {
    /// `app`: the JSON printed by `kefu admin app create`.
    pub fn new(base: String, app: &Value) -> Client {
        Client {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            identify: app["identify"].as_str().unwrap().to_owned(),
            secret: app["secret"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn wait_ready(&self) {
        for _ in 0..100 {
            if let Ok(r) = self.http.get(format!("{}/health", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ingest did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        read(self.http.post(self.url(path)).json(&body).send().await.unwrap()).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        read(self.http.post(self.url(path)).form(form).send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        read(self.http.get(self.url(path)).query(query).send().await.unwrap()).await
    }

    /// session/new, signed with the app's secret.
    pub async fn signed_session_new(&self, body: &Value, timestamp: i64, secret: &str) -> (StatusCode, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let ts = timestamp.to_string();
        let sig = sign(secret, &ts, "POST", "/v1/session/new", &raw);
        read(
            self.http
                .post(self.url("/v1/session/new"))
                .query(&[("timestamp", ts.as_str()), ("signature", sig.as_str())])
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn session(&self, user_id: &str) -> String {
        let body = json!({ "identify": self.identify, "user_id": user_id, "user_name": format!("User {user_id}"),
                           "user_image_url": format!("https://img.example.com/{user_id}.png"), "device_id": "dev-1" });
        let (status, body) = self.signed_session_new(&body, now_ms(), &self.secret.clone()).await;
        assert_eq!(status, 200, "session/new: {body}");
        let session = body["session"].as_str().unwrap().to_owned();
        assert_eq!(session.len(), 12);
        session
    }

    /// A device session bound to an agent.
    pub async fn agent_session(&self, serv_id: &str) -> String {
        let session = self.session(&format!("device-{serv_id}")).await;
        let (status, body) = self
            .post_form(
                "/v1/serv/bind",
                &[("session", &session), ("serv_id", serv_id), ("password", "secret-pw")],
            )
            .await;
        assert_eq!(status, 200, "bind: {body}");
        assert_eq!(body, json!({"status": 200}));
        session
    }

    /// A POST to the admin API with its bearer token.
    pub async fn admin_post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        read(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A POST with extra headers (`Prefer`, `Idempotency-Key`).
    pub async fn post_json_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.send().await.unwrap()).await
    }
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.api
    }
}

/// `SELECT COUNT(*)` of a table, with an optional condition.
pub async fn count_rows(db: &DatabaseConnection, table: &str, cond: Option<&str>) -> i64 {
    let sql = match cond {
        Some(cond) => format!("SELECT COUNT(*) AS n FROM {table} WHERE {cond}"),
        None => format!("SELECT COUNT(*) AS n FROM {table}"),
    };
    let row = db
        .query_one(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

impl TestApp {
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.db, table, None).await
    }

    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.broker.close().await;
        self.db.clone().close().await.ok();
        if self.backend.rabbit() {
            delete_topology(&self.config.amqp_prefix, &self.config.retry_schedule_ms).await;
        }
        if let Some(test_db) = self.test_db.take() {
            test_db.drop_db().await;
        }
        let _ = std::fs::remove_dir_all(&self.config.media_dir);
        self.shut_down = true;
    }
}

/// A failing test still removes its queues (its `TestDb` removes the database).
impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.shut_down {
            self.cancel.cancel();
            if self.backend.rabbit() {
                let (prefix, schedule) = (self.config.amqp_prefix.clone(), self.config.retry_schedule_ms.clone());
                cleanup_blocking(async move { delete_topology(&prefix, &schedule).await });
            }
        }
    }
}

/// A `kefu` role (`ingest`, `worker`, `serve`) running as its own process.
pub struct Proc {
    pub child: std::process::Child,
}

impl Proc {
    /// On RabbitMQ with queue prefix `prefix`.
    pub fn start(role: &str, db_url: &str, prefix: &str, http_addr: &str, extra: &[(&str, &str)]) -> Proc {
        let mut env = vec![("KEFU_AMQP_URL", AMQP_URL), ("KEFU_AMQP_PREFIX", prefix)];
        env.extend_from_slice(extra);
        Self::start_embedded(role, db_url, http_addr, &env)
    }

    /// On the embedded queue (no `KEFU_AMQP_URL`).
    pub fn start_embedded(role: &str, db_url: &str, http_addr: &str, extra: &[(&str, &str)]) -> Proc {
        let mut cmd = kefu_cmd(db_url);
        cmd.arg(role)
            .env("KEFU_HTTP_ADDR", http_addr)
            .env("KEFU_MEDIA_DIR", std::env::temp_dir().join("kefu-test-proc-media"))
            .env("KEFU_RETRY_SCHEDULE_MS", "[200,1000]")
            .env(
                "RUST_LOG",
                std::env::var("KEFU_TEST_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(std::process::Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Proc {
            child: cmd.spawn().expect("start kefu"),
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Ready messages in a queue, by passive declare.
pub async fn queue_ready(queue: &str) -> u32 {
    let conn = lapin::Connection::connect(AMQP_URL, Default::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    q.message_count()
}

/// A session row written directly, for tests that run without workers.
pub async fn seed_session(app: &TestApp) -> String {
    use sea_orm::ConnectionTrait;
    let token = "SeedSession1";
    let digest = kefu_common::domain::SessionToken::parse(token).unwrap().digest();
    let far = now_ms() + 3_600_000;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO sessions (session, app_id, user_id, device_id, created_at, expires_at) VALUES ('{digest}', 1, 'u1', NULL, 0, {far})"
        ))
        .await
        .unwrap();
    token.to_owned()
}

/// The integer code of an error name, read from docs/errors.md (the one table).
pub fn error_number(name: &str) -> i64 {
    let doc = include_str!("../../docs/errors.md")
        .split("## Leave messages")
        .next()
        .unwrap();
    doc.lines()
        .filter(|l| l.starts_with("| 1") || l.starts_with("| 2") || l.starts_with("| 3"))
        .find_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[2].trim_matches('`') == name).then(|| cells[1].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{name} is not in docs/errors.md"))
}

/// The body carries this error: its integer `error` and its `error_name`.
#[track_caller]
pub fn assert_code(body: &Value, name: &str) {
    assert_eq!(body["status"], 300, "{body}");
    assert!(body["error"].is_i64(), "error must be an integer: {body}");
    assert_eq!(body["error"], error_number(name), "{name}: {body}");
    assert_eq!(body["error_name"], name, "{body}");
}
