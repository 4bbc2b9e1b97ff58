//! Test support: each test starts its own gateway on port 0 with its own database
//! (a SQLite file in a temporary folder, or a fresh database in the test PostgreSQL
//! cluster named by `TENANTGATE_TEST_PG`), and talks to it over HTTP.

use std::net::SocketAddr;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tenantgate::app::Application;
use tenantgate::auth::secrets::MasterKey;
use tenantgate::config::{Secret, ServeConfig};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed test body once on SQLite and once on PostgreSQL, as
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: $crate::helpers::TestApp) $body
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// A running gateway and what is needed to restart it on the same data.
pub struct TestApp {
    pub address: SocketAddr,
    pub backend: Backend,
    pub database_url: String,
    pub client: reqwest::Client,
    /// The gateway's SQL statement counter.
    pub statements: std::sync::Arc<tenantgate::tenant::StatementLog>,
    config: ServeConfig,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

/// A signed-up user with their first organization.
#[derive(Clone, Debug)]
pub struct Account {
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub organization_id: String,
}

/// An HTTP answer: status, content type and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The `extensions.code` of the first error, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// Panics with the body unless there were no errors.
    pub fn ok(self) -> Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        self.body["data"].clone()
    }

    /// Asserts the first error's code and returns the body.
    pub fn expect_code(self, code: &str) -> Value {
        assert_eq!(self.code(), Some(code), "body: {}", self.body);
        self.body
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("TENANTGATE_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "TENANTGATE_TEST_PG is not set, so the PostgreSQL suite cannot run: \
             run the tests with ./scripts/test, which starts a test cluster"
        )
    })
}

/// Polls `done` every 20 ms until it holds; panics with `what` once `bound` has passed.
/// For what the gateway does just after it answers (a delivery recorded, a connection
/// handed back).
pub async fn eventually<F, Fut>(bound: std::time::Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < bound, "{what} (after {bound:?})");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Connects to the test database as its (superuser) owner, for checks below the API.
pub async fn connect_admin(database_url: &str) -> DatabaseConnection {
    Database::connect(database_url)
        .await
        .expect("connect to the test database")
}

