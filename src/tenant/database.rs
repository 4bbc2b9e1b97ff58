//! The connection pool, migrations and pool-level look-ups.

use std::time::Duration;

use anyhow::Context;
use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::StoredSigningKey;
use crate::config::DatabaseConfig;
use crate::error::AppError;

/// The database behind the gateway: SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Database {
    pub(super) conn: DatabaseConnection,
    pub(super) mail_signal: std::sync::Arc<tokio::sync::Notify>,
    /// SQLite has one writer at a time. Writers queue here, in order, instead of polling
    /// SQLite's busy handler (which sleeps and lets latency spike under load).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The pool's size: how many stale connections a `BEGIN` may meet in a row.
    pool_size: u32,
    statements: std::sync::Arc<StatementLog>,
}

/// Counts the SQL statements the gateway runs and, while someone watches, records them:
/// how the tests prove that a warm API key costs no SQL.
#[derive(Debug, Default)]
pub struct StatementLog {
    executed: std::sync::atomic::AtomicU64,
    watching: std::sync::atomic::AtomicBool,
    recorded: std::sync::Mutex<Vec<String>>,
}

impl StatementLog {
    /// Statements run since the gateway started.
    pub fn executed(&self) -> u64 {
        self.executed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts recording the text of every statement (forgetting earlier recordings).
    pub fn watch(&self) {
        self.lock().clear();
        self.watching
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops recording and hands over what was recorded.
    pub fn take(&self) -> Vec<String> {
        self.watching
            .store(false, std::sync::atomic::Ordering::SeqCst);
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        crate::lock(&self.recorded)
    }

    fn saw(&self, sql: &str) {
        self.executed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.watching.load(std::sync::atomic::Ordering::Relaxed) {
            self.lock().push(sql.to_owned());
        }
    }
}

/// How long a pooled connection may sit idle before it is pinged on checkout.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// A place in the writer queue; SQLite writes happen while it is held.
pub(super) type WriterTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Opens the pool. SQLite runs in WAL mode with a busy timeout so readers never block
/// the writer; PostgreSQL is used as configured.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<Database> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.acquire_timeout())
        // The pool pings a connection before handing it out only when it sat idle long
        // enough to have been dropped by the server, a proxy or a firewall. Pinging
        // every checkout cost each request a round trip of its own (a fifth of a plain
        // page's), and the connection is tested again when it goes back to the pool.
        .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    let mut conn = sea_orm::Database::connect(options)
        .await
        .with_context(|| "connecting to the database (check DATABASE_URL)")?;
    let statements = std::sync::Arc::new(StatementLog::default());
    let log = statements.clone();
    conn.set_metric_callback(move |info| log.saw(&info.statement.sql));
    Ok(Database {
        conn,
        mail_signal: Default::default(),
        writer: Default::default(),
        pool_size: config.db_max_connections,
        statements,
    })
}

/// Applies pending migrations.
pub async fn migrate(db: &Database) -> anyhow::Result<()> {
    migration::Migrator::up(&db.conn, None)
        .await
        .context("applying migrations")
}

impl Database {
    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }

    /// The statement counter (see [`StatementLog`]).
    pub fn statements(&self) -> std::sync::Arc<StatementLog> {
        self.statements.clone()
    }

    /// The pool's open and idle connections (for `/metrics`).
    pub fn pool_state(&self) -> (u32, u32) {
        if self.is_postgres() {
            let pool = self.conn.get_postgres_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        } else {
            let pool = self.conn.get_sqlite_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        }
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// Begins a request's transaction. On SQLite, mutations take the write lock up front
    /// (`BEGIN IMMEDIATE`) so two writers wait for each other instead of failing with
    /// "database is locked" half-way. On PostgreSQL a plain `BEGIN`: the read-only mode
    /// of queries is set together with the role (see `context`), saving a round trip.
    pub(super) async fn begin(
        &self,
        read_only: bool,
    ) -> Result<(sea_orm::DatabaseTransaction, WriterTurn), AppError> {
        let (sqlite_transaction_mode, turn) = if self.is_postgres() {
            (None, None)
        } else if read_only {
            (Some(SqliteTransactionMode::Deferred), None)
        } else {
            let turn = self.writer.clone().lock_owned().await;
            (Some(SqliteTransactionMode::Immediate), Some(turn))
        };
        let options = TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode,
        };
        // A connection that went away while it sat in the pool (PostgreSQL restarted, an
        // administrator ended it) fails its `BEGIN` before anything ran on it; the pool
        // closes it, and the next one is tried. Connections used in the last seconds are
        // not pinged on checkout (see `connect`), so this is where a stale one is met.
        let mut stale = 0;
        loop {
            match self.conn.begin_with_options(options).await {
                Ok(tx) => return Ok((tx, turn)),
                Err(error)
                    if stale < self.pool_size && crate::error::is_broken_connection(&error) =>
                {
                    stale += 1;
                    tracing::debug!(%error, "a pooled connection had gone away; trying another");
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// All stored signing keys.
    pub async fn signing_keys(&self) -> anyhow::Result<Vec<StoredSigningKey>> {
        Ok(entity::signing_key::Entity::find().all(&self.conn).await?)
    }

    pub async fn insert_signing_key(&self, key: StoredSigningKey) -> anyhow::Result<()> {
        key.into_active_model().insert(&self.conn).await?;
        Ok(())
    }

    /// Runs a short write in its own transaction, committed even when the request that
    /// asked for it rolls back (a reused refresh token must revoke its session although
    /// the request fails).
    pub(super) async fn autonomous(
        &self,
    ) -> Result<(sea_orm::DatabaseTransaction, WriterTurn), AppError> {
        let (tx, turn) = self.begin(false).await?;
        if self.is_postgres() {
            super::binding::act_as_gateway(&tx).await?;
        }
        Ok((tx, turn))
    }

    /// A transaction for the system principal's work: on PostgreSQL as `tenantgate_app`,
    /// bound to `organization` (or to none, for platform tables), exactly like a request
    /// of that organization. Only `src/system/` uses it, one organization at a time.
    pub async fn system_transaction(
        &self,
        organization: Option<uuid::Uuid>,
    ) -> Result<SystemTransaction, AppError> {
        let (tx, turn) = self.autonomous().await?;
        if let Some(organization) = organization
            && self.is_postgres()
        {
            super::binding::bind_organization_id(&tx, &organization.to_string()).await?;
        }
        Ok(SystemTransaction { tx, _turn: turn })
    }
}

/// See [`Database::system_transaction`].
pub struct SystemTransaction {
    tx: sea_orm::DatabaseTransaction,
    _turn: WriterTurn,
}

impl SystemTransaction {
    pub fn connection(&self) -> &sea_orm::DatabaseTransaction {
        &self.tx
    }

    pub async fn commit(self) -> Result<(), AppError> {
        Ok(self.tx.commit().await?)
    }
}
