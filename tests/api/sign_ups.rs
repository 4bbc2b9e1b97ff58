//! Signing up: the per-address throttle, and email verification (no account
//! enumeration through `signUp`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Reply, TestApp};
use crate::on_both_databases;
use crate::smtp_sink::{Received, SmtpSink, token_in};

const SIGN_UP: &str = "mutation($i: SignUpInput!) { signUp(input: $i) {
    accessToken accessTokenExpiresAt refreshToken user { id email } organization { id slug }
    verificationPending } }";
const VERIFY: &str =
    "mutation($t: String!, $s: String) { verifyEmail(token: $t, organizationSlug: $s) {
    accessToken refreshToken user { id email } organization { id slug } } }";
const LOG_IN: &str = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }";
const SECRET: &str = "operators-only-secret-value-0123456789";

fn form(name: &str, email: &str, slug: &str) -> Value {
    json!({ "i": {
        "email": email, "password": format!("{name}-correct-horse-battery"), "name": name,
        "organizationName": format!("{name} Inc."), "organizationSlug": slug,
    }})
}

async fn sign_up_from(app: &TestApp, address: &str, name: &str, slug: &str) -> Reply {
    let email = format!("{name}@{slug}.example.com");
    app.send(
        app.client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", address)
            .json(&json!({ "query": SIGN_UP, "variables": form(name, &email, slug) })),
    )
    .await
}

