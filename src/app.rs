//! Wiring: an [`Application`] connects the database, builds the services, the schema
//! and the shared state, starts the background work and binds the HTTP server, so tests
//! can start it on port 0 and know where it listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::auth::api_keys::{ApiKeySettings, ApiKeys};
use crate::auth::keys::KeyStore;
use crate::auth::secrets::MasterKey;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::TokenService;
use crate::config::ServeConfig;
use crate::http;
use crate::mail::Mailer;
use crate::passwords::PasswordHasherPool;
use crate::schema::{self, Schemas};
use crate::services::Services;
use crate::state::{self, AppState};
use crate::tenant::{self, StatementLog};

/// The shortest `CRON_SECRET` accepted.
const MIN_CRON_SECRET_BYTES: usize = 32;

/// A built, bound, not yet serving gateway.
pub struct Application {
    server: http::Server,
    /// The mail dispatcher and housekeeping; stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Its usage is written once more when the server stops.
    api_keys: Arc<ApiKeys>,
    statements: Arc<StatementLog>,
}

impl Application {
    /// Connects, migrates, loads the signing keys and binds the listener.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        // The system principal reaches every organization: a short secret is refused
        // before anything starts, rather than guessed later.
        if let Some(secret) = &config.cron_secret
            && !secret.expose().is_empty()
            && secret.expose().len() < MIN_CRON_SECRET_BYTES
        {
            anyhow::bail!(
                "CRON_SECRET must be at least {MIN_CRON_SECRET_BYTES} bytes (for example `openssl rand -base64 32`)"
            );
        }
        let db = tenant::connect(&config.database).await?;
        tenant::migrate(&db).await?;
        let master = master_key(&config, db.is_postgres())?;
        let keys = Arc::new(KeyStore::load_or_create(db.clone(), master.clone()).await?);
        let mailer = Mailer::new(
            db.clone(),
            master.clone(),
            config.smtp_url.as_ref().map(|url| url.expose()),
            &config.mail_from,
            std::time::Duration::from_secs(config.mail_retry_secs),
        )?;
        let api_keys = Arc::new(ApiKeys::new(
            db.clone(),
            &ApiKeySettings {
                cache_ttl: std::time::Duration::from_secs(
                    config
                        .api_keys
                        .api_key_cache_ttl_secs
                        .unwrap_or(if db.is_postgres() { 60 } else { 5 }),
                ),
                cache_capacity: config.api_keys.api_key_cache_capacity,
                refusals_per_address_per_minute: config.api_keys.api_key_refusals_per_address,
                per_key: (config.api_keys.api_key_rate, config.api_keys.api_key_burst),
                per_organization: (
                    config.api_keys.organization_rate,
                    config.api_keys.organization_burst,
                ),
            },
        ));
        let tokens = TokenService::new(
            keys,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl(),
        );
        let services = Arc::new(Services {
            tokens: tokens.clone(),
            passwords: PasswordHasherPool::new(config.hash_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
            }))?,
            refresh_lifetime: std::time::Duration::from_secs(config.refresh_ttl_secs),
            remember_me_lifetime: std::time::Duration::from_secs(config.remember_me_ttl_secs),
            mailer: mailer.clone(),
            throttle: Throttle::new(
                config.login_attempts_per_account,
                config.login_attempts_per_address,
                config.signups_per_address,
            ),
            require_email_verification: config.require_email_verification,
            app_url: config.app_url.clone(),
            default_seat_limit: config.default_seat_limit,
            api_keys: api_keys.clone(),
            rotation_grace: std::time::Duration::from_secs(
                config.api_keys.api_key_rotation_grace_secs,
            ),
            master_key: master.clone(),
            default_agent_instructions: config.default_agent_instructions.clone(),
        });
        let mut background = vec![mailer.spawn_dispatcher(), {
            let services = services.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    services.throttle.shrink();
                    services.api_keys.shrink();
                }
            })
        }];
        background.push(spawn_key_usage_writer(
            api_keys.clone(),
            std::time::Duration::from_secs(config.api_keys.api_key_usage_flush_secs.max(1)),
        ));
        if db.is_postgres() {
            let api_keys = api_keys.clone();
            let db = db.clone();
            background.push(tokio::spawn(async move {
                let handle = tokio::runtime::Handle::current();
                db.watch_api_key_changes(|changed| match changed {
                    Some(hash) => {
                        let api_keys = api_keys.clone();
                        handle.spawn(async move { api_keys.invalidate(&[hash]).await });
                    }
                    None => api_keys.invalidate_all(),
                })
                .await;
            }));
        }
        if config.purge_interval_secs > 0 {
            background.push(crate::system::spawn_schedule(
                db.clone(),
                &crate::system::SystemJob::SCHEDULED,
                std::time::Duration::from_secs(config.purge_interval_secs),
            ));
        }
        let schemas = Schemas::new(&config.limits, config.dev, services.clone());
        let state = Arc::new(AppState {
            schemas,
            nullable_root_fields: schema::nullable_root_fields(),
            db,
            tokens,
            limits: config.limits.clone(),
            body_limit: config.body_limit,
            trusted_proxy_hops: config.trusted_proxy_hops,
            system_secret: config
                .cron_secret
                .as_ref()
                .filter(|secret| !secret.expose().is_empty())
                .map(|secret| crate::auth::SystemSecret::new(secret.expose())),
            api_keys: api_keys.clone(),
            api_key_introspection: config.api_keys.api_key_introspection,
            metrics: Default::default(),
            services,
            anonymous_writers: tokio::sync::Semaphore::new(state::ANONYMOUS_WRITERS),
            documents: crate::graphql::documents::Documents::default(),
        });
        let db_statements = state.db.statements();
        let server = http::Server::bind(state, &config).await?;
        Ok(Application {
            server,
            background,
            api_keys,
            statements: db_statements,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// The SQL statement counter of this gateway's pool.
    pub fn statements(&self) -> Arc<StatementLog> {
        self.statements.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.address(), "tenantgate is listening; GraphiQL at /graphql");
        self.run_until(http::shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.server.run(stop).await;
        for task in &self.background {
            task.abort();
        }
        if let Err(error) = self.api_keys.flush_usage().await {
            tracing::warn!(error = %error, "could not record the last API key use");
        }
        Ok(())
    }
}

/// Writes the keys' `lastUsedAt` behind, a batch every `every`.
fn spawn_key_usage_writer(
    api_keys: Arc<ApiKeys>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = api_keys.flush_usage().await {
                tracing::warn!(error = %error, "could not record API key use");
            }
        }
    })
}

fn master_key(config: &ServeConfig, postgres: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = &config.master_key {
        return MasterKey::from_base64(key.expose()).context("reading TENANTGATE_MASTER_KEY");
    }
    let path = match &config.master_key_file {
        Some(path) => path.clone(),
        None if postgres => bail!(
            "TENANTGATE_MASTER_KEY is required with PostgreSQL (base64 of 32 random bytes, \
             e.g. `openssl rand -base64 32`), so every replica shares it"
        ),
        None => default_key_file(&config.database.database_url),
    };
    MasterKey::load_or_create_file(&path)
}

/// `<database file>.key`, beside the SQLite database.
fn default_key_file(database_url: &str) -> PathBuf {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or("tenantgate.db");
    let path = if path.is_empty() || path == ":memory:" {
        "tenantgate.db"
    } else {
        path
    };
    PathBuf::from(format!("{path}.key"))
}
