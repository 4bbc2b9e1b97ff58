//! What every request shares: the schema, the database, the verifiers and the limits.
//! Built once by `app`, read by `http` and the operation `pipeline`.

use std::collections::HashSet;
use std::sync::Arc;

use crate::auth::SystemSecret;
use crate::auth::api_keys::ApiKeys;
use crate::auth::tokens::TokenService;
use crate::config::QueryLimits;
use crate::metrics::Metrics;
use crate::schema::Schemas;
use crate::services::Services;
use crate::tenant::Database;

/// What every handler shares.
pub struct AppState {
    pub schemas: Schemas,
    /// See [`crate::schema::nullable_root_fields`].
    pub nullable_root_fields: HashSet<String>,
    pub db: Database,
    pub tokens: TokenService,
    pub limits: QueryLimits,
    pub body_limit: usize,
    pub trusted_proxy_hops: usize,
    /// `CRON_SECRET`; without it the system principal does not exist.
    pub system_secret: Option<SystemSecret>,
    pub api_keys: Arc<ApiKeys>,
    /// Whether API keys may run introspection queries.
    pub api_key_introspection: bool,
    pub metrics: Metrics,
    /// For the password work done before a mutation's transaction.
    pub services: Arc<Services>,
    /// Anonymous mutations in their transaction at once (see `pipeline`).
    pub anonymous_writers: tokio::sync::Semaphore,
    /// Operations already read (see `graphql::documents`).
    pub documents: crate::graphql::documents::Documents,
}

/// How many anonymous mutations may hold a transaction at once: enough to keep sign-ups
/// and log-ins flowing (each holds its transaction for a few milliseconds; the password
/// work happens before), few enough that a flood of them leaves the queue for the
/// database's writers to the organizations.
pub const ANONYMOUS_WRITERS: usize = 2;
