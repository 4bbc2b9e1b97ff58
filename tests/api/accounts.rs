//! Your own account: sessions, password change and reset, remember me, throttling.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Account, Backend, TestApp};
use crate::on_both_databases;
use crate::smtp_sink::{SmtpSink, token_in};

const SESSIONS: &str =
    "{ sessions { totalCount edges { node { id current userAgent rememberMe expiresAt } } } }";
const LOG_IN: &str = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken refreshToken } }";

async fn log_in(
    app: &TestApp,
    account: &Account,
    password: &str,
    remember_me: bool,
) -> crate::helpers::Reply {
    app.anonymous(
        LOG_IN,
        json!({ "i": { "email": account.email, "password": password, "rememberMe": remember_me } }),
    )
    .await
}

fn token(data: &Value) -> String {
    data["logIn"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn me(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.graphql(Some(token), None, "{ me { user { id } } }", json!({}))
        .await
}

on_both_databases! {
    async fn sessions_are_listed_and_revoked_one_by_one_or_all_but_this_one(app) {
        let ann = app.sign_up("ann", "acme").await;
        let second = token(&log_in(&app, &ann, &ann.password, true).await.ok());
        let third = token(&log_in(&app, &ann, &ann.password, false).await.ok());

        let listed = app.as_user(&ann, SESSIONS, json!({})).await.ok();
        assert_eq!(listed["sessions"]["totalCount"], 3);
        let edges = listed["sessions"]["edges"].as_array().expect("edges").clone();
        assert_eq!(edges.iter().filter(|e| e["node"]["current"] == true).count(), 1);
        let remembered = edges.iter().find(|e| e["node"]["rememberMe"] == true).expect("remember me");
        let normal = edges.iter().find(|e| e["node"]["rememberMe"] == false && e["node"]["current"] == false).expect("normal");
        let lifetime = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["node"]["expiresAt"].as_str().expect("time")).expect("time");
        assert!(lifetime(remembered) - lifetime(normal) > chrono::Duration::days(20), "remember me lasts longer");

        // Revoke the remembered one from the first session.
        let id = remembered["node"]["id"].clone();
        app.as_user(&ann, "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": id })).await.ok();
        me(&app, &second).await.expect_code("UNAUTHENTICATED");
        me(&app, &third).await.ok();
        app.as_user(&ann, "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": id })).await.expect_code("NOT_FOUND");

        let ended = app.as_user(&ann, "mutation { revokeAllOtherSessions }", json!({})).await.ok();
        assert_eq!(ended["revokeAllOtherSessions"], 1);
        me(&app, &third).await.expect_code("UNAUTHENTICATED");
        me(&app, &ann.access_token).await.ok();
        let listed = app.as_user(&ann, SESSIONS, json!({})).await.ok();
        assert_eq!(listed["sessions"]["totalCount"], 1);
    }

    async fn a_sessions_cursor_at_the_end_of_the_numbers_is_an_empty_page(app) {
        // `after` past the largest index: the page after it once overflowed (a panic, and a
        // dropped connection) in debug builds, and wrapped to the first page in release.
        let ann = app.sign_up("ann", "acme").await;
        let last = URL_SAFE_NO_PAD.encode(format!("s1:{}", usize::MAX));
        let page = app.as_user(&ann, "query($a: String) { sessions(after: $a) { totalCount edges { node { id } } } }", json!({ "a": last })).await.ok();
        assert_eq!(page["sessions"]["totalCount"], 1);
        assert_eq!(page["sessions"]["edges"], json!([]));
    }

    async fn nobody_sees_or_ends_another_users_sessions(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let bobs = app.as_user(&bob, SESSIONS, json!({})).await.ok();
        let bob_session = bobs["sessions"]["edges"][0]["node"]["id"].clone();
        let mine = app.as_user(&ann, SESSIONS, json!({})).await.ok();
        assert_eq!(mine["sessions"]["totalCount"], 1);
        assert_ne!(mine["sessions"]["edges"][0]["node"]["id"], bob_session);
        app.as_user(&ann, "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": bob_session })).await.expect_code("NOT_FOUND");
        me(&app, &bob.access_token).await.ok();
        app.anonymous(SESSIONS, json!({})).await.expect_code("UNAUTHENTICATED");
    }

    async fn changing_the_password_ends_the_other_sessions(app) {
        let ann = app.sign_up("ann", "acme").await;
        let other = token(&log_in(&app, &ann, &ann.password, false).await.ok());
        let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }";
        let body = app.as_user(&ann, change, json!({ "i": { "currentPassword": "wrong password", "newPassword": "a brand new password" } })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "currentPassword");
        let body = app.as_user(&ann, change, json!({ "i": { "currentPassword": ann.password, "newPassword": "short" } })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
        me(&app, &other).await.ok();

        app.as_user(&ann, change, json!({ "i": { "currentPassword": ann.password, "newPassword": "a brand new password" } })).await.ok();
        me(&app, &other).await.expect_code("UNAUTHENTICATED");
        me(&app, &ann.access_token).await.ok();
        log_in(&app, &ann, &ann.password, false).await.expect_code("UNAUTHENTICATED");
        log_in(&app, &ann, "a brand new password", false).await.ok();
    }
}

