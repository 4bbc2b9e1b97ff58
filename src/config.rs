//! Settings, each with a doc comment, a flag, an environment name and a safe default, so
//! `tenantgate serve` runs with no configuration and `--help` documents everything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// What the AI agent is told when neither its channel nor its organization says more.
pub const DEFAULT_AGENT_INSTRUCTIONS: &str = "You are a helpful assistant for this organization: \
answer politely and briefly, never invent facts, and offer to connect the person with a human \
when you cannot help.";

/// Where the data lives.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` (the default, a file in the working directory)
    /// or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://tenantgate.db?mode=rwc"
    )]
    pub database_url: String,

    /// Largest number of pooled database connections.
    #[arg(long, env = "TENANTGATE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Seconds a request waits for a pooled connection (all busy, or the database not
    /// answering) before it fails with `UNAVAILABLE`. Keep it below the request timeout.
    #[arg(long, env = "TENANTGATE_DB_ACQUIRE_TIMEOUT", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
}

impl DatabaseConfig {
    /// `database_url` with the default pool settings.
    pub fn new(database_url: impl Into<String>) -> Self {
        DatabaseConfig {
            database_url: database_url.into(),
            db_max_connections: 16,
            db_acquire_timeout_secs: 5,
        }
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs.max(1))
    }
}

/// Everything `serve` needs.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "TENANTGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Base64 of 32 random bytes that encrypts stored secrets (signing keys). Required
    /// with PostgreSQL; on SQLite a key file is created beside the database when unset.
    #[arg(long, env = "TENANTGATE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,

    /// Key file used when no master key is given (default: `<database file>.key`).
    #[arg(long, env = "TENANTGATE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// `iss` of issued access tokens, checked on every request.
    #[arg(long, env = "TENANTGATE_ISSUER", default_value = "tenantgate")]
    pub issuer: String,

    /// `aud` of issued access tokens, checked on every request.
    #[arg(long, env = "TENANTGATE_AUDIENCE", default_value = "tenantgate-api")]
    pub audience: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "TENANTGATE_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a session's refresh token, in seconds (default one day).
    #[arg(long, env = "TENANTGATE_REFRESH_TTL", default_value_t = 86_400)]
    pub refresh_ttl_secs: u64,

    /// Lifetime of a "remember me" session, in seconds (default 30 days).
    #[arg(long, env = "TENANTGATE_REMEMBER_ME_TTL", default_value_t = 2_592_000)]
    pub remember_me_ttl_secs: u64,

    /// Largest accepted request body, in bytes (larger ones answer 413).
    #[arg(long, env = "TENANTGATE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// Requests running longer than this many seconds are cut off.
    #[arg(long, env = "TENANTGATE_REQUEST_TIMEOUT", default_value_t = 10)]
    pub request_timeout_secs: u64,

    /// Seconds a client has to send a request's line and headers: counted from the
    /// connection's opening for the first request and from the previous answer for the
    /// next ones (so it is also how long an idle keep-alive connection stays open). A
    /// client that is slower is disconnected.
    #[arg(long, env = "TENANTGATE_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Client connections served at once. Past it, new connections wait in the
    /// operating system's accept queue until one closes; none is refused by the gateway.
    #[arg(long, env = "TENANTGATE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    #[command(flatten)]
    pub limits: QueryLimits,

    #[command(flatten)]
    pub api_keys: ApiKeyConfig,

    /// Password hashes computed at once; more log-ins wait (each takes 19 MiB and a core
    /// for tens of milliseconds). Default: half the CPU cores, at least 1, so that a
    /// flood of sign-ups or log-ins leaves the other half to everyone's requests.
    #[arg(long, env = "TENANTGATE_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Where the admin app lives; invitation, password reset and email verification links
    /// point into it (`<app-url>/accept-invitation?token=…`,
    /// `<app-url>/reset-password?token=…`, `<app-url>/verify-email?token=…`).
    #[arg(
        long,
        env = "TENANTGATE_APP_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub app_url: String,

    /// SMTP server for outgoing mail (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://…`). Unset: mail is written to the log (development).
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "TENANTGATE_MAIL_FROM",
        default_value = "tenantgate <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// First delay before retrying a failed delivery, in seconds (doubles each time, at
    /// most an hour).
    #[arg(long, env = "TENANTGATE_MAIL_RETRY_SECS", default_value_t = 10)]
    pub mail_retry_secs: u64,

    /// Seats of a new organization (members plus open invitations).
    #[arg(long, env = "TENANTGATE_DEFAULT_SEAT_LIMIT", default_value_t = 10)]
    pub default_seat_limit: i32,

    /// The AI agent's instructions on channels where neither the channel nor the
    /// organization gives any.
    #[arg(
        long,
        env = "TENANTGATE_DEFAULT_AGENT_INSTRUCTIONS",
        default_value = DEFAULT_AGENT_INSTRUCTIONS
    )]
    pub default_agent_instructions: String,

    /// Log-in attempts allowed per account per minute.
    #[arg(
        long,
        env = "TENANTGATE_LOGIN_ATTEMPTS_PER_ACCOUNT",
        default_value_t = 10
    )]
    pub login_attempts_per_account: u32,

    /// Log-in and reset attempts allowed per client address per minute.
    #[arg(
        long,
        env = "TENANTGATE_LOGIN_ATTEMPTS_PER_ADDRESS",
        default_value_t = 30
    )]
    pub login_attempts_per_address: u32,

    /// Sign-ups allowed per client address per minute (a bucket of their own, apart from
    /// log-ins). Without email verification `signUp` tells whether an email has an
    /// account, and this limit is what slows that probing down.
    #[arg(long, env = "TENANTGATE_SIGNUPS_PER_ADDRESS", default_value_t = 10)]
    pub signups_per_address: u32,

    /// Verify emails at sign-up: `signUp` mails a link and answers the same whether or
    /// not the email has an account (no account enumeration); the account and its
    /// organization exist once `verifyEmail` presents the link's token. Needs working
    /// mail (`SMTP_URL`), so it is off by default.
    #[arg(
        long,
        env = "TENANTGATE_REQUIRE_EMAIL_VERIFICATION",
        default_value_t = false
    )]
    pub require_email_verification: bool,

    /// Reverse proxies in front of the gateway that append the client's address to
    /// `X-Forwarded-For` (0: the header is ignored). Throttling and sessions use the
    /// address the outermost trusted proxy saw.
    #[arg(long, env = "TENANTGATE_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    pub trusted_proxy_hops: usize,

    /// The operators' secret: `Authorization: Bearer <CRON_SECRET>` runs system jobs.
    /// Unset: there is no system principal.
    #[arg(long, env = "CRON_SECRET", hide_env_values = true)]
    pub cron_secret: Option<Secret>,

    /// Run the maintenance jobs (`PURGE_EXPIRED`, then `ENFORCE_RETENTION`) in the
    /// process every this many seconds (0: only when the scheduler calls `runSystemJob`
    /// or `tenantgate job run`). With several replicas, enable it on one.
    #[arg(long, env = "TENANTGATE_PURGE_INTERVAL_SECS", default_value_t = 0)]
    pub purge_interval_secs: u64,

    /// Origins allowed to call the API from a browser (comma-separated); none by default.
    #[arg(long, env = "TENANTGATE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Development mode: field suggestions in error messages.
    #[arg(long, env = "TENANTGATE_DEV", default_value_t = false)]
    pub dev: bool,

    /// Log format: `pretty` or `json`.
    #[arg(long, env = "TENANTGATE_LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,
}

