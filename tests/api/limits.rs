//! The query limits of DESIGN §8, over HTTP.

use std::time::Duration;

use sea_orm::{ConnectionTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{Account, Backend, TestApp, connect_admin};
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

/// A POST of `body` (one operation or a batch) as `account`.
async fn post_as(app: &TestApp, account: &Account, body: Value) -> crate::helpers::Reply {
    let request = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&account.access_token)
        .json(&body);
    app.send(request).await
}

/// How many introspection answers came from the cache, and how many were computed.
async fn introspection_answers(app: &TestApp) -> (u64, u64) {
    let read =
        |source: &str| format!("tenantgate_introspection_answers_total{{source=\"{source}\"}}");
    (
        app.metric(&read("cache")).await,
        app.metric(&read("computed")).await,
    )
}

/// The bytes of a body as the gateway sent it (re-serialized: same length).
fn bytes(body: &Value) -> usize {
    body.to_string().len()
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
        let ann = app.sign_up("ann", "acme").await;
        let data = app.as_user(&ann, STANDARD_INTROSPECTION, json!({})).await.ok();
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
        // The arithmetic below is made for this limit, whatever the default.
        let app = app.restarted_with(|config| config.limits.max_complexity = 2000).await;
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

/// The shape of the amplification: every type's fields with their arguments.
const ALL_FIELDS_AND_ARGS: &str = "__schema { types { fields { args { name } } } }";

on_both_databases! {
    async fn introspection_cannot_amplify_a_request(app) {
        let ann = app.sign_up("ann", "acme").await;
        let single = post_as(&app, &ann, json!({ "query": format!("{{ {ALL_FIELDS_AND_ARGS} }}") })).await;
        let single_bytes = bytes(&single.body);
        assert!(single.ok()["__schema"]["types"].as_array().is_some_and(|t| t.len() > 50));
        println!("one introspection: {single_bytes} bytes");

        // Fifty aliases of it in one operation (about 9 KB): refused, in a few hundred bytes.
        let fifty: String = (0..50).map(|i| format!("a{i}: {ALL_FIELDS_AND_ARGS} ")).collect();
        let fifty = format!("{{ {fifty} }}");
        let reply = post_as(&app, &ann, json!({ "query": fifty })).await;
        let refused_bytes = bytes(&reply.body);
        let body = reply.expect_code("QUERY_TOO_COMPLEX");
        assert!(body.get("data").is_none());
        assert!(refused_bytes < 1_000, "{refused_bytes} bytes: {body}");
        // Anonymous callers are refused as well, as cheaply.
        let reply = post(&app, json!({ "query": fifty })).await;
        assert!(reply.body.get("data").is_none() && bytes(&reply.body) < 1_000, "{}", reply.body);

        // Ten of those in a batch (about 90 KB): ten small refusals.
        let batch: Vec<Value> = (0..10).map(|_| json!({ "query": fifty })).collect();
        let reply = post_as(&app, &ann, Value::Array(batch)).await;
        let members = reply.body.as_array().expect("a batch answer");
        assert_eq!(members.len(), 10);
        assert!(members.iter().all(|m| m["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"));
        assert!(bytes(&reply.body) < 10_000, "{} bytes", bytes(&reply.body));

        // Ten single introspections in a batch: the batch has one introspection to spend.
        let batch: Vec<Value> = (0..10).map(|_| json!({ "query": format!("{{ {ALL_FIELDS_AND_ARGS} }}") })).collect();
        let reply = post_as(&app, &ann, Value::Array(batch)).await;
        let members = reply.body.as_array().expect("a batch answer");
        assert!(members[0].get("errors").is_none(), "{}", members[0]);
        for member in &members[1..] {
            assert_eq!(member["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{member}");
            assert!(member["errors"][0]["message"].as_str().is_some_and(|m| m.contains("batch")));
        }
        let batch_bytes = bytes(&reply.body);
        println!("a batch of ten: {batch_bytes} bytes");
        assert!(batch_bytes < single_bytes + 5_000, "{batch_bytes} bytes");

        // Two introspection fields in one operation, whatever they are called.
        post_as(&app, &ann, json!({ "query": "{ __schema { queryType { name } } __type(name: \"Contact\") { name } }" }))
            .await
            .expect_code("QUERY_TOO_COMPLEX");
        // `__typename` stays free.
        post_as(&app, &ann, json!({ "query": "{ __typename a: __typename __schema { queryType { name } } }" }))
            .await
            .ok();
    }

    async fn introspection_is_weighed_with_the_rest_of_the_request(app) {
        // The arithmetic below is made for this limit, whatever the default.
        let app = app.restarted_with(|config| config.limits.max_complexity = 2000).await;
        let ann = app.sign_up("ann", "acme").await;
        let list = "contacts(first: 100) { edges { node { id name email phone ownerId createdAt updatedAt } } }";
        let lists = format!("a: {list} b: {list}");
        post_as(&app, &ann, json!({ "query": format!("{{ {lists} }}") })).await.ok();
        post_as(&app, &ann, json!({ "query": format!("{{ {ALL_FIELDS_AND_ARGS} }}") })).await.ok();
        // Each fits alone; together they pass the complexity limit.
        post_as(&app, &ann, json!({ "query": format!("{{ {lists} {ALL_FIELDS_AND_ARGS} }}") }))
            .await
            .expect_code("QUERY_TOO_COMPLEX");
        let batch = json!([
            { "query": format!("{{ {lists} }}") },
            { "query": format!("{{ {ALL_FIELDS_AND_ARGS} }}") },
        ]);
        let reply = post_as(&app, &ann, batch).await;
        assert!(reply.body[0].get("errors").is_none(), "{}", reply.body);
        assert_eq!(reply.body[1]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{}", reply.body);
    }

    async fn a_batch_shares_one_budget(app) {
        // The arithmetic below is made for this limit, whatever the default.
        let app = app.restarted_with(|config| config.limits.max_complexity = 2000).await;
        let ann = app.sign_up("ann", "acme").await;
        let list = "contacts(first: 100) { edges { node { id name email phone ownerId createdAt updatedAt } } }";
        let one = json!({ "query": format!("{{ a: {list} }}") });
        post_as(&app, &ann, one.clone()).await.ok();
        let reply = post_as(&app, &ann, json!([one, one, one])).await;
        assert!(reply.body[0].get("errors").is_none(), "{}", reply.body);
        let code = |i: usize| reply.body[i]["errors"][0]["extensions"]["code"].clone();
        assert!(code(1) == "QUERY_TOO_COMPLEX" || code(2) == "QUERY_TOO_COMPLEX", "{}", reply.body);
        assert_eq!(code(2), "QUERY_TOO_COMPLEX");

        let thirty: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
        let thirty = json!({ "query": format!("{{ {thirty} }}") });
        post_as(&app, &ann, thirty.clone()).await.ok();
        let reply = post_as(&app, &ann, json!([thirty, thirty])).await;
        assert!(reply.body[0].get("errors").is_none(), "{}", reply.body);
        assert_eq!(reply.body[1]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
        assert!(reply.body[1]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("60 aliases")));
        // Past a refused member the batch is over: what follows is refused unread, even
        // an operation that costs nothing.
        let free = json!({ "query": "{ __typename }" });
        let reply = post_as(&app, &ann, json!([thirty, thirty, free])).await;
        assert_eq!(reply.body[2]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
        assert!(reply.body[2]["errors"][0]["message"].as_str().is_some_and(|m| m.contains("not run")), "{}", reply.body);
        assert!(reply.body[2].get("data").is_none());
    }

    async fn anonymous_introspection_is_off_by_default_and_points_to_the_schema(app) {
        for query in [STANDARD_INTROSPECTION, "{ __type(name: \"Contact\") { name } }"] {
            let reply = post(&app, json!({ "query": query })).await;
            let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
            let body = reply.expect_code("UNAUTHENTICATED");
            assert!(body.get("data").is_none());
            assert!(message.contains("schema.graphql"), "{message}");
        }
        let reply = app
            .send(app.client.get(app.url("/graphql")).query(&[("query", "{ __schema { queryType { name } } }")]))
            .await;
        reply.expect_code("UNAUTHENTICATED");
        // What stays open to anyone: `__typename`, and the public fields.
        post(&app, json!({ "query": "{ __typename }" })).await.ok();
        // A token that no longer holds is anonymous too.
        let ann = app.sign_up("ann", "acme").await;
        app.as_user(&ann, "mutation { logOut }", json!({})).await.ok();
        app.as_user(&ann, "{ __schema { queryType { name } } }", json!({})).await.expect_code("UNAUTHENTICATED");
    }

    async fn a_document_read_once_is_still_judged_for_every_caller_and_request(app) {
        // The gateway keeps what reading a document found; who may run it, and what it
        // costs against a request's budget, are decided anew each time.
        let ann = app.sign_up("ann", "acme").await;
        let query = "{ __type(name: \"Contact\") { name } }";
        let mine = app.as_user(&ann, query, json!({})).await.ok();
        assert_eq!(mine["__type"]["name"], "Contact");
        post(&app, json!({ "query": query })).await.expect_code("UNAUTHENTICATED");
        assert_eq!(app.as_user(&ann, query, json!({})).await.ok()["__type"]["name"], "Contact");

        let mutation = "mutation { logOut }";
        post(&app, json!({ "query": mutation })).await.expect_code("UNAUTHENTICATED");
        for _ in 0..2 {
            let reply = app
                .send(app.client.get(app.url("/graphql")).bearer_auth(&ann.access_token).query(&[("query", mutation)]))
                .await;
            assert_eq!(reply.status, 405, "{}", reply.body);
        }

        let app = app.restarted_with(|config| config.limits.max_aliases = 3).await;
        let bob = app.sign_up("bob", "bobco").await;
        let three = "{ a: __typename b: __typename c: __typename }";
        for _ in 0..2 {
            post_as(&app, &bob, json!({ "query": three })).await.ok();
        }
        let reply = post_as(&app, &bob, json!([{ "query": three }, { "query": three }])).await;
        assert!(reply.body[0].get("errors").is_none(), "{}", reply.body);
        assert_eq!(reply.body[1]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{}", reply.body);
        let four = "{ a: __typename b: __typename c: __typename d: __typename }";
        for _ in 0..2 {
            post_as(&app, &bob, json!({ "query": four })).await.expect_code("QUERY_TOO_COMPLEX");
        }
    }
}

async fn operators_can_open_introspection_to_anonymous_callers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.limits.anonymous_introspection = true
    })
    .await;
    let data = post(&app, json!({ "query": STANDARD_INTROSPECTION }))
        .await
        .ok();
    assert!(
        data["__schema"]["types"]
            .as_array()
            .is_some_and(|t| t.len() > 50)
    );
    // Still one introspection field per request.
    post(&app, json!({ "query": "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }" }))
        .await
        .expect_code("QUERY_TOO_COMPLEX");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_can_open_introspection_to_anonymous_callers_sqlite() {
    operators_can_open_introspection_to_anonymous_callers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_can_open_introspection_to_anonymous_callers_postgres() {
    operators_can_open_introspection_to_anonymous_callers(Backend::Postgres).await;
}

/// Introspection answers are cached by what decides them: two callers who see the same
/// fields share an answer, callers who see different fields never do.
async fn introspection_answers_are_cached_per_audience(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.api_keys.api_key_introspection = true;
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    let (_, reader) = app.create_api_key(&ann, "reader", &["CONTACTS_READ"]).await;
    let (_, talker) = app
        .create_api_key(&ann, "talker", &["CONTACTS_READ", "CONVERSATIONS_READ"])
        .await;
    let query = "{ __type(name: \"Query\") { fields { name } } }";
    let names = |data: &Value| -> Vec<String> {
        data["__type"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|field| field["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(introspection_answers(&app).await, (0, 0));

    let computed = app.as_user(&ann, query, json!({})).await.ok();
    let cached = app.as_user(&ann, query, json!({})).await.ok();
    // Another person sees what Ann sees, from the same entry.
    let bobs = app.as_user(&bob, query, json!({})).await.ok();
    // The same question worded differently is computed afresh: it answers the same.
    let fresh = app
        .as_user(
            &ann,
            "query   {  __type(name: \"Query\") { fields { name } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(cached, computed);
    assert_eq!(bobs, computed);
    assert_eq!(fresh, cached);
    assert_eq!(introspection_answers(&app).await, (2, 2));

    // Keys see what their scopes open, each set of scopes its own answer.
    let reader_sees = app.as_key(&reader, query, json!({})).await.ok();
    let talker_sees = app.as_key(&talker, query, json!({})).await.ok();
    assert_eq!(
        app.as_key(&reader, query, json!({})).await.ok(),
        reader_sees
    );
    assert_eq!(
        app.as_key(&talker, query, json!({})).await.ok(),
        talker_sees
    );
    assert_eq!(introspection_answers(&app).await, (4, 4));
    let (person, reader_names, talker_names) =
        (names(&computed), names(&reader_sees), names(&talker_sees));
    assert!(person.contains(&"me".to_owned()) && !reader_names.contains(&"me".to_owned()));
    assert!(
        !reader_names.contains(&"conversations".to_owned()),
        "{reader_names:?}"
    );
    assert!(
        talker_names.contains(&"conversations".to_owned()),
        "{talker_names:?}"
    );
    assert_ne!(reader_sees, talker_sees);
    assert_ne!(reader_sees, computed);
    // And the person's answer was not replaced by a key's.
    assert_eq!(app.as_user(&ann, query, json!({})).await.ok(), computed);

    // Variables are part of the question.
    let by_name = "query($n: String!) { __type(name: $n) { name } }";
    let contact = app
        .as_user(&ann, by_name, json!({ "n": "Contact" }))
        .await
        .ok();
    let member = app
        .as_user(&ann, by_name, json!({ "n": "Member" }))
        .await
        .ok();
    assert_eq!(contact["__type"]["name"], "Contact");
    assert_eq!(member["__type"]["name"], "Member");
    // Operations that read data besides are not cached.
    let before = introspection_answers(&app).await;
    app.as_user(
        &ann,
        "{ __type(name: \"Query\") { name } me { user { id } } }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(introspection_answers(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_are_cached_per_audience_sqlite() {
    introspection_answers_are_cached_per_audience(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_are_cached_per_audience_postgres() {
    introspection_answers_are_cached_per_audience(Backend::Postgres).await;
}

/// A small response cap: answers over it are refused, and a mutation whose answer is
/// refused is rolled back.
async fn answers_over_the_size_cap_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.limits.max_response_bytes = 8_000).await;
    let ann = app.sign_up("ann", "acme").await;
    let notes = "n".repeat(3_000);
    let create =
        "mutation($n: String!) { a: createContact(input: { name: \"A\", notes: $n }) { notes } }";
    app.as_user(&ann, create, json!({ "n": notes })).await.ok();
    let reply = app
        .as_user(&ann, "{ contacts { edges { node { notes } } } }", json!({}))
        .await
        .ok();
    assert_eq!(
        reply["contacts"]["edges"][0]["node"]["notes"],
        notes.as_str()
    );

    let twice = "{ a: contacts { edges { node { notes } } } b: contacts { edges { node { notes } } } c: contacts { edges { node { notes } } } }";
    let reply = app.as_user(&ann, twice, json!({})).await;
    let size = bytes(&reply.body);
    let body = reply.expect_code("RESPONSE_TOO_LARGE");
    assert!(body.get("data").is_none() && size < 1_000, "{body}");

    // Three contacts' notes in one answer: too large, so none of them is created.
    let three = "mutation($n: String!) { a: createContact(input: { name: \"B\", notes: $n }) { notes } b: createContact(input: { name: \"C\", notes: $n }) { notes } c: createContact(input: { name: \"D\", notes: $n }) { notes } }";
    app.as_user(&ann, three, json!({ "n": notes }))
        .await
        .expect_code("RESPONSE_TOO_LARGE");
    let count = app
        .as_user(&ann, "{ contacts { totalCount } }", json!({}))
        .await
        .ok();
    assert_eq!(count["contacts"]["totalCount"], 1);

    // A batch's answers count together.
    let one = json!({ "query": "{ contacts { edges { node { notes } } } }" });
    let reply = post_as(&app, &ann, json!([one, one, one])).await;
    assert!(reply.body[0].get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body[2]["errors"][0]["extensions"]["code"], "RESPONSE_TOO_LARGE",
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_size_cap_are_refused_sqlite() {
    answers_over_the_size_cap_are_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_size_cap_are_refused_postgres() {
    answers_over_the_size_cap_are_refused(Backend::Postgres).await;
}

async fn errors_are_capped_with_a_count_of_the_rest(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.limits.max_errors = 3).await;
    let ten: String = (0..10)
        .map(|i| format!("a{i}: contacts {{ totalCount }} "))
        .collect();
    let reply = post(&app, json!({ "query": format!("{{ {ten} }}") })).await;
    let errors = reply.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 4, "{}", reply.body);
    assert!(
        errors[..3]
            .iter()
            .all(|e| e["extensions"]["code"] == "UNAUTHENTICATED")
    );
    assert_eq!(errors[3]["extensions"]["code"], "RESPONSE_TOO_LARGE");
    assert!(
        errors[3]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("7 more errors")),
        "{}",
        errors[3]
    );
    // Three errors are all sent.
    let three: String = (0..3)
        .map(|i| format!("a{i}: contacts {{ totalCount }} "))
        .collect();
    let reply = post(&app, json!({ "query": format!("{{ {three} }}") })).await;
    let errors = reply.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3);
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "UNAUTHENTICATED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_capped_with_a_count_of_the_rest_sqlite() {
    errors_are_capped_with_a_count_of_the_rest(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_capped_with_a_count_of_the_rest_postgres() {
    errors_are_capped_with_a_count_of_the_rest(Backend::Postgres).await;
}

/// The schema's size is read apart from the configured limits: however low they are set,
/// requests are judged by them rather than failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_complexity_limit_refuses_introspection_and_nothing_else() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.limits.max_complexity = 10;
        config.limits.anonymous_introspection = true;
    })
    .await;
    post(&app, json!({ "query": "{ __typename }" })).await.ok();
    post(
        &app,
        json!({ "query": "{ __type(name: \"Contact\") { name } }" }),
    )
    .await
    .ok();
    post(&app, json!({ "query": "{ __schema { types { name } } }" }))
        .await
        .expect_code("QUERY_TOO_COMPLEX");
}