async fn with_mail(backend: Backend, sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(backend, move |config| {
        config.smtp_url = Some(url.parse().expect("url"));
        config.mail_retry_secs = 1;
    })
    .await
}

async fn password_reset_works_once_and_ends_every_session(backend: Backend) {
    let sink = SmtpSink::start(0).await;
    let app = with_mail(backend, &sink).await;
    let ann = app.sign_up("ann", "acme").await;
    let other = token(&log_in(&app, &ann, &ann.password, false).await.ok());

    let request = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    let unknown = app
        .anonymous(request, json!({ "e": "nobody@example.com" }))
        .await
        .ok();
    let known = app
        .anonymous(request, json!({ "e": ann.email.to_uppercase() }))
        .await
        .ok();
    assert_eq!(unknown, known, "the answer says nothing about the account");

    let mail = sink.wait_for(&ann.email, Duration::from_secs(20)).await;
    let reset = token_in(&mail.text);
    assert!(reset.starts_with("tgp_"), "{}", mail.text);
    assert!(mail.text.contains("reset-password?token="));

    let apply = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    let body = app
        .anonymous(apply, json!({ "t": reset, "p": "short" }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
    app.anonymous(apply, json!({ "t": reset, "p": "reset to this one" }))
        .await
        .ok();
    // Every session ended, the old password is gone, the new one works.
    me(&app, &ann.access_token)
        .await
        .expect_code("UNAUTHENTICATED");
    me(&app, &other).await.expect_code("UNAUTHENTICATED");
    log_in(&app, &ann, &ann.password, false)
        .await
        .expect_code("UNAUTHENTICATED");
    log_in(&app, &ann, "reset to this one", false).await.ok();
    // The token worked once.
    let body = app
        .anonymous(apply, json!({ "t": reset, "p": "and again this one" }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "token");

    // An expired token is refused.
    app.anonymous(request, json!({ "e": ann.email })).await.ok();
    let started = std::time::Instant::now();
    while sink.count_to(&ann.email).await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "second reset email"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.backdate("password_reset", "expires_at").await;
    app.anonymous(
        apply,
        json!({ "t": "tgp_made-up", "p": "whatever it is now" }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    assert_eq!(
        app.count_rows("SELECT count(*) FROM password_reset WHERE used_at IS NULL")
            .await,
        1
    );
    let texts = sink.all_to(&ann.email).await;
    let second = token_in(&texts[1].text);
    app.anonymous(apply, json!({ "t": second, "p": "whatever it is now" }))
        .await
        .expect_code("BAD_USER_INPUT");
    // Unknown accounts get no email.
    assert_eq!(sink.count_to("nobody@example.com").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_works_once_and_ends_every_session_sqlite() {
    password_reset_works_once_and_ends_every_session(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_works_once_and_ends_every_session_postgres() {
    password_reset_works_once_and_ends_every_session(Backend::Postgres).await;
}

async fn invitations_are_delivered_over_smtp_with_retries(backend: Backend) {
    // The first delivery is refused; the outbox retries it.
    let sink = SmtpSink::start(1).await;
    let app = with_mail(backend, &sink).await;
    let owner = app.sign_up("owner", "acme").await;
    let link_token = app.invite(&owner, "guest@example.com", "MEMBER").await;
    let mail = sink
        .wait_for("guest@example.com", Duration::from_secs(30))
        .await;
    assert_eq!(sink.refusals(), 2, "refused once, then accepted");
    assert!(
        mail.text
            .contains("Subject: owner invited you to acme Inc. on tenantgate"),
        "{}",
        mail.text
    );
    assert_eq!(
        token_in(&mail.text),
        link_token,
        "the email carries the same link"
    );
    // The sink has the mail as soon as it accepts it; the dispatcher records the
    // delivery just after.
    let delivered = "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL AND attempts = 1";
    crate::helpers::eventually(
        Duration::from_secs(20),
        "the delivery was not recorded",
        || async { app.count_rows(delivered).await >= 1 },
    )
    .await;
    assert_eq!(app.count_rows(delivered).await, 1);
    // The stored body is sealed: the token is not readable in the database.
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM outbox WHERE subject LIKE '%{link_token}%'"
        ))
        .await,
        0
    );
    // A rolled-back request sends nothing.
    let reply = app
        .as_user(
            &owner,
            "mutation {
        a: inviteMember(input: { email: \"never@example.com\", role: VIEWER }) { invitation { id } }
        b: inviteMember(input: { email: \"not an email\", role: VIEWER }) { invitation { id } } }",
            json!({}),
        )
        .await;
    reply.expect_code("BAD_USER_INPUT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count_to("never@example.com").await, 0);
    assert_eq!(app.count_rows("SELECT count(*) FROM outbox").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_delivered_over_smtp_with_retries_sqlite() {
    invitations_are_delivered_over_smtp_with_retries(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_delivered_over_smtp_with_retries_postgres() {
    invitations_are_delivered_over_smtp_with_retries(Backend::Postgres).await;
}

async fn log_ins_are_throttled_per_account_and_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.login_attempts_per_account = 3;
        config.login_attempts_per_address = 7;
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    for _ in 0..3 {
        log_in(&app, &ann, "wrong password!", false)
            .await
            .expect_code("UNAUTHENTICATED");
    }
    // The right password does not get through either: the account is throttled.
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": LOG_IN, "variables": { "i": { "email": ann.email, "password": ann.password } } }))
        .send()
        .await
        .expect("request");
    let header = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        header.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After: {header:?}"
    );
    let body = log_in(&app, &ann, &ann.password, false)
        .await
        .expect_code("RATE_LIMITED");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s))
    );
    // Other accounts from the same address still get their own tries, up to the address's.
    let bob = app.sign_up("bob", "bobco").await;
    log_in(&app, &bob, &bob.password, false).await.ok();
    log_in(&app, &bob, &bob.password, false).await.ok();
    log_in(&app, &bob, &bob.password, false)
        .await
        .expect_code("RATE_LIMITED");
    // Existing sessions are not affected.
    me(&app, &ann.access_token).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_ins_are_throttled_per_account_and_per_address_sqlite() {
    log_ins_are_throttled_per_account_and_per_address(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_ins_are_throttled_per_account_and_per_address_postgres() {
    log_ins_are_throttled_per_account_and_per_address(Backend::Postgres).await;
}

on_both_databases! {
    async fn without_smtp_mail_is_delivered_to_the_log_from_the_outbox(app) {
        let owner = app.sign_up("owner", "acme").await;
        app.invite(&owner, "guest@example.com", "VIEWER").await;
        let started = std::time::Instant::now();
        while app.count_rows("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL").await < 1 {
            assert!(started.elapsed() < Duration::from_secs(20), "the outbox was not drained");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(app.count_rows("SELECT count(*) FROM outbox WHERE kind = 'invitation'").await, 1);
    }
}

async fn behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxy_hops = 1;
        config.login_attempts_per_address = 2;
    })
    .await;
    let attempt = |address: &'static str| {
        app.send(
            app.client
                .post(app.url("/graphql"))
                .header("x-forwarded-for", format!("6.6.6.6, {address}"))
                .json(&json!({ "query": LOG_IN, "variables": { "i": { "email": format!("{address}@example.com"), "password": "wrong password!" } } })),
        )
    };
    for _ in 0..2 {
        assert_eq!(attempt("203.0.113.1").await.code(), Some("UNAUTHENTICATED"));
    }
    assert_eq!(attempt("203.0.113.1").await.code(), Some("RATE_LIMITED"));
    // Another client behind the same proxy is not affected; the spoofed left entry is ignored.
    assert_eq!(attempt("203.0.113.2").await.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own_sqlite() {
    behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own_postgres() {
    behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own(Backend::Postgres).await;
}

/// argon2 runs before a mutation's transaction on every path that hashes or checks a
/// password, so a flood of them never holds a connection or SQLite's writer turn; the
/// answers are what they were.
async fn password_work_is_done_before_the_transaction(backend: Backend) {
    const LATE: &str = "tenantgate_password_work_in_transaction_total";
    let sink = SmtpSink::start(0).await;
    let app = with_mail(backend, &sink).await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.join(&ann, "bob", "MEMBER").await;
    me(&app, &bob.access_token).await.ok();
    log_in(&app, &ann, &ann.password, false).await.ok();
    log_in(&app, &ann, "not the password", false)
        .await
        .expect_code("UNAUTHENTICATED");
    let nobody = Account {
        email: "nobody@acme.example.com".into(),
        ..ann.clone()
    };
    log_in(&app, &nobody, &ann.password, false)
        .await
        .expect_code("UNAUTHENTICATED");
    // Two log-ins in one mutation, by alias, each with its own verdict.
    let both = app
        .anonymous(
            "mutation($a: LogInInput!, $b: LogInInput!) {
                first: logIn(input: $a) { accessToken } second: logIn(input: $b) { accessToken } }",
            json!({
                "a": { "email": ann.email, "password": ann.password },
                "b": { "email": bob.email, "password": bob.password },
            }),
        )
        .await
        .ok();
    assert!(both["first"]["accessToken"].is_string());
    assert!(both["second"]["accessToken"].is_string());

    let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }";
    let body = app
        .as_user(
            &ann,
            change,
            json!({ "i": { "currentPassword": "not the password", "newPassword": "a brand new one" } }),
        )
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "currentPassword");
    app.as_user(
        &ann,
        change,
        json!({ "i": { "currentPassword": ann.password, "newPassword": "a brand new one" } }),
    )
    .await
    .ok();
    log_in(&app, &ann, &ann.password, false)
        .await
        .expect_code("UNAUTHENTICATED");
    log_in(&app, &ann, "a brand new one", false).await.ok();

    app.anonymous(
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": bob.email }),
    )
    .await
    .ok();
    // Queued after the answer: wait for the reset mail (bob's first is his invitation).
    let started = std::time::Instant::now();
    while sink.count_to(&bob.email).await < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "no reset mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reset = app.mailed_token(&bob.email, "password_reset").await;
    app.anonymous(
        "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
        json!({ "t": reset, "p": "bob's new password" }),
    )
    .await
    .ok();
    log_in(&app, &bob, "bob's new password", false).await.ok();

    assert_eq!(app.metric(LATE).await, 0);
}

#[tokio::test]
async fn password_work_is_done_before_the_transaction_sqlite() {
    password_work_is_done_before_the_transaction(Backend::Sqlite).await;
}

#[tokio::test]
async fn password_work_is_done_before_the_transaction_postgres() {
    password_work_is_done_before_the_transaction(Backend::Postgres).await;
}
