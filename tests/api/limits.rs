//! The query limits of DESIGN §8, over HTTP.

use std::time::Duration;

use sea_orm::{ConnectionTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, connect_admin};
use crate::on_both_databases;

fn nested(depth: usize) -> String {
    format!(
        "{{{}{}}}",
        "a { ".repeat(depth - 1) + "b",
        " }".repeat(depth - 1)
    )
}

async fn post(app: &TestApp, body: Value) -> crate::helpers::Reply {
    app.send(app.client.post(app.url("/graphql")).json(&body))
        .await
}

use tenantgate::graphql::limits::STANDARD_INTROSPECTION_QUERY as STANDARD_INTROSPECTION;

on_both_databases! {
    async fn depth_is_capped_at_twelve(app) {
        // Within the cap the query reaches validation (and fails there: no such fields).
        post(&app, json!({ "query": nested(12) })).await.expect_code("BAD_USER_INPUT");
        let body = post(&app, json!({ "query": nested(13) })).await.expect_code("QUERY_TOO_COMPLEX");
        assert!(body.get("data").is_none());
    }

    async fn the_standard_introspection_query_passes_and_circular_introspection_does_not(app) {
        let data = post(&app, json!({ "query": STANDARD_INTROSPECTION })).await.ok();
        assert!(data["__schema"]["types"].as_array().is_some_and(|t| t.len() > 10));
        post(&app, json!({ "query": "{ __schema { types { fields { type { fields { type { name } } } } } } }" }))
            .await
            .expect_code("QUERY_TOO_COMPLEX");
        post(&app, json!({ "query": "{ __type(name: \"Contact\") { fields { type { ofType { fields { name } } } } } }" }))
            .await
            .expect_code("QUERY_TOO_COMPLEX");
    }

    async fn aliases_are_capped_at_fifty(app) {
        let fifty: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
        post(&app, json!({ "query": format!("{{ {fifty} }}") })).await.ok();
        let through_fragment = format!("{{ ...F x: __typename }} fragment F on Query {{ {fifty} }}");
        post(&app, json!({ "query": through_fragment })).await.expect_code("QUERY_TOO_COMPLEX");
    }

    async fn directives_are_capped_at_fifty(app) {
        let many = "__typename @include(if: true) ".repeat(51);
        post(&app, json!({ "query": format!("{{ {many} }}") })).await.expect_code("QUERY_TOO_COMPLEX");
        let fifty = "__typename @include(if: true) ".repeat(50);
        post(&app, json!({ "query": format!("{{ {fifty} }}") })).await.ok();
    }

    async fn complexity_counts_page_sizes(app) {
        let ann = app.sign_up("ann", "acme").await;
        let list = "contacts(first: 100) { edges { node { id name email phone ownerId createdAt updatedAt } } }";
        app.as_user(&ann, &format!("{{ a: {list} }}"), json!({})).await.ok();
        let reply = app.as_user(&ann, &format!("{{ a: {list} b: {list} c: {list} }}"), json!({})).await;
        reply.expect_code("QUERY_TOO_COMPLEX");
    }

    async fn deep_brackets_are_refused_before_parsing(app) {
        let deep = format!("{{ contacts(filter: {{ search: {}\"x\"{} }}) {{ totalCount }} }}", "[".repeat(40), "]".repeat(40));
        post(&app, json!({ "query": deep })).await.expect_code("QUERY_TOO_COMPLEX");
        let huge = format!("{}{}", "{a".repeat(100_000), "}".repeat(100_000));
        post(&app, json!({ "query": huge })).await.expect_code("QUERY_TOO_COMPLEX");
    }

    async fn batches_hold_at_most_ten_operations(app) {
        let ten: Vec<Value> = (0..10).map(|_| json!({ "query": "{ __typename }" })).collect();
        let reply = post(&app, Value::Array(ten)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.as_array().map(Vec::len), Some(10));
        assert_eq!(reply.body[9]["data"]["__typename"], "Query");
        let eleven: Vec<Value> = (0..11).map(|_| json!({ "query": "{ __typename }" })).collect();
        let reply = post(&app, Value::Array(eleven)).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
        let reply = post(&app, json!([])).await;
        assert_eq!(reply.status, 400);
    }

    async fn bodies_over_one_mebibyte_are_refused_with_413(app) {
        let padding = " ".repeat(1024 * 1024);
        let reply = post(&app, json!({ "query": format!("{{ __typename {padding} }}") })).await;
        assert_eq!(reply.status, 413);
        let fits = " ".repeat(1000 * 1000);
        post(&app, json!({ "query": format!("{{ __typename {fits} }}") })).await.ok();
    }
}

