//! The HTTP server: an [`Application`] owns the listener and the router, so tests can
//! start it on port 0 and know where it listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::api_keys::{ApiKeySettings, ApiKeys};
use crate::auth::keys::KeyStore;
use crate::auth::password::PasswordHasherPool;
use crate::auth::secrets::MasterKey;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::TokenService;
use crate::channels::CredentialSealer;
use crate::config::{QueryLimits, ServeConfig};
use crate::graphql::{self, Services};
use crate::mail::Mailer;
use crate::tenant::{self, Database, StatementLog};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The shortest `CRON_SECRET` accepted.
const MIN_CRON_SECRET_BYTES: usize = 32;

/// Whether a client's `X-Request-Id` may be kept: 1 to 64 of `A-Z a-z 0-9 . _ -`.
fn fit_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn drop_unfit_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    if request
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|value| !fit_request_id(value))
    {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// What every handler shares.
pub struct AppState {
    pub schemas: graphql::Schemas,
    /// See [`graphql::nullable_root_fields`].
    pub nullable_root_fields: std::collections::HashSet<String>,
    pub db: Database,
    pub tokens: TokenService,
    pub limits: QueryLimits,
    pub body_limit: usize,
    pub trusted_proxy_hops: usize,
    /// `CRON_SECRET`; without it the system principal does not exist.
    pub system_secret: Option<crate::auth::SystemSecret>,
    pub api_keys: Arc<ApiKeys>,
    /// Whether API keys may run introspection queries.
    pub api_key_introspection: bool,
    pub metrics: crate::metrics::Metrics,
    /// For the password work done before a mutation's transaction.
    pub services: Arc<Services>,
    /// Anonymous mutations in their transaction at once (see `graphql::http`).
    pub anonymous_writers: tokio::sync::Semaphore,
}

/// How many anonymous mutations may hold a transaction at once: enough to keep sign-ups
/// and log-ins flowing (each holds its transaction for a few milliseconds; the password
/// work happens before), few enough that a flood of them leaves the queue for the
/// database's writers to the organizations.
const ANONYMOUS_WRITERS: usize = 2;

/// How long `/readyz` waits for the database before answering 503.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What a connection may hold.
#[derive(Clone, Copy, Debug)]
struct ConnectionLimits {
    /// Time to send a request's head (see `ServeConfig::header_read_timeout_secs`).
    header_read_timeout: std::time::Duration,
    /// Connections served at once.
    max_connections: usize,
}

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    address: SocketAddr,
    limits: ConnectionLimits,
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
        let channel_credentials = CredentialSealer::new(master.clone());
        let mailer = Mailer::new(
            db.clone(),
            master,
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
            channel_credentials,
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
        let schemas = graphql::Schemas::new(&config.limits, config.dev, services.clone());
        let state = Arc::new(AppState {
            schemas,
            nullable_root_fields: graphql::nullable_root_fields(),
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
            anonymous_writers: tokio::sync::Semaphore::new(ANONYMOUS_WRITERS),
        });
        let db_statements = state.db.statements();
        let router = router(state, &config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        Ok(Application {
            listener,
            router,
            address,
            limits: ConnectionLimits {
                header_read_timeout: config.header_read_timeout(),
                max_connections: config.max_connections.clamp(
                    1,
                    tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize),
                ),
            },
            background,
            api_keys,
            statements: db_statements,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The SQL statement counter of this gateway's pool.
    pub fn statements(&self) -> Arc<StatementLog> {
        self.statements.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.address, "tenantgate is listening; GraphiQL at /graphql");
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        serve(self.listener, self.router, self.limits, stop).await;
        for task in &self.background {
            task.abort();
        }
        if let Err(error) = self.api_keys.flush_usage().await {
            tracing::warn!(error = %error, "could not record the last API key use");
        }
        Ok(())
    }
}

/// Serves connections until `stop`, then lets each finish the request it is on and
/// waits for all to close.
///
/// At most `limits.max_connections` are open at once: past it the loop stops accepting,
/// so new connections wait in the kernel's accept queue (and a client's connect timeout
/// applies) until one closes. A connection must send its first request's head within
/// `limits.header_read_timeout` of being accepted, whatever the protocol, and over
/// HTTP/1 each later head within as long after the previous answer (hyper's header-read
/// timeout), so a slow or idle client cannot hold a slot for long.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use tower::{Service, ServiceExt};

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    // Dropped to ask every connection to finish and close.
    let (closing, closing_watch) = tokio::sync::watch::channel(());
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // A connection that failed before we took it is its client's
                    // business; anything else (out of file descriptors) needs a pause.
                    if !matches!(
                        error.kind(),
                        std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionRefused
                    ) {
                        tracing::error!(error = %error, "cannot accept connections");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let Ok(service) = make_service.call(peer).await;
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let service = {
            let asked = asked.clone();
            service.map_request(move |request| {
                asked.store(true, std::sync::atomic::Ordering::Relaxed);
                request
            })
        };
        let mut closing = closing_watch.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            builder.http2().timer(hyper_util::rt::TokioTimer::new());
            let connection = builder.serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            );
            let mut connection = std::pin::pin!(connection);
            let first_request = tokio::time::sleep(limits.header_read_timeout);
            let mut first_request = std::pin::pin!(first_request);
            let mut awaiting_first_request = true;
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(error = %error, %peer, "connection ended");
                        }
                        break;
                    }
                    () = &mut first_request, if awaiting_first_request => {
                        if !asked.load(std::sync::atomic::Ordering::Relaxed) {
                            tracing::debug!(%peer, "no request in time; closing the connection");
                            break;
                        }
                        awaiting_first_request = false;
                    }
                    _ = closing.changed(), if !shutting_down => {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(closing);
    // Every connection holds a slot until it closes.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
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

fn router(state: Arc<AppState>, config: &ServeConfig) -> anyhow::Result<Router> {
    let mut cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-organization-id"),
            HeaderName::from_static("x-api-key"),
        ]);
    if !config.cors_origins.is_empty() {
        let origins = config
            .cors_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin.trim()))
            .collect::<Result<Vec<_>, _>>()
            .context("reading TENANTGATE_CORS_ORIGINS")?;
        cors = cors.allow_origin(AllowOrigin::list(origins));
    }
    let trace = TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
    })
    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    Ok(Router::new()
        .route(
            "/graphql",
            get(graphql::http::get).post(graphql::http::post),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_response,
        ))
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout(),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Runs first: a client's id that is not short plain text is replaced by our own,
        // since it is echoed and logged.
        .layer(axum::middleware::map_request(drop_unfit_request_id))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
        ])))
}

/// Counts every answer by status class for `/metrics`.
async fn count_response(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.response(response.status().as_u16());
    response
}

/// `/metrics`: the Prometheus text format. It names no organization, user or key.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (db_connections, db_idle_connections) = state.db.pool_state();
    let page = state.metrics.render(&crate::metrics::Gauges {
        sql_statements: state.db.statements().executed(),
        api_key_cache_entries: state.api_keys.cached().await,
        db_connections,
        db_idle_connections,
        password_work_in_transaction: state.services.passwords.late_work().count(),
        password_resets_in_flight: crate::sessions::resets_in_flight() as u64,
    });
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if tokio::time::timeout(READINESS_TIMEOUT, state.db.ping())
        .await
        .unwrap_or(false)
    {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let mut response = Json(state.tokens.keys().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
