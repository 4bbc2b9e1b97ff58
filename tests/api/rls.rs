//! PostgreSQL's third wall, checked in the database itself: the catalog, the role, and
//! what `tenantgate_app` sees with no organization, with another one, and after commit.
//! The gateway connects as a superuser in these tests, so they also show that isolation
//! does not depend on `DATABASE_URL` naming an unprivileged user.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

async fn connect_single(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    Database::connect(options).await.expect("connect")
}

async fn scalar<C: ConnectionTrait>(conn: &C, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

async fn exec<C: ConnectionTrait>(conn: &C, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_has_forced_row_level_security_with_a_checked_policy() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = connect_single(&app.database_url).await;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
                    EXISTS (SELECT 1 FROM pg_policies p
                            WHERE p.schemaname = 'public' AND p.tablename = c.relname
                              AND p.qual LIKE '%app.organization_id%'
                              AND p.with_check LIKE '%app.organization_id%') AS policed
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND EXISTS (SELECT 1 FROM information_schema.columns col
                           WHERE col.table_schema = 'public' AND col.table_name = c.relname
                             AND col.column_name = 'organization_id')"
                .to_owned(),
        ))
        .await
        .expect("catalog");
    let mut tables = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "name").expect("name");
        let enabled: bool = row.try_get("", "enabled").expect("enabled");
        let forced: bool = row.try_get("", "forced").expect("forced");
        let policed: bool = row.try_get("", "policed").expect("policed");
        assert!(
            enabled && forced && policed,
            "{name}: enabled={enabled} forced={forced} policy={policed}"
        );
        tables.push(name);
    }
    for expected in ["contact", "membership"] {
        assert!(
            tables.iter().any(|t| t == expected),
            "{expected} missing from {tables:?}"
        );
    }
    // The organization table (the tenants themselves) is protected too.
    assert_eq!(scalar(&db, "SELECT count(*) FROM pg_class WHERE relname = 'organization' AND relrowsecurity AND relforcerowsecurity").await, 1);
    // Views over tenant tables must run with the caller's rights.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'public' AND c.relkind = 'v'
                       AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_role_is_unprivileged() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = connect_single(&app.database_url).await;
    assert_eq!(scalar(&db, "SELECT count(*) FROM pg_roles WHERE rolname = 'tenantgate_app' AND NOT rolsuper AND NOT rolbypassrls AND NOT rolcanlogin").await, 1);
    assert_eq!(scalar(&db, "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = 'tenantgate_app')").await, 0);
    // DML only: no DDL on the schema.
    let tx = db.begin().await.expect("begin");
    exec(&tx, "SET LOCAL ROLE tenantgate_app").await;
    assert!(
        tx.execute_unprepared("CREATE TABLE sneaky (id int)")
            .await
            .is_err()
    );
    tx.rollback().await.expect("rollback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenantgate_app_sees_only_the_organization_that_is_set() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    app.create_contact(&ann, "A one", "a1@example.com").await;
    app.create_contact(&ann, "A two", "a2@example.com").await;
    app.create_contact(&bob, "B one", "b1@example.com").await;
    let (a_org, b_org) = (&ann.organization_id, &bob.organization_id);
    let db = connect_single(&app.database_url).await;
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM contact").await,
        3,
        "the owner sees all rows"
    );

    // No organization set: nothing.
    let tx = db.begin().await.expect("begin");
    exec(&tx, "SET LOCAL ROLE tenantgate_app").await;
    assert_eq!(scalar(&tx, "SELECT count(*) FROM contact").await, 0);
    assert_eq!(scalar(&tx, "SELECT count(*) FROM membership").await, 0);
    tx.rollback().await.expect("rollback");

    // B set: only B's rows, and no way to write A's.
    let tx = db.begin().await.expect("begin");
    exec(&tx, &format!("SET LOCAL ROLE tenantgate_app; SELECT set_config('app.organization_id', '{b_org}', true)")).await;
    assert_eq!(scalar(&tx, "SELECT count(*) FROM contact").await, 1);
    assert_eq!(
        scalar(
            &tx,
            &format!("SELECT count(*) FROM contact WHERE organization_id = '{a_org}'")
        )
        .await,
        0
    );
    assert_eq!(scalar(&tx, &format!("WITH changed AS (UPDATE contact SET name = 'hijacked' WHERE organization_id = '{a_org}' RETURNING 1) SELECT count(*) FROM changed")).await, 0);
    assert_eq!(scalar(&tx, &format!("WITH gone AS (DELETE FROM contact WHERE organization_id = '{a_org}' RETURNING 1) SELECT count(*) FROM gone")).await, 0);
    assert_eq!(scalar(&tx, &format!("WITH changed AS (UPDATE organization SET name = 'hijacked' WHERE id = '{a_org}' RETURNING 1) SELECT count(*) FROM changed")).await, 0);
    tx.rollback().await.expect("rollback");

    let tx = db.begin().await.expect("begin");
    exec(&tx, &format!("SET LOCAL ROLE tenantgate_app; SELECT set_config('app.organization_id', '{b_org}', true)")).await;
    let planted = tx
        .execute_unprepared(&format!(
            "INSERT INTO contact (organization_id, id, name, created_at, updated_at) VALUES ('{a_org}', gen_random_uuid(), 'planted', now(), now())"
        ))
        .await;
    assert!(
        planted.is_err(),
        "WITH CHECK must refuse a row of another organization"
    );
    tx.rollback().await.expect("rollback");

    // After a commit the transaction-local setting is gone ('' rather than NULL): no rows,
    // and no error either.
    let tx = db.begin().await.expect("begin");
    exec(
        &tx,
        &format!("SELECT set_config('app.organization_id', '{a_org}', true)"),
    )
    .await;
    tx.commit().await.expect("commit");
    let tx = db.begin().await.expect("begin");
    exec(&tx, "SET LOCAL ROLE tenantgate_app").await;
    assert_eq!(scalar(&tx, "SELECT count(*) FROM contact").await, 0);
    tx.rollback().await.expect("rollback");

    // Through the API nothing changed.
    let data = app
        .as_user(&ann, "{ contacts { totalCount } }", json!({}))
        .await
        .ok();
    assert_eq!(data["contacts"]["totalCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_level_setting_cannot_leak_between_requests() {
    // The gateway sets the organization transaction-locally; a connection handed back to
    // the pool after a request carries nothing into the next one.
    let app = TestApp::spawn_with(Backend::Postgres, |config| {
        config.database.db_max_connections = 1
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    app.create_contact(&ann, "A only", "a@example.com").await;
    for _ in 0..3 {
        let a = app
            .as_user(&ann, "{ contacts { totalCount } }", json!({}))
            .await
            .ok();
        assert_eq!(a["contacts"]["totalCount"], 1);
        let b = app
            .as_user(&bob, "{ contacts { totalCount } }", json!({}))
            .await
            .ok();
        assert_eq!(b["contacts"]["totalCount"], 0);
        app.anonymous("{ organizationBySlug(slug: \"acme\") { id } }", json!({}))
            .await
            .ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_hands_its_connection_back_with_no_transaction_open() {
    // A query's transaction is read-only in the database, so it ends without a COMMIT
    // round trip of its own: its ROLLBACK goes out as the connection returns to the
    // pool. The connection must come back idle, out of any transaction, and writable.
    let app = TestApp::spawn_with(Backend::Postgres, |config| {
        config.database.db_max_connections = 1
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    for _ in 0..3 {
        let read = app
            .as_user(&ann, "{ contacts { totalCount } }", json!({}))
            .await
            .ok();
        assert_eq!(read["contacts"]["totalCount"], 0);
    }
    let in_transaction = "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend' AND (state <> 'idle' OR xact_start IS NOT NULL)";
    crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "a gateway connection is still in a transaction after the queries",
        || async { app.count_rows(in_transaction).await == 0 },
    )
    .await;
    // The one connection writes again, and the write is the organization's own.
    app.create_contact(&ann, "After the reads", "after@example.com")
        .await;
    let read = app
        .as_user(&ann, "{ contacts { totalCount } }", json!({}))
        .await
        .ok();
    assert_eq!(read["contacts"]["totalCount"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_an_organization_without_an_owner() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ann = app.sign_up("ann", "acme").await;
    let second = app.join(&ann, "second", "OWNER").await;
    let org = &ann.organization_id;
    let db = connect_single(&app.database_url).await;
    // Below the API, even as the request role with the organization set, the last owner
    // cannot go: the commit is refused.
    for change in [
        "UPDATE membership SET role = 'admin'",
        "DELETE FROM membership",
    ] {
        let tx = db.begin().await.expect("begin");
        exec(&tx, &format!("SET LOCAL ROLE tenantgate_app; SELECT set_config('app.organization_id', '{org}', true)")).await;
        exec(&tx, &format!("{change} WHERE organization_id = '{org}'")).await;
        let committed = tx.commit().await;
        assert!(committed.is_err(), "{change}: committed with no owner left");
    }
    // One owner of two may go; a transfer that promotes before it demotes commits.
    let tx = db.begin().await.expect("begin");
    exec(&tx, &format!("UPDATE membership SET role = 'admin' WHERE organization_id = '{org}' AND user_id = '{}'", second.user_id)).await;
    exec(&tx, &format!("UPDATE membership SET role = 'owner' WHERE organization_id = '{org}' AND user_id = '{}'", second.user_id)).await;
    exec(&tx, &format!("UPDATE membership SET role = 'admin' WHERE organization_id = '{org}' AND user_id = '{}'", ann.user_id)).await;
    tx.commit().await.expect("an owner is left");
    // Deleting the organization takes its memberships with it.
    app.as_user(
        &second,
        "mutation { deleteOrganization(confirmSlug: \"acme\") }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT count(*) FROM membership WHERE organization_id = '{org}'")
        )
        .await,
        0
    );
}

/// Runs `sql` as the request role, bound to `organization`, in a transaction of its own
/// that is rolled back: answers the error, if any.
async fn as_request_role(
    db: &DatabaseConnection,
    organization: &str,
    user: &str,
    sql: &str,
) -> Option<String> {
    let tx = db.begin().await.expect("begin");
    exec(
        &tx,
        &format!(
            "SET LOCAL ROLE tenantgate_app; \
             SELECT set_config('app.organization_id', '{organization}', true), \
                    set_config('app.user_id', '{user}', true)"
        ),
    )
    .await;
    let outcome = tx
        .execute_unprepared(sql)
        .await
        .err()
        .map(|e| e.to_string());
    tx.rollback().await.expect("rollback");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_role_reads_no_secret_and_changes_no_audit_row() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let ann = app.sign_up("ann", "acme").await;
    let (org, user) = (ann.organization_id.as_str(), ann.user_id.as_str());
    let db = connect_single(&app.database_url).await;
    assert!(
        scalar(
            &db,
            &format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}'")
        )
        .await
            > 0,
        "signing up audits the new organization"
    );

    let denied = [
        "SELECT count(*) FROM signing_key",
        "SELECT id FROM signing_key",
        "INSERT INTO signing_key (id, algorithm, private_key_encrypted, public_key, created_at) \
         VALUES ('sneaky', 'EdDSA', '\\x00', '\\x00', now())",
        "SELECT password_hash FROM \"user\"",
        "SELECT * FROM \"user\"",
        "SELECT id FROM \"user\" WHERE password_hash LIKE '$argon2%'",
        "SELECT token_hash FROM refresh_token",
        "SELECT id FROM refresh_token WHERE token_hash = '\\x00'",
        "SELECT token_hash FROM password_reset",
        "SELECT password_hash FROM pending_sign_up",
        "SELECT token_hash FROM pending_sign_up",
        "UPDATE audit_log SET summary = '{}'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ];
    for sql in denied {
        let error = as_request_role(&db, org, user, sql)
            .await
            .unwrap_or_else(|| panic!("the request role may run {sql}"));
        assert!(error.contains("permission denied"), "{sql}: {error}");
    }

    // What requests need stays allowed: the same tables without their secrets, and the
    // audit log to read and append to.
    let allowed = [
        "SELECT id, email, name, created_at, updated_at FROM \"user\"",
        "SELECT id, session_id, created_at, rotated_at FROM refresh_token",
        "SELECT id, user_id, expires_at, used_at FROM password_reset",
        "SELECT id, email, organization_slug, expires_at FROM pending_sign_up",
        "UPDATE \"user\" SET password_hash = 'new', updated_at = now() WHERE id = '00000000-0000-0000-0000-000000000000'",
        "SELECT count(*) FROM audit_log",
        &format!(
            "INSERT INTO audit_log (organization_id, id, action, target_type, summary, created_at) \
             VALUES ('{org}', gen_random_uuid(), 'test', 'test', '{{}}', now())"
        ),
    ];
    for sql in allowed {
        assert_eq!(as_request_role(&db, org, user, sql).await, None, "{sql}");
    }

    // The doors to the secrets are the owner's functions, with a pinned search path, and
    // only the request role may call them.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_proc
             WHERE proname IN ('tenantgate_password_hash', 'tenantgate_refresh_token',
                               'tenantgate_password_reset', 'tenantgate_pending_sign_up')
               AND prosecdef
               AND proconfig @> ARRAY['search_path=pg_catalog, public, pg_temp']
               AND NOT has_function_privilege('public', oid, 'EXECUTE')
               AND has_function_privilege('tenantgate_app', oid, 'EXECUTE')"
        )
        .await,
        4
    );

    // Deleting the organization still takes its audit rows along: the cascade runs with
    // the rights of the table's owner.
    app.as_user(
        &ann,
        "mutation { deleteOrganization(confirmSlug: \"acme\") }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT count(*) FROM audit_log WHERE organization_id = '{org}'")
        )
        .await,
        0
    );
}

/// The gateway as deployed: `DATABASE_URL` names the schema's owner, an ordinary role to
/// which the forced row-level security applies (the other tests connect as a superuser,
/// which it does not). A person's request is bound in one statement that reads the
/// membership under those policies: members reach their organization, and only theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprivileged_owner_runs_the_gateway() {
    let admin_url = crate::helpers::postgres_admin_url();
    let admin = crate::helpers::connect_admin(&admin_url).await;
    let owner = format!("tg_owner_{}", uuid::Uuid::now_v7().simple());
    exec(
        &admin,
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantgate_app') \
         THEN CREATE ROLE tenantgate_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT; END IF; END $$",
    )
    .await;
    exec(
        &admin,
        &format!(
            "CREATE ROLE {owner} LOGIN PASSWORD 'owner-secret' NOSUPERUSER NOBYPASSRLS \
             NOCREATEROLE NOCREATEDB"
        ),
    )
    .await;
    exec(&admin, &format!("GRANT tenantgate_app TO {owner}")).await;
    exec(&admin, &format!("CREATE DATABASE {owner} OWNER {owner}")).await;
    admin.close().await.ok();
    let host = admin_url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, _)| host)
        .expect("the test cluster's address");
    let url = format!("postgres://{owner}:owner-secret@{host}/{owner}");
    let app = TestApp::spawn_at(Backend::Postgres, url, None, |_| {}).await;

    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    app.create_contact(&ann, "Dana", "dana@example.com").await;
    let dashboard = "{ contacts { totalCount edges { node { name owner { name } } } } }";
    let mine = app.as_user(&ann, dashboard, json!({})).await.ok();
    assert_eq!(mine["contacts"]["totalCount"], 1);
    assert_eq!(mine["contacts"]["edges"][0]["node"]["owner"]["name"], "ann");
    let theirs = app.as_user(&bob, dashboard, json!({})).await.ok();
    assert_eq!(theirs["contacts"]["totalCount"], 0);
    // Naming another organization binds nothing.
    app.graphql(
        Some(&bob.access_token),
        Some(&ann.organization_id),
        dashboard,
        json!({}),
    )
    .await
    .expect_code("FORBIDDEN");
    // A write is bound the same way.
    app.create_contact(&bob, "Eve", "eve@example.com").await;
    let theirs = app.as_user(&bob, dashboard, json!({})).await.ok();
    assert_eq!(theirs["contacts"]["totalCount"], 1);
}