/// Limits on what one GraphQL operation may ask for.
#[derive(Clone, Debug, clap::Args)]
pub struct QueryLimits {
    /// Deepest selection nesting of ordinary fields.
    #[arg(long, env = "TENANTGATE_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,
    /// Deepest nesting inside `__schema`/`__type` (the standard introspection query needs ~14).
    #[arg(long, env = "TENANTGATE_MAX_INTROSPECTION_DEPTH", default_value_t = 20)]
    pub max_introspection_depth: usize,
    /// Largest query complexity (each field counts 1; lists count `first` times their items;
    /// `__schema`/`__type` count the schema elements they can list). The operations of a
    /// batch share it.
    #[arg(long, env = "TENANTGATE_MAX_COMPLEXITY", default_value_t = 5000)]
    pub max_complexity: usize,
    /// Most aliases in one operation (or in all the operations of a batch together).
    #[arg(long, env = "TENANTGATE_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most directives in one operation (or in all the operations of a batch together).
    #[arg(long, env = "TENANTGATE_MAX_DIRECTIVES", default_value_t = 50)]
    pub max_directives: usize,
    /// Largest answer in bytes of serialized JSON (a batch's answers together); an
    /// operation whose answer would pass it answers `RESPONSE_TOO_LARGE` instead (and a
    /// mutation is rolled back).
    #[arg(long, env = "TENANTGATE_MAX_RESPONSE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Most errors in one operation's answer; the rest are replaced by one error saying
    /// how many were left out.
    #[arg(long, env = "TENANTGATE_MAX_ERRORS", default_value_t = 100)]
    pub max_errors: usize,
    /// Let callers that are not signed in run introspection queries (`__schema`,
    /// `__type`). Off: they read the published schema (`schema.graphql`, or `tenantgate
    /// schema`) instead.
    #[arg(
        long,
        env = "TENANTGATE_ANONYMOUS_INTROSPECTION",
        default_value_t = false
    )]
    pub anonymous_introspection: bool,
    /// Most operations in one batched request.
    #[arg(long, env = "TENANTGATE_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Deepest bracket nesting the parser accepts.
    #[arg(long, env = "TENANTGATE_MAX_PARSER_DEPTH", default_value_t = 32)]
    pub max_parser_depth: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_depth: 12,
            max_introspection_depth: 20,
            max_complexity: 5000,
            max_aliases: 50,
            max_directives: 50,
            max_response_bytes: 4 * 1024 * 1024,
            max_errors: 100,
            anonymous_introspection: false,
            max_batch: 10,
            max_parser_depth: 32,
        }
    }
}

