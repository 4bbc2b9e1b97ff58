//! The system principal and system jobs.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const SECRET: &str = "operators-only-secret-value-0123456789";
const RUN: &str = "mutation { runSystemJob(job: PURGE_EXPIRED) { job failures platform { processed failed } organizations { organizationId processed failed error } } }";

async fn with_secret(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.cron_secret = Some(SECRET.parse().expect("secret"))
    })
    .await
}

async fn run_job(app: &TestApp, secret: &str) -> crate::helpers::Reply {
    app.graphql(Some(secret), None, RUN, json!({})).await
}

async fn the_system_principal_needs_the_secret_and_reaches_no_tenant(backend: Backend) {
    let app = with_secret(backend).await;
    let ann = app.sign_up("ann", "acme").await;
    app.anonymous(RUN, json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
    run_job(&app, "wrong-secret")
        .await
        .expect_code("UNAUTHENTICATED");
    app.as_user(&ann, RUN, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let report = run_job(&app, SECRET).await.ok();
    assert_eq!(report["runSystemJob"]["job"], "PURGE_EXPIRED");
    // The secret opens system jobs and nothing tenant-scoped.
    for query in [
        "{ contacts { totalCount } }",
        "{ organization { id } }",
        "{ me { user { id } } }",
    ] {
        let reply = app.graphql(Some(SECRET), None, query, json!({})).await;
        reply.expect_code("FORBIDDEN");
    }
    let reply = app
        .graphql(
            Some(SECRET),
            Some(&ann.organization_id),
            "{ contacts { totalCount } }",
            json!({}),
        )
        .await;
    reply.expect_code("FORBIDDEN");

    // Without CRON_SECRET there is no system principal at all.
    let plain = TestApp::spawn(backend).await;
    run_job(&plain, SECRET).await.expect_code("UNAUTHENTICATED");
    run_job(&plain, "").await.expect_code("UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_principal_needs_the_secret_and_reaches_no_tenant_sqlite() {
    the_system_principal_needs_the_secret_and_reaches_no_tenant(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_principal_needs_the_secret_and_reaches_no_tenant_postgres() {
    the_system_principal_needs_the_secret_and_reaches_no_tenant(Backend::Postgres).await;
}

fn result_for<'a>(report: &'a Value, organization: &str) -> &'a Value {
    report["runSystemJob"]["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .find(|o| o["organizationId"] == organization)
        .expect("a result per organization")
}

async fn purging_reports_per_organization_and_one_failure_stops_no_other(backend: Backend) {
    let app = with_secret(backend).await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    app.invite(&ann, "old-a@example.com", "VIEWER").await;
    app.invite(&bob, "old-b@example.com", "VIEWER").await;
    app.backdate_by("invitation", "expires_at", 40).await;
    // A fresh invitation stays whatever happens.
    app.invite(&ann, "fresh@example.com", "VIEWER").await;
    // An old ended session goes.
    app.as_user(&ann, "mutation { logOut }", json!({}))
        .await
        .ok();
    app.backdate_by("session", "revoked_at", 40).await;
    // (That marked every session ended long ago; Bob signs in again for a live one.)
    let bob_live = app
        .anonymous(
            "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
            json!({ "i": { "email": bob.email, "password": bob.password } }),
        )
        .await
        .ok()["logIn"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();

    // Deleting B's invitations fails on purpose.
    match backend {
        Backend::Sqlite => {
            let hex = uuid::Uuid::parse_str(&bob.organization_id)
                .expect("uuid")
                .simple()
                .to_string();
            app.execute(&format!(
                "CREATE TRIGGER fail_bobco BEFORE DELETE ON invitation WHEN OLD.organization_id = X'{hex}' \
                 BEGIN SELECT RAISE(ABORT, 'deliberate failure for the test'); END;"
            ))
            .await;
        }
        Backend::Postgres => {
            app.execute(&format!(
                "CREATE FUNCTION fail_bobco() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                   IF OLD.organization_id = '{}' THEN RAISE EXCEPTION 'deliberate failure for the test'; END IF; \
                   RETURN OLD; END $$; \
                 CREATE TRIGGER fail_bobco BEFORE DELETE ON invitation FOR EACH ROW EXECUTE FUNCTION fail_bobco();",
                bob.organization_id
            ))
            .await;
        }
    }

    let report = run_job(&app, SECRET).await.ok();
    assert_eq!(report["runSystemJob"]["failures"], 1, "{report}");
    assert!(
        report["runSystemJob"]["platform"]["processed"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{report}"
    );
    let a = result_for(&report, &ann.organization_id);
    assert_eq!(a["failed"], false);
    assert_eq!(a["processed"], 1);
    let b = result_for(&report, &bob.organization_id);
    assert_eq!(b["failed"], true);
    assert!(
        b["error"]
            .as_str()
            .is_some_and(|e| e.contains("deliberate failure")),
        "{b}"
    );

    assert_eq!(
        app.count_rows("SELECT count(*) FROM invitation WHERE email = 'old-a@example.com'")
            .await,
        0
    );
    assert_eq!(
        app.count_rows("SELECT count(*) FROM invitation WHERE email = 'old-b@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count_rows("SELECT count(*) FROM invitation WHERE email = 'fresh@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count_rows("SELECT count(*) FROM session WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    // Live sessions are untouched.
    app.graphql(Some(&bob_live), None, "{ me { user { id } } }", json!({}))
        .await
        .ok();
    assert_eq!(app.count_rows("SELECT count(*) FROM session").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_reports_per_organization_and_one_failure_stops_no_other_sqlite() {
    purging_reports_per_organization_and_one_failure_stops_no_other(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_reports_per_organization_and_one_failure_stops_no_other_postgres() {
    purging_reports_per_organization_and_one_failure_stops_no_other(Backend::Postgres).await;
}

async fn the_purge_also_runs_on_an_in_process_schedule(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.purge_interval_secs = 1).await;
    let ann = app.sign_up("ann", "acme").await;
    app.invite(&ann, "old@example.com", "VIEWER").await;
    app.backdate_by("invitation", "expires_at", 40).await;
    let started = std::time::Instant::now();
    while app
        .count_rows("SELECT count(*) FROM invitation WHERE email = 'old@example.com'")
        .await
        > 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the scheduled purge did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_also_runs_on_an_in_process_schedule_sqlite() {
    the_purge_also_runs_on_an_in_process_schedule(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_also_runs_on_an_in_process_schedule_postgres() {
    the_purge_also_runs_on_an_in_process_schedule(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_cron_secret_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("a folder");
    let mut config = tenantgate::config::ServeConfig::with_database(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("short.db").display()
    ));
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.cron_secret = Some("31-bytes-is-not-quite-enough!!!".parse().expect("secret"));
    let refused = tenantgate::app::Application::build(config).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("at least 32 bytes"), "{message}");
}