/// A new, empty database: a SQLite file in a temporary folder (returned, to keep it),
/// or a fresh database in the test PostgreSQL cluster.
pub async fn fresh_database(
    backend: Backend,
) -> (String, Option<std::sync::Arc<tempfile::TempDir>>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary folder");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("tenantgate.db").display()
            );
            (url, Some(std::sync::Arc::new(dir)))
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let admin = connect_admin(&admin_url).await;
            let name = format!("tg_test_{}", uuid::Uuid::now_v7().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create the test database");
            admin.close().await.ok();
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            (format!("{base}/{name}"), None)
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a gateway on a new database, after `adjust` changed its configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let (database_url, dir) = fresh_database(backend).await;
        Self::spawn_at(backend, database_url, dir, adjust).await
    }

    /// Starts a gateway on `database_url` (kept alive with `dir`, for SQLite), after
    /// `adjust` changed its configuration.
    pub async fn spawn_at(
        backend: Backend,
        database_url: String,
        dir: Option<std::sync::Arc<tempfile::TempDir>>,
        adjust: impl FnOnce(&mut ServeConfig),
    ) -> TestApp {
        let mut config = ServeConfig::with_database(database_url.clone());
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.master_key = Some(
            MasterKey::generate()
                .to_base64()
                .parse::<Secret>()
                .expect("secret"),
        );
        config.database.db_max_connections = 8;
        config.hash_concurrency = Some(2);
        // Tests sign many people up from 127.0.0.1; the sign-up throttle has its own test.
        config.signups_per_address = 10_000;
        adjust(&mut config);
        Self::start(backend, database_url, config, dir).await
    }

    async fn start(
        backend: Backend,
        database_url: String,
        config: ServeConfig,
        dir: Option<std::sync::Arc<tempfile::TempDir>>,
    ) -> TestApp {
        tenantgate::telemetry::init(tenantgate::config::LogFormat::Pretty);
        let app = Application::build(config.clone())
            .await
            .expect("start the gateway");
        let address = app.address();
        let statements = app.statements();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        TestApp {
            address,
            backend,
            database_url,
            client: reqwest::Client::new(),
            statements,
            config,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        }
    }

    /// The gateway restarted on the same data after `adjust` changed its configuration.
    pub async fn restarted_with(mut self, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        adjust(&mut self.config);
        self.restart().await
    }

    /// Stops the gateway and starts a new one on the same database and master key.
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server stopped cleanly");
        }
        let dir = self._dir.clone();
        Self::start(
            self.backend,
            self.database_url.clone(),
            self.config.clone(),
            dir,
        )
        .await
    }

    /// Starts a second gateway on the same database and master key (another node).
    pub async fn replica(&self) -> TestApp {
        Self::start(
            self.backend,
            self.database_url.clone(),
            self.config.clone(),
            self._dir.clone(),
        )
        .await
    }

    fn db_backend(&self) -> sea_orm::DbBackend {
        match self.backend {
            Backend::Sqlite => sea_orm::DbBackend::Sqlite,
            Backend::Postgres => sea_orm::DbBackend::Postgres,
        }
    }

    /// Moves `column` of every row of `table` two days into the past (to expire tokens).
    pub async fn backdate(&self, table: &str, column: &str) {
        self.backdate_by(table, column, 2).await;
    }

    /// Moves `column` of every row of `table` `days` into the past.
    pub async fn backdate_by(&self, table: &str, column: &str, days: i64) {
        use sea_orm::Statement;
        let admin = connect_admin(&self.database_url).await;
        let placeholder = match self.backend {
            Backend::Sqlite => "?",
            Backend::Postgres => "$1",
        };
        let backend = self.db_backend();
        let past = chrono::Utc::now() - chrono::Duration::days(days);
        admin
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!("UPDATE {table} SET {column} = {placeholder}"),
                [past.into()],
            ))
            .await
            .expect("backdate");
    }

    /// Runs SQL as the database owner.
    pub async fn execute(&self, sql: &str) {
        let admin = connect_admin(&self.database_url).await;
        admin.execute_unprepared(sql).await.expect("execute");
    }

    /// Runs a statement with `$1`, `$2`, … parameters as the database owner (sqlx reads
    /// numbered parameters on SQLite too).
    pub async fn execute_with(&self, sql: &str, values: Vec<sea_orm::Value>) {
        use sea_orm::Statement;
        let admin = connect_admin(&self.database_url).await;
        admin
            .execute_raw(Statement::from_sql_and_values(
                self.db_backend(),
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs a counting query as the database owner.
    pub async fn count_rows(&self, sql: &str) -> i64 {
        use sea_orm::Statement;
        let admin = connect_admin(&self.database_url).await;
        let backend = self.db_backend();
        let row = admin
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("count")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a number")
    }

    /// Runs a query as the database owner and returns the first column of every row as
    /// text.
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        use sea_orm::Statement;
        let admin = connect_admin(&self.database_url).await;
        let backend = self.db_backend();
        admin
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query")
            .into_iter()
            .map(|row| row.try_get_by_index::<String>(0).expect("a text"))
            .collect()
    }

    /// A sample of `/metrics`, by its name and labels as the page writes them
    /// (`name` or `name{label="value"}`).
    pub async fn metric(&self, name: &str) -> u64 {
        let page = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("page");
        page.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {page}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends a raw request to `/graphql` and reads the reply.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// A GraphQL POST with optional bearer token and organization header.
    pub async fn graphql(
        &self,
        token: Option<&str>,
        organization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Reply {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(organization) = organization {
            request = request.header("x-organization-id", organization);
        }
        self.send(request).await
    }

    /// An anonymous GraphQL request.
    pub async fn anonymous(&self, query: &str, variables: Value) -> Reply {
        self.graphql(None, None, query, variables).await
    }

    /// A GraphQL request as `account`, in their first organization.
    pub async fn as_user(&self, account: &Account, query: &str, variables: Value) -> Reply {
        self.graphql(Some(&account.access_token), None, query, variables)
            .await
    }

    /// Signs up a new user whose first organization has `slug`.
    pub async fn sign_up(&self, name: &str, slug: &str) -> Account {
        let email = format!("{name}@{slug}.example.com");
        let password = format!("{name}-correct-horse-battery");
        let data = self
            .anonymous(
                "mutation($input: SignUpInput!) { signUp(input: $input) {
                    accessToken refreshToken user { id } organization { id } } }",
                json!({ "input": {
                    "email": email, "password": password, "name": name,
                    "organizationName": format!("{slug} Inc."), "organizationSlug": slug,
                }}),
            )
            .await
            .ok();
        account(&data["signUp"], email, password)
    }

    /// Brings a new person into `owner`'s organization with `role` (`"ADMIN"`, …) through
    /// an invitation accepted as a new account.
    pub async fn join(&self, owner: &Account, name: &str, role: &str) -> Account {
        let email = format!("{name}@people.example.com");
        let password = format!("{name}-correct-horse-battery");
        let token = self.invite(owner, &email, role).await;
        let data = self
            .anonymous(
                "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) {
                    accessToken refreshToken user { id } organization { id } } }",
                json!({ "i": { "token": token, "name": name, "password": password } }),
            )
            .await
            .ok();
        let payload = &data["acceptInvitation"];
        assert_eq!(
            payload["organization"]["id"],
            owner.organization_id.as_str()
        );
        account(payload, email, password)
    }

    /// Invites `email` into `inviter`'s organization and returns the token from the
    /// mailed link (the API never answers it).
    pub async fn invite(&self, inviter: &Account, email: &str, role: &str) -> String {
        self.as_user(
            inviter,
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { invitation { id } } }",
            json!({ "i": { "email": email, "role": role } }),
        )
        .await
        .ok();
        self.mailed_token(email, "invitation").await
    }

    /// The token in the newest email of `kind` (`invitation`, `password_reset`, …) to
    /// `to`, read from the outbox and opened with the master key, as the mail dispatcher
    /// would before delivering it.
    pub async fn mailed_token(&self, to: &str, kind: &str) -> String {
        use sea_orm::Statement;
        let admin = connect_admin(&self.database_url).await;
        let placeholders = match self.backend {
            Backend::Sqlite => "recipient = ? AND kind = ?",
            Backend::Postgres => "recipient = $1 AND kind = $2",
        };
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                self.db_backend(),
                format!(
                    "SELECT body_sealed FROM outbox WHERE {placeholders} ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                [to.to_lowercase().into(), kind.into()],
            ))
            .await
            .expect("read the outbox")
            .unwrap_or_else(|| panic!("no {kind} mail to {to}"));
        let sealed: Vec<u8> = row.try_get("", "body_sealed").expect("a sealed body");
        let master = MasterKey::from_base64(
            self.config
                .master_key
                .as_ref()
                .expect("the tests set a master key")
                .expose(),
        )
        .expect("the master key");
        let body = master
            .open(tenantgate::mail::SEAL_CONTEXT, &sealed)
            .expect("open the mail body");
        let body = String::from_utf8(body).expect("a text body");
        body.split("token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no link in the mail: {body}"))
            .to_owned()
    }

    /// A GraphQL POST with an `x-api-key` header.
    pub async fn as_key(&self, key: &str, query: &str, variables: Value) -> Reply {
        let request = self
            .client
            .post(self.url("/graphql"))
            .header("x-api-key", key)
            .json(&json!({ "query": query, "variables": variables }));
        self.send(request).await
    }

    /// Creates an API key in `admin`'s organization with these scopes (`"CONTACTS_READ"`,
    /// …) and returns its id and secret.
    pub async fn create_api_key(
        &self,
        admin: &Account,
        name: &str,
        scopes: &[&str],
    ) -> (String, String) {
        let data = self
            .as_user(
                admin,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }",
                json!({ "i": { "name": name, "scopes": scopes } }),
            )
            .await
            .ok();
        let payload = &data["createApiKey"];
        (
            payload["apiKey"]["id"].as_str().expect("key id").to_owned(),
            payload["secret"].as_str().expect("secret").to_owned(),
        )
    }

    /// Creates a contact as `account` and returns its id.
    pub async fn create_contact(&self, account: &Account, name: &str, email: &str) -> String {
        let data = self
            .as_user(
                account,
                "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                json!({ "input": { "name": name, "email": email, "phone": "+15550100000" } }),
            )
            .await
            .ok();
        data["createContact"]["id"]
            .as_str()
            .expect("contact id")
            .to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An account from an `AuthPayload` (with `user { id }` and `organization { id }`).
fn account(payload: &Value, email: String, password: String) -> Account {
    let text = |value: &Value| value.as_str().expect("a string in the payload").to_owned();
    Account {
        email,
        password,
        access_token: text(&payload["accessToken"]),
        refresh_token: text(&payload["refreshToken"]),
        user_id: text(&payload["user"]["id"]),
        organization_id: text(&payload["organization"]["id"]),
    }
}