/// API keys: rate limits, verification cache, usage write-behind, rotation.
#[derive(Clone, Debug, clap::Args)]
pub struct ApiKeyConfig {
    /// Requests per second one API key may make (token bucket refill rate).
    #[arg(long, env = "TENANTGATE_API_KEY_RATE", default_value_t = 50)]
    pub api_key_rate: u32,
    /// Requests one API key may make at once before its rate applies.
    #[arg(long, env = "TENANTGATE_API_KEY_BURST", default_value_t = 100)]
    pub api_key_burst: u32,
    /// Requests per second all API keys of one organization may make together.
    #[arg(long, env = "TENANTGATE_ORGANIZATION_RATE", default_value_t = 200)]
    pub organization_rate: u32,
    /// Requests all API keys of one organization may make at once.
    #[arg(long, env = "TENANTGATE_ORGANIZATION_BURST", default_value_t = 400)]
    pub organization_burst: u32,
    /// Seconds a verified key is trusted without a database look-up. Revocation reaches
    /// other nodes at once on PostgreSQL (LISTEN/NOTIFY), and within this time on
    /// SQLite. Default: 60 on PostgreSQL, 5 on SQLite.
    #[arg(long, env = "TENANTGATE_API_KEY_CACHE_TTL_SECS")]
    pub api_key_cache_ttl_secs: Option<u64>,
    /// Most keys kept in the verification cache.
    #[arg(
        long,
        env = "TENANTGATE_API_KEY_CACHE_CAPACITY",
        default_value_t = 10_000
    )]
    pub api_key_cache_capacity: u64,
    /// Well-formed API keys that match nothing one client address may present per
    /// minute; past that its unknown keys get `RATE_LIMITED` (for up to a minute)
    /// instead of look-ups, while keys already verified keep working.
    #[arg(
        long,
        env = "TENANTGATE_API_KEY_REFUSALS_PER_ADDRESS",
        default_value_t = 30
    )]
    pub api_key_refusals_per_address: u32,
    /// Seconds between writes of the keys' `lastUsedAt` (collected in memory meanwhile).
    #[arg(
        long,
        env = "TENANTGATE_API_KEY_USAGE_FLUSH_SECS",
        default_value_t = 10
    )]
    pub api_key_usage_flush_secs: u64,
    /// Seconds the previous secret keeps working after `rotateApiKey` when the call
    /// names no grace period (0: it stops at once).
    #[arg(
        long,
        env = "TENANTGATE_API_KEY_ROTATION_GRACE_SECS",
        default_value_t = 0
    )]
    pub api_key_rotation_grace_secs: u64,
    /// Let API keys run introspection queries (`__schema`, `__type`).
    #[arg(
        long,
        env = "TENANTGATE_API_KEY_INTROSPECTION",
        default_value_t = false
    )]
    pub api_key_introspection: bool,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        ApiKeyConfig {
            api_key_rate: 50,
            api_key_burst: 100,
            organization_rate: 200,
            organization_burst: 400,
            api_key_cache_ttl_secs: None,
            api_key_cache_capacity: 10_000,
            api_key_refusals_per_address: 30,
            api_key_usage_flush_secs: 10,
            api_key_rotation_grace_secs: 0,
            api_key_introspection: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl ServeConfig {
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    /// The default configuration, as `serve` with no flags and no environment would use.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DatabaseConfig::new(database_url),
            master_key: None,
            master_key_file: None,
            issuer: "tenantgate".into(),
            audience: "tenantgate-api".into(),
            access_token_ttl_secs: 900,
            refresh_ttl_secs: 86_400,
            remember_me_ttl_secs: 2_592_000,
            body_limit: 1024 * 1024,
            request_timeout_secs: 10,
            header_read_timeout_secs: 10,
            max_connections: 1024,
            limits: QueryLimits::default(),
            api_keys: ApiKeyConfig::default(),
            hash_concurrency: None,
            app_url: "http://127.0.0.1:8080".into(),
            smtp_url: None,
            mail_from: "tenantgate <no-reply@localhost>".into(),
            mail_retry_secs: 10,
            default_seat_limit: 10,
            default_agent_instructions: DEFAULT_AGENT_INSTRUCTIONS.into(),
            login_attempts_per_account: 10,
            login_attempts_per_address: 30,
            signups_per_address: 10,
            require_email_verification: false,
            trusted_proxy_hops: 0,
            cron_secret: None,
            purge_interval_secs: 0,
            cors_origins: Vec::new(),
            dev: false,
            log_format: LogFormat::Pretty,
        }
    }
}