async fn sign_ups_are_throttled_per_address_apart_from_log_ins(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxy_hops = 1;
        config.signups_per_address = 2;
        config.login_attempts_per_address = 2;
    })
    .await;
    let first = sign_up_from(&app, "203.0.113.1", "ann", "acme").await.ok();
    assert_eq!(first["signUp"]["verificationPending"], false);
    sign_up_from(&app, "203.0.113.1", "bob", "bobco").await.ok();
    let body = sign_up_from(&app, "203.0.113.1", "cat", "catco")
        .await
        .expect_code("RATE_LIMITED");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{body}"
    );
    // Another client is not affected.
    sign_up_from(&app, "203.0.113.2", "cat", "catco").await.ok();
    // The throttled address still has its whole log-in budget.
    for _ in 0..2 {
        let reply = app
            .send(
                app.client
                    .post(app.url("/graphql"))
                    .header("x-forwarded-for", "203.0.113.1")
                    .json(&json!({ "query": LOG_IN, "variables": { "i": {
                        "email": "ann@acme.example.com", "password": "ann-correct-horse-battery" } } })),
            )
            .await;
        reply.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_throttled_per_address_apart_from_log_ins_sqlite() {
    sign_ups_are_throttled_per_address_apart_from_log_ins(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_are_throttled_per_address_apart_from_log_ins_postgres() {
    sign_ups_are_throttled_per_address_apart_from_log_ins(Backend::Postgres).await;
}

on_both_databases! {
    async fn without_verification_sign_up_signs_in_and_a_taken_email_is_a_conflict(app) {
        let data = app.anonymous(SIGN_UP, form("ann", "ann@example.com", "acme")).await.ok();
        assert_eq!(data["signUp"]["verificationPending"], false);
        assert!(data["signUp"]["accessToken"].is_string());
        assert_eq!(data["signUp"]["organization"]["slug"], "acme");
        let body = app
            .anonymous(SIGN_UP, form("ann", "ANN@example.com", "other"))
            .await
            .expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    }
}

async fn with_verification_an_address_gets_a_bounded_number_of_emails(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.require_email_verification = true;
        config.login_attempts_per_account = 2;
    })
    .await;
    for slug in ["acme", "acme-two"] {
        app.anonymous(SIGN_UP, form("ann", "ann@example.com", slug))
            .await
            .ok();
    }
    app.anonymous(SIGN_UP, form("ann", "Ann@example.com", "acme-three"))
        .await
        .expect_code("RATE_LIMITED");
    app.anonymous(SIGN_UP, form("bob", "bob@example.com", "bobco"))
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_an_address_gets_a_bounded_number_of_emails_sqlite() {
    with_verification_an_address_gets_a_bounded_number_of_emails(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_an_address_gets_a_bounded_number_of_emails_postgres() {
    with_verification_an_address_gets_a_bounded_number_of_emails(Backend::Postgres).await;
}

async fn with_verification(backend: Backend, sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(backend, move |config| {
        config.require_email_verification = true;
        config.smtp_url = Some(url.parse().expect("url"));
        config.mail_retry_secs = 1;
        config.cron_secret = Some(SECRET.parse().expect("secret"));
    })
    .await
}

/// Waits for the `n`th email (from 1) to `to`.
async fn nth_mail(sink: &SmtpSink, to: &str, n: usize) -> Received {
    let started = std::time::Instant::now();
    loop {
        if let Some(mail) = sink.all_to(to).await.get(n - 1) {
            return mail.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "email {n} to {to}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_field(body: &Value, code: &str, field: &str) {
    assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
}

async fn with_verification_sign_up_tells_nothing_and_the_link_opens_the_account(backend: Backend) {
    let sink = SmtpSink::start(0).await;
    let app = with_verification(backend, &sink).await;
    let ann = "ann@example.com";
    let pending = app.anonymous(SIGN_UP, form("ann", ann, "acme")).await;
    assert!(
        !pending.body.to_string().contains("tgv_"),
        "no token in answers"
    );
    let pending = pending.ok();
    assert_eq!(
        pending,
        json!({ "signUp": { "accessToken": null, "accessTokenExpiresAt": null,
            "refreshToken": null, "user": null, "organization": null, "verificationPending": true } })
    );

    // Nothing exists yet: logging in answers exactly as a wrong password does.
    let log_in = |email: &str, password: &str| {
        app.anonymous(
            LOG_IN,
            json!({ "i": { "email": email, "password": password } }),
        )
    };
    let unverified = log_in(ann, "ann-correct-horse-battery")
        .await
        .expect_code("UNAUTHENTICATED");
    let unknown = log_in("nobody@example.com", "whatever it is")
        .await
        .expect_code("UNAUTHENTICATED");
    assert_eq!(
        unverified["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    assert_eq!(app.count_rows("SELECT count(*) FROM \"user\"").await, 0);
    assert_eq!(app.count_rows("SELECT count(*) FROM organization").await, 0);

    let mail = nth_mail(&sink, ann, 1).await;
    assert!(mail.text.contains("verify-email?token="), "{}", mail.text);
    let token = token_in(&mail.text);
    assert!(token.starts_with("tgv_"), "{}", mail.text);

    let session = app.anonymous(VERIFY, json!({ "t": token })).await.ok();
    let access = session["verifyEmail"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(session["verifyEmail"]["user"]["email"], ann);
    assert_eq!(session["verifyEmail"]["organization"]["slug"], "acme");
    let me = app
        .graphql(
            Some(&access),
            None,
            "{ me { user { name } memberships { role organization { slug name } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(me["me"]["user"]["name"], "ann");
    assert_eq!(
        me["me"]["memberships"],
        json!([{ "role": "OWNER", "organization": { "slug": "acme", "name": "ann Inc." } }])
    );
    log_in(ann, "ann-correct-horse-battery").await.ok();
    // The token worked once.
    let body = app.anonymous(VERIFY, json!({ "t": token })).await.body;
    assert_field(&body, "BAD_USER_INPUT", "token");

    // A taken email and a new one: the same answer, byte for byte.
    let taken = app
        .anonymous(SIGN_UP, form("mallory", &ann.to_uppercase(), "mallory-co"))
        .await;
    let new = app
        .anonymous(SIGN_UP, form("bob", "bob@example.com", "bobco"))
        .await;
    assert_eq!(taken.status, new.status);
    assert_eq!(
        serde_json::to_string(&taken.body).expect("json"),
        serde_json::to_string(&new.body).expect("json")
    );
    assert_eq!(taken.ok(), pending);
    // The owner of the taken email is told; nothing was created for it.
    let warning = nth_mail(&sink, ann, 2).await;
    assert!(
        warning
            .text
            .contains("Someone tried to sign up with your email"),
        "{}",
        warning.text
    );
    assert!(!warning.text.contains("token="), "{}", warning.text);
    assert_eq!(app.count_rows("SELECT count(*) FROM \"user\"").await, 1);
    assert_eq!(
        app.count_rows("SELECT count(*) FROM pending_sign_up").await,
        1
    );
    nth_mail(&sink, "bob@example.com", 1).await;

    // A slug that is public knowledge answers the same either way too.
    let body = app
        .anonymous(SIGN_UP, form("eve", "eve@example.com", "acme"))
        .await
        .body;
    assert_field(&body, "CONFLICT", "organizationSlug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_sign_up_tells_nothing_and_the_link_opens_the_account_sqlite() {
    with_verification_sign_up_tells_nothing_and_the_link_opens_the_account(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verification_sign_up_tells_nothing_and_the_link_opens_the_account_postgres() {
    with_verification_sign_up_tells_nothing_and_the_link_opens_the_account(Backend::Postgres).await;
}

async fn verification_links_expire_lose_to_a_sibling_and_survive_a_taken_slug(backend: Backend) {
    let sink = SmtpSink::start(0).await;
    let app = with_verification(backend, &sink).await;

    // Two sign-ups for one address: the first link followed wins, the other stops working.
    let fay = "fay@example.com";
    app.anonymous(SIGN_UP, form("fay", fay, "fayco")).await.ok();
    app.anonymous(SIGN_UP, form("fay", fay, "fay-two"))
        .await
        .ok();
    let first = token_in(&nth_mail(&sink, fay, 1).await.text);
    let second = token_in(&nth_mail(&sink, fay, 2).await.text);
    let session = app.anonymous(VERIFY, json!({ "t": second })).await.ok();
    let fay_access = session["verifyEmail"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(session["verifyEmail"]["organization"]["slug"], "fay-two");
    let body = app.anonymous(VERIFY, json!({ "t": first })).await.body;
    assert_field(&body, "BAD_USER_INPUT", "token");
    assert_eq!(
        app.count_rows("SELECT count(*) FROM pending_sign_up").await,
        0
    );

    // Another organization takes the slug before the link is followed: CONFLICT, and the
    // same token works with another slug.
    let gus = "gus@example.com";
    app.anonymous(SIGN_UP, form("gus", gus, "gusco")).await.ok();
    let token = token_in(&nth_mail(&sink, gus, 1).await.text);
    app.graphql(
        Some(&fay_access),
        None,
        "mutation { createOrganization(input: { name: \"Taken\", slug: \"gusco\" }) { id } }",
        json!({}),
    )
    .await
    .ok();
    let body = app.anonymous(VERIFY, json!({ "t": token })).await.body;
    assert_field(&body, "CONFLICT", "organizationSlug");
    let body = app
        .anonymous(VERIFY, json!({ "t": token, "s": "fay-two" }))
        .await
        .body;
    assert_field(&body, "CONFLICT", "organizationSlug");
    let session = app
        .anonymous(VERIFY, json!({ "t": token, "s": "gus-labs" }))
        .await
        .ok();
    assert_eq!(session["verifyEmail"]["organization"]["slug"], "gus-labs");
    assert_eq!(session["verifyEmail"]["user"]["email"], gus);

    // An expired link is refused, and PURGE_EXPIRED deletes its sign-up.
    let hal = "hal@example.com";
    app.anonymous(SIGN_UP, form("hal", hal, "halco")).await.ok();
    let token = token_in(&nth_mail(&sink, hal, 1).await.text);
    app.backdate("pending_sign_up", "expires_at").await;
    let body = app.anonymous(VERIFY, json!({ "t": token })).await.body;
    assert_field(&body, "BAD_USER_INPUT", "token");
    let body = app
        .anonymous(VERIFY, json!({ "t": "tgv_made-up" }))
        .await
        .body;
    assert_field(&body, "BAD_USER_INPUT", "token");
    assert_eq!(
        app.count_rows("SELECT count(*) FROM pending_sign_up").await,
        1
    );
    app.graphql(
        Some(SECRET),
        None,
        "mutation { runSystemJob(job: PURGE_EXPIRED) { job } }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        app.count_rows("SELECT count(*) FROM pending_sign_up").await,
        0
    );
    app.anonymous(
        LOG_IN,
        json!({ "i": { "email": hal, "password": "hal-correct-horse-battery" } }),
    )
    .await
    .expect_code("UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_links_expire_lose_to_a_sibling_and_survive_a_taken_slug_sqlite() {
    verification_links_expire_lose_to_a_sibling_and_survive_a_taken_slug(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_links_expire_lose_to_a_sibling_and_survive_a_taken_slug_postgres() {
    verification_links_expire_lose_to_a_sibling_and_survive_a_taken_slug(Backend::Postgres).await;
}
