//! Layered configuration: defaults → `kefu.toml` (or the file in `KEFU_CONFIG`) →
//! `KEFU_*` environment → command-line flags → validation.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
pub use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The most publisher channels one process opens (`amqp_publish_channels`).
pub const MAX_PUBLISH_CHANNELS: u16 = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `KEFU_HTTP_ADDR`: where the ingest listens.
    pub http_addr: String,
    /// `KEFU_DATABASE_URL`: `sqlite://…`, `postgres://…` or `mysql://…`.
    pub database_url: String,
    /// `KEFU_AMQP_URL`: unset for the embedded queue, `amqp://…` for RabbitMQ; several
    /// nodes of a cluster comma-separated (the first that answers is used, the next on loss).
    pub amqp_url: Option<String>,
    /// `KEFU_AMQP_PREFIX`: prefix of every exchange and queue name.
    pub amqp_prefix: String,
    /// `KEFU_PREFETCH`: unacknowledged commands a worker holds (and handles) at once.
    pub prefetch: u16,
    /// `KEFU_AMQP_PUBLISH_CHANNELS`: confirm-mode channels each process publishes over
    /// (in turn); RabbitMQ confirms one channel's publishes one after another.
    pub amqp_publish_channels: u16,
    /// `KEFU_COMMAND_BATCH`: commands a worker applies in one transaction (a savepoint
    /// each, one commit); `prefetch / command_batch` batches run at once.
    pub command_batch: u16,
    /// `KEFU_DELIVERY_LIMIT`: deliveries of one command before it is dead-lettered.
    pub delivery_limit: u32,
    /// `KEFU_QUEUE_MAX_LENGTH`: commands queued before publishes are refused (429).
    pub queue_max_length: u32,
    /// `KEFU_RETRY_SCHEDULE_MS`: delays before re-trying a command that failed
    /// internally; after the last one it goes to the dead-letter queue.
    pub retry_schedule_ms: Vec<u64>,
    /// `KEFU_BROKER_TIMEOUT_MS`: bound on every broker operation (connect, publish, confirm).
    pub broker_timeout_ms: u64,
    /// `KEFU_REPLY_TIMEOUT_MS`: how long a request waits for its command's outcome.
    pub reply_timeout_ms: u64,
    /// `KEFU_SESSION_TTL_SECS`: lifetime of a user session.
    pub session_ttl_secs: u64,
    /// `KEFU_SIGNATURE_SKEW_SECS`: accepted distance of a signed request's timestamp.
    pub signature_skew_secs: u64,
    /// `KEFU_IDEMPOTENCY_TTL_SECS`: how long processed command ids (and so idempotency keys) are kept.
    pub idempotency_ttl_secs: u64,
    /// `KEFU_BODY_LIMIT_BYTES`: largest accepted request body.
    pub body_limit_bytes: usize,
    /// `KEFU_EMBEDDED_POLL_MS`: how often embedded-queue workers look for work from other processes.
    pub embedded_poll_ms: u64,
    /// `KEFU_EMBEDDED_VISIBILITY_SECS`: after this, a claimed embedded job whose worker died is redelivered.
    pub embedded_visibility_secs: u64,
    /// `KEFU_WORKER_PAUSE_BEFORE_ACK_MS`: fault injection for crash tests — the worker waits
    /// this long after committing and before acknowledging. Only a build with the
    /// workers' `fault-injection` feature (the test build) honours it.
    pub worker_pause_before_ack_ms: u64,
    /// `KEFU_WORKER_PAUSE_BEFORE_COMMIT_MS`: fault injection for crash tests only — the
    /// worker waits this long before committing a command or a deadline sweep's batch.
    /// Likewise honoured only with the `fault-injection` feature.
    pub worker_pause_before_commit_ms: u64,
    /// `KEFU_LOG_FORMAT`: `text` or `json`.
    pub log_format: String,
    /// `KEFU_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a database connection
    /// before it is answered 503 (the database is unreachable or every connection busy).
    pub db_acquire_timeout_ms: u64,
    /// `KEFU_SESSION_RATE_PER_SEC`: requests one session may make per second, sustained
    /// (0: no limit); beyond it 10038 with `Retry-After`.
    pub session_rate_per_sec: u32,
    /// `KEFU_SESSION_RATE_BURST`: requests one session may make at once.
    pub session_rate_burst: u32,
    /// `KEFU_APP_RATE_PER_SEC`: requests one app's sessions and signed calls may make
    /// per second together, sustained, per ingest (0: no limit); beyond it 10038.
    pub app_rate_per_sec: u32,
    /// `KEFU_APP_RATE_BURST`: requests one app may make at once.
    pub app_rate_burst: u32,
    /// `KEFU_LOGIN_MAX_FAILURES`: failed serv/bind or serv/unbind passwords of one agent
    /// from one client address before that agent is locked for that address for
    /// `KEFU_LOGIN_LOCK_SECS` (0: never locked); other addresses are not locked.
    pub login_max_failures: u32,
    /// `KEFU_LOGIN_AGENT_SLOW_FAILURES`: failed logins of one agent over every address
    /// after which each further attempt is slowed (`KEFU_LOGIN_SLOW_MS` more per failure
    /// beyond it, at most 5 s); never a lock.
    pub login_agent_slow_failures: u32,
    /// `KEFU_LOGIN_SOURCE_MAX_FAILURES`: failed agent logins from one client address
    /// (any agent) before the address is locked likewise (0: never locked).
    pub login_source_max_failures: u32,
    /// `KEFU_LOGIN_LOCK_SECS`: how long a lock lasts; failures are also forgotten after
    /// this long without any (a success resets the agent's count).
    pub login_lock_secs: u64,
    /// `KEFU_LOGIN_SLOW_MS`: each failure after the first answers this much later than
    /// the one before (at most 5 s).
    pub login_slow_ms: u64,
    /// `KEFU_ADMIN_TOKEN_MAX_FAILURES`: wrong admin tokens from one client address
    /// within `KEFU_ADMIN_TOKEN_LOCK_SECS` after which it is refused (429) for that long
    /// (0: never).
    pub admin_token_max_failures: u32,
    /// `KEFU_ADMIN_TOKEN_LOCK_SECS`: the window and the lock of wrong admin tokens.
    pub admin_token_lock_secs: u64,
    /// `KEFU_TRUSTED_PROXIES`: addresses or CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` names the client (e.g. `["10.0.0.0/8"]`); empty: the TCP peer
    /// is the client.
    pub trusted_proxies: Vec<String>,
    /// `KEFU_HEADER_READ_TIMEOUT_MS`: a request's headers must arrive within this, from
    /// the connection's start or from the end of the previous answer (so it is also the
    /// keep-alive idle timeout).
    pub header_read_timeout_ms: u64,
    /// `KEFU_BODY_READ_TIMEOUT_MS`: the time a request body may take, beyond what
    /// `KEFU_BODY_MIN_BYTES_PER_SEC` allows for its length; slower bodies get 408.
    pub body_read_timeout_ms: u64,
    /// `KEFU_BODY_MIN_BYTES_PER_SEC`: the slowest upload rate allowed for long bodies.
    pub body_min_bytes_per_sec: u64,
    /// `KEFU_MAX_CONNECTIONS`: open connections one ingest serves; more are answered 503
    /// and closed.
    pub max_connections: usize,
    /// `KEFU_SSE_MAX_PER_SESSION`: live streams one session may hold open per ingest.
    pub sse_max_per_session: usize,
    /// `KEFU_SSE_MAX_PER_USER`: live streams one user (all its sessions) may hold open
    /// per ingest.
    pub sse_max_per_user: usize,
    /// `KEFU_SSE_RECHECK_SECS`: how often a live stream re-checks that its session may
    /// still see it (access changes also end streams at once, as events).
    pub sse_recheck_secs: u64,
    /// `KEFU_CONSOLE_DEMO`: serve `/console/demo`, a page that plays a customer of any
    /// app (it opens user sessions without the app's signature: for trying Kefu only).
    /// `1`/`0` are taken as well as `true`/`false`.
    #[serde(deserialize_with = "crate::infra::flags::flag")]
    pub console_demo: bool,
    /// `KEFU_ROUTING_SWEEP_MS`: how often each worker gives out, in apps with automatic
    /// routing, the questions the commands left waiting (expired offers, agents that
    /// got room without a command).
    pub routing_sweep_ms: u64,
    /// `KEFU_PASSWORD_HASH_CONCURRENCY`: argon2 checks run at once (each takes ~19 MiB);
    /// 0: the number of CPUs.
    pub password_hash_concurrency: usize,
    /// `KEFU_IM_CONNECT_TIMEOUT_MS`: connecting to the IM's REST domain.
    pub im_connect_timeout_ms: u64,
    /// `KEFU_IM_REQUEST_TIMEOUT_MS`: one send_msg call, answer included.
    pub im_request_timeout_ms: u64,
    /// `KEFU_IM_RATE_PER_SEC`: send_msg calls per second per app, per worker (the IM's
    /// frequency limit is per app; 0: no bound).
    pub im_rate_per_sec: u32,
    /// `KEFU_IM_SWEEP_SECS`: how often pending deliveries nobody is working on are picked up
    /// again (after a crash between commit and enqueue).
    pub im_sweep_secs: u64,
    /// `KEFU_WEBHOOK_TIMEOUT_MS`: one webhook or push POST, answer included (connecting
    /// takes at most a third of it).
    pub webhook_timeout_ms: u64,
    /// `KEFU_USER_REPLY_TIMEOUT_SECS`: a served question whose user has not answered the
    /// agent's latest counting message for this long times out (0: off); per app with
    /// `kefu admin app set-timeouts`.
    pub user_reply_timeout_secs: u64,
    /// `KEFU_WAIT_TIMEOUT_SECS`: a question waiting this long times out (0: off).
    pub wait_timeout_secs: u64,
    /// `KEFU_END_CONFIRM_TIMEOUT_SECS`: after an agent's end request, the question
    /// finishes unless the user replies or reopens within this (0: off).
    pub end_confirm_timeout_secs: u64,
    /// `KEFU_TIMEOUT_SWEEP_MS`: how often a worker looks for due deadlines.
    pub timeout_sweep_ms: u64,
    /// `KEFU_TIMEOUT_BATCH`: deadlines fired per transaction (one savepoint each).
    pub timeout_batch: u64,
    /// `KEFU_TIMEOUT_PARALLEL`: batches a worker's sweep fires at once, each on its own
    /// database connection (PostgreSQL, MariaDB/MySQL; SQLite: 1).
    pub timeout_parallel: usize,
    /// `KEFU_SSE_BUFFER`: events an ingest keeps for its SSE clients; a client that falls
    /// this far behind is told to resume (`event: resume`) and disconnected.
    pub sse_buffer: usize,
    /// `KEFU_SSE_HEARTBEAT_SECS`: a comment line this often keeps proxies from closing
    /// idle streams.
    pub sse_heartbeat_secs: u64,
    /// `KEFU_SSE_REPLAY_MAX`: at most this many events replayed after `Last-Event-ID`
    /// (older ones: the client is told to reload). Events are kept for replay as long
    /// as `KEFU_EVENTS_RETENTION_SECS`.
    pub sse_replay_max: u64,
    /// `KEFU_SSE_POLL_MS`: with the embedded broker, how often the outbox is read for
    /// new events.
    pub sse_poll_ms: u64,
    /// `KEFU_RELAY`: whether this worker runs the outbox relay (any number may).
    pub relay: bool,
    /// `KEFU_RELAY_BATCH`: events published per confirm round.
    pub relay_batch: u64,
    /// `KEFU_RELAY_POLL_MS`: how often an idle relay looks for new events.
    pub relay_poll_ms: u64,
    /// `KEFU_EVENTS_RETENTION_SECS`: how long events stay in the outbox table after
    /// they were published (with the embedded broker: after they were written).
    pub events_retention_secs: u64,
    /// `KEFU_TASK_PREFETCH`: tasks of one task queue a worker holds at once.
    pub task_prefetch: u16,
    /// `KEFU_TASK_RETRY_INITIAL_MS`: a task queue's first retry delay.
    pub task_retry_initial_ms: u64,
    /// `KEFU_TASK_RETRY_FACTOR`: how each retry delay grows.
    pub task_retry_factor: f64,
    /// `KEFU_TASK_RETRY_MAX_MS`: the longest retry delay.
    pub task_retry_max_ms: u64,
    /// `KEFU_TASK_RETRY_COUNT`: retries before a task is dead-lettered.
    pub task_retry_count: u32,
    /// `KEFU_TASK_RETRY_JITTER`: each delay is shortened by a random share up to this.
    pub task_retry_jitter: f64,
    /// `KEFU_METRICS_ADDR`: where a worker-only process (`kefu worker`) serves Prometheus
    /// `/metrics`; the ingest serves them on its own address. Empty: not served.
    pub metrics_addr: String,
    /// `KEFU_ADMIN_TOKEN`: the bearer token of the admin API under `/admin/v1`; unset:
    /// the admin API is off. Never printed, and never serialized back out.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    /// `KEFU_ERROR_HTTP_STATUS`: `fitting` (4xx/5xx, the default) or `always-200` (every
    /// API answer is HTTP 200 with the outcome in the body, as the original server did).
    pub error_http_status: String,
    /// `KEFU_PUBLIC_URL`: how clients reach this service (links to served files);
    /// empty: `http://` + `KEFU_HTTP_ADDR`.
    pub public_url: String,
    /// `KEFU_MEDIA_DIR`: where images and audio are kept (the default media store).
    pub media_dir: String,
    /// `KEFU_MEDIA_STORE_URL`: empty for `KEFU_MEDIA_DIR`, or `s3://bucket[/prefix]`
    /// (needs a build with the `s3` feature).
    pub media_store_url: String,
    /// `KEFU_MEDIA_BASE_URL`: the prefix of `image_url` / `audio_url`; empty:
    /// `<public url>/media` (served by the ingest). Point it at a CDN in front of it.
    pub media_base_url: String,
    /// `KEFU_MEDIA_MAX_BYTES`: largest image or audio file, decoded.
    pub media_max_bytes: usize,
    /// `KEFU_MEDIA_GC_GRACE_SECS`: a stored file no message refers to is deleted after this.
    pub media_gc_grace_secs: u64,
    /// `KEFU_DEFAULT_AVATAR_URL`: the avatar listed for users without one, unless their
    /// app sets its own; empty: the built-in `<public url>/static/default-avatar.png`.
    pub default_avatar_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8080".into(),
            database_url: "sqlite://kefu.db?mode=rwc".into(),
            amqp_url: None,
            amqp_prefix: "kefu".into(),
            prefetch: 64,
            command_batch: 16,
            amqp_publish_channels: 4,
            delivery_limit: 5,
            queue_max_length: 100_000,
            retry_schedule_ms: vec![1_000, 5_000, 30_000],
            broker_timeout_ms: 5_000,
            reply_timeout_ms: 10_000,
            session_ttl_secs: 30 * 24 * 3600,
            signature_skew_secs: 300,
            idempotency_ttl_secs: 24 * 3600,
            body_limit_bytes: 64 * 1024,
            embedded_poll_ms: 200,
            embedded_visibility_secs: 30,
            worker_pause_before_ack_ms: 0,
            worker_pause_before_commit_ms: 0,
            log_format: "text".into(),
            db_acquire_timeout_ms: 5_000,
            admin_token: None,
            app_rate_per_sec: 20_000,
            app_rate_burst: 20_000,
            login_max_failures: 5,
            login_agent_slow_failures: 50,
            admin_token_max_failures: 10,
            admin_token_lock_secs: 60,
            trusted_proxies: Vec::new(),
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            body_min_bytes_per_sec: 16 * 1024,
            max_connections: 10_000,
            sse_max_per_session: 5,
            sse_max_per_user: 10,
            sse_recheck_secs: 30,
            console_demo: false,
            routing_sweep_ms: 1_000,
            login_source_max_failures: 20,
            login_lock_secs: 900,
            login_slow_ms: 500,
            password_hash_concurrency: 0,
            metrics_addr: String::new(),
            task_prefetch: 32,
            task_retry_initial_ms: 1_000,
            task_retry_factor: 2.0,
            task_retry_max_ms: 3_600_000,
            task_retry_count: 36,
            task_retry_jitter: 0.2,
            im_connect_timeout_ms: 3_000,
            im_request_timeout_ms: 10_000,
            im_rate_per_sec: 100,
            im_sweep_secs: 10,
            webhook_timeout_ms: 10_000,
            user_reply_timeout_secs: 600,
            wait_timeout_secs: 0,
            end_confirm_timeout_secs: 120,
            timeout_sweep_ms: 1_000,
            timeout_batch: 200,
            timeout_parallel: 4,
            sse_buffer: 1024,
            sse_heartbeat_secs: 15,
            sse_replay_max: 10_000,
            sse_poll_ms: 200,
            relay: true,
            relay_batch: 500,
            relay_poll_ms: 50,
            events_retention_secs: 24 * 3600,
            session_rate_per_sec: 20,
            session_rate_burst: 60,
            error_http_status: "fitting".into(),
            public_url: String::new(),
            media_dir: "media".into(),
            media_store_url: String::new(),
            media_base_url: String::new(),
            media_max_bytes: 5 * 1024 * 1024,
            media_gc_grace_secs: 24 * 3600,
            default_avatar_url: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// Named as the environment variable (the file key is the same in lower case).
    #[error("configuration: KEFU_{}: {reason}", field.to_uppercase())]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    /// Loads defaults, the config file, then `KEFU_*` variables; `overrides` (flags) win.
    pub fn load(overrides: impl Serialize) -> Result<Self, ConfigError> {
        let file = std::env::var("KEFU_CONFIG").unwrap_or_else(|_| "kefu.toml".into());
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if Path::new(&file).exists() {
            figment = figment.merge(Toml::file(&file));
        }
        let config: Config = figment
            .merge(Env::prefixed("KEFU_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if self.http_addr.parse::<SocketAddr>().is_err() {
            return invalid("http_addr", "must be host:port, e.g. 127.0.0.1:8080");
        }
        if !["sqlite:", "postgres:", "postgresql:", "mysql:", "mariadb:"]
            .iter()
            .any(|s| self.database_url.starts_with(s))
        {
            return invalid("database_url", "must start with sqlite:, postgres: or mysql:");
        }
        if let Some(urls) = &self.amqp_url {
            let urls: Vec<&str> = urls.split(',').map(str::trim).collect();
            if urls
                .iter()
                .any(|u| !u.starts_with("amqp://") && !u.starts_with("amqps://"))
            {
                return invalid("amqp_url", "each address must start with amqp:// or amqps://");
            }
        }
        if self.amqp_prefix.is_empty() || self.amqp_prefix.len() > 64 {
            return invalid("amqp_prefix", "must be 1 to 64 characters");
        }
        if self.prefetch == 0 {
            return invalid("prefetch", "must be at least 1");
        }
        if !(1..=MAX_PUBLISH_CHANNELS).contains(&self.amqp_publish_channels) {
            return invalid("amqp_publish_channels", "must be 1 to 64");
        }
        if self.command_batch == 0 {
            return invalid("command_batch", "must be at least 1");
        }
        if self.delivery_limit == 0 {
            return invalid("delivery_limit", "must be at least 1");
        }
        if self.broker_timeout_ms == 0 {
            return invalid("broker_timeout_ms", "must be above 0");
        }
        if self.db_acquire_timeout_ms == 0 {
            return invalid("db_acquire_timeout_ms", "must be above 0");
        }
        if self.reply_timeout_ms == 0 {
            return invalid("reply_timeout_ms", "must be above 0");
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return invalid("log_format", "must be text or json");
        }
        if !["fitting", "always-200"].contains(&self.error_http_status.as_str()) {
            return invalid("error_http_status", "must be fitting or always-200");
        }
        if self.session_rate_per_sec > 0 && self.session_rate_burst == 0 {
            return invalid(
                "session_rate_burst",
                "must be at least 1 when KEFU_SESSION_RATE_PER_SEC is set",
            );
        }
        if self.app_rate_per_sec > 0 && self.app_rate_burst == 0 {
            return invalid("app_rate_burst", "must be at least 1 when KEFU_APP_RATE_PER_SEC is set");
        }
        if self.task_prefetch == 0 {
            return invalid("task_prefetch", "must be at least 1");
        }
        if self.sse_buffer == 0 || self.sse_heartbeat_secs == 0 || self.sse_poll_ms == 0 {
            return invalid(
                "sse_buffer",
                "sse_buffer, sse_heartbeat_secs and sse_poll_ms must be above 0",
            );
        }
        if self.timeout_sweep_ms == 0 || self.timeout_batch == 0 {
            return invalid("timeout_sweep_ms", "timeout_sweep_ms and timeout_batch must be above 0");
        }
        if !(self.task_retry_factor >= 1.0) {
            return invalid("task_retry_factor", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.task_retry_jitter) {
            return invalid("task_retry_jitter", "must be between 0 and 1");
        }
        if self.relay_batch == 0 {
            return invalid("relay_batch", "must be at least 1");
        }
        for proxy in &self.trusted_proxies {
            if proxy.parse::<ipnet::IpNet>().is_err() && proxy.parse::<std::net::IpAddr>().is_err() {
                return invalid("trusted_proxies", "each entry must be an IP address or a CIDR range");
            }
        }
        if self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return invalid("header_read_timeout_ms", "timeouts must be above 0");
        }
        if self.max_connections == 0 || self.sse_max_per_session == 0 || self.sse_max_per_user == 0 {
            return invalid("max_connections", "connection and stream caps must be above 0");
        }
        if self.admin_token_lock_secs == 0 || self.sse_recheck_secs == 0 {
            return invalid("admin_token_lock_secs", "must be above 0");
        }
        if self.login_lock_secs == 0 {
            return invalid("login_lock_secs", "must be above 0");
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).len() < 16)
        {
            return invalid("admin_token", "must be at least 16 characters");
        }
        if self.media_max_bytes == 0 {
            return invalid("media_max_bytes", "must be above 0");
        }
        for (field, url) in [
            ("public_url", &self.public_url),
            ("default_avatar_url", &self.default_avatar_url),
            ("media_base_url", &self.media_base_url),
        ] {
            if !url.is_empty() && !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(field, "must be an http:// or https:// URL");
            }
        }
        Ok(())
    }

    /// Every API answer HTTP 200 (`KEFU_ERROR_HTTP_STATUS=always-200`).
    pub fn always_200(&self) -> bool {
        self.error_http_status == "always-200"
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.http_addr)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The prefix of media URLs, without a trailing slash.
    pub fn media_base(&self) -> String {
        if self.media_base_url.is_empty() {
            format!("{}/media", self.public_base())
        } else {
            self.media_base_url.trim_end_matches('/').to_owned()
        }
    }

    /// The body limit of the media routes: the largest file in base64 plus the other fields.
    pub fn media_body_limit(&self) -> usize {
        self.media_max_bytes.div_ceil(3) * 4 + 64 * 1024
    }

    /// The avatar of users without one, in apps without their own default.
    /// The parsed `KEFU_TRUSTED_PROXIES` (validated at load).
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| {
                p.parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| p.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
            })
            .collect()
    }

    pub fn default_avatar(&self) -> String {
        if self.default_avatar_url.is_empty() {
            format!("{}/static/default-avatar.png", self.public_base())
        } else {
            self.default_avatar_url.clone()
        }
    }

    /// A task queue with the configured prefetch and retry policy (defaults: 1 s doubling
    /// to 1 h, 36 retries: about 25 hours before a task is given up).
    pub fn task_queue(&self, name: &str) -> crate::infra::broker::TaskQueue {
        crate::infra::broker::TaskQueue {
            name: name.to_owned(),
            prefetch: self.task_prefetch,
            retry: crate::infra::retry::RetryPolicy::exponential(
                Duration::from_millis(self.task_retry_initial_ms),
                self.task_retry_factor,
                Duration::from_millis(self.task_retry_max_ms),
                self.task_retry_count,
                self.task_retry_jitter,
            ),
        }
    }

    /// Argon2 checks run at once.
    pub fn password_hash_permits(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }

    pub fn broker_timeout(&self) -> Duration {
        Duration::from_millis(self.broker_timeout_ms)
    }

    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.reply_timeout_ms)
    }

    pub fn retry_schedule(&self) -> Vec<Duration> {
        self.retry_schedule_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Config;
    use figment::providers::{Format, Toml};
    use figment::Figment;
    use serde_json::Value;

    const SAMPLE: &str = include_str!("../../../kefu.example.toml");

    /// kefu.example.toml names every option: the set ones with exactly their defaults,
    /// the ones unset by default as a commented example (`# name = …`).
    #[test]
    fn sample_config_has_every_option_with_its_default() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let sample: Value = Figment::from(Toml::string(SAMPLE)).extract().unwrap();
        let (defaults, sample) = (defaults.as_object().unwrap(), sample.as_object().unwrap());
        for (name, default) in defaults {
            if default.is_null() {
                assert!(
                    SAMPLE.lines().any(|l| l.starts_with(&format!("# {name} = "))),
                    "kefu.example.toml lacks a commented example of {name}"
                );
            } else {
                assert_eq!(sample.get(name), Some(default), "kefu.example.toml: {name}");
            }
        }
        for name in sample.keys() {
            assert!(
                defaults.contains_key(name),
                "kefu.example.toml names an unknown option {name}"
            );
        }
        // And the file, used as kefu.toml, is a valid configuration.
        let loaded: Config = Figment::from(Toml::string(SAMPLE)).extract().unwrap();
        loaded.validate().unwrap();
    }
}