/// Holds the write lock (SQLite) or a table lock (PostgreSQL) so the next write waits.
async fn requests_run_out_of_time_after_the_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.request_timeout_secs = 1).await;
    let ann = app.sign_up("ann", "acme").await;
    let admin = connect_admin(&app.database_url).await;
    let blocker = match backend {
        Backend::Sqlite => admin
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await
            .expect("take the write lock"),
        Backend::Postgres => {
            let tx = admin.begin().await.expect("begin");
            tx.execute_unprepared("LOCK TABLE contact IN ACCESS EXCLUSIVE MODE")
                .await
                .expect("lock");
            tx
        }
    };
    let started = std::time::Instant::now();
    let reply = app
        .as_user(
            &ann,
            "mutation { createContact(input: { name: \"Waits\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 408, "body: {}", reply.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    blocker.rollback().await.expect("release");
    // Nothing half-done was left behind, and the gateway serves on.
    let count = app
        .as_user(&ann, "{ contacts { totalCount } }", json!({}))
        .await
        .ok();
    assert_eq!(count["contacts"]["totalCount"], 0);
    app.as_user(
        &ann,
        "mutation { createContact(input: { name: \"Now\" }) { id } }",
        json!({}),
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_out_of_time_after_the_timeout_sqlite() {
    requests_run_out_of_time_after_the_timeout(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_out_of_time_after_the_timeout_postgres() {
    requests_run_out_of_time_after_the_timeout(Backend::Postgres).await;
}

on_both_databases! {
    async fn control_characters_are_bad_input_on_both_databases(app) {
        let owner = app.sign_up("ann", "acme").await;
        app.as_user(&owner, "mutation { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: true, provider: \"openai\", model: \"m\", settings: { greeting: \"Hi!\" } }) { kind } }", json!({}))
            .await
            .ok();
        let contact = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let refused = |reply: crate::helpers::Reply| {
            assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
            assert_eq!(reply.body["data"], Value::Null, "{}", reply.body);
        };
        for nul in ["a\u{0}b", "bell\u{7}"] {
            // In variables: a string, a JSON value, a JSON key, a search, anonymously.
            refused(app.as_user(&owner, "mutation($n: String!) { createContact(input: { name: $n }) { id } }", json!({ "n": nul })).await);
            refused(app.as_user(&owner, "mutation($s: JSON!) { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: true, provider: \"openai\", model: \"m\", settings: $s }) { kind } }", json!({ "s": { "greeting": nul } })).await);
            refused(app.as_user(&owner, "mutation($s: JSON!) { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: true, provider: \"openai\", model: \"m\", settings: $s }) { kind } }", json!({ "s": { nul: "x" } })).await);
            refused(app.as_user(&owner, "query($s: String!) { contacts(filter: { search: $s }) { totalCount } }", json!({ "s": nul })).await);
            refused(app.anonymous("query($s: String!) { organizationBySlug(slug: $s) { id } }", json!({ "s": nul })).await);
        }
        // In the document's own literals (an escape the parser turns into U+0000).
        refused(app.anonymous("{ organizationBySlug(slug: \"acme\\u0000\") { id } }", json!({})).await);
        refused(app.as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { notes: \"x\\u0000\" }) { id } }", json!({ "id": contact })).await);
        // Nothing was stored, the widget still reads its settings, and text keeps its
        // tabs and line breaks.
        let widget = app.anonymous("{ publicChannelConfig(organizationSlug: \"acme\", kind: WEB_CHAT) { greeting } }", json!({})).await.ok();
        assert_eq!(widget["publicChannelConfig"]["greeting"], "Hi!");
        let noted = app
            .as_user(&owner, "mutation($id: ID!, $n: String!) { updateContact(id: $id, input: { notes: $n }) { notes } }", json!({ "id": contact, "n": "line one\r\n\tline two" }))
            .await
            .ok();
        assert_eq!(noted["updateContact"]["notes"], "line one\r\n\tline two");
    }
}
