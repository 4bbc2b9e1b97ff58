//! GraphQL over HTTP: methods, media types, status codes, bad bodies.

use serde_json::json;

use crate::on_both_databases;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

on_both_databases! {
    async fn queries_work_over_get_and_mutations_answer_405(app) {
        let reply = app.send(app.client.get(app.url("/graphql")).query(&[("query", "{ __typename }")])).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["data"]["__typename"], "Query");

        let response = app.client.get(app.url("/graphql"))
            .query(&[("query", "mutation { logOut }")])
            .send().await.expect("request");
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));

        // A named mutation picked out of a document with a query is refused too.
        let reply = app.send(app.client.get(app.url("/graphql")).query(&[
            ("query", "query Q { __typename } mutation M { logOut }"),
            ("operationName", "M"),
        ])).await;
        assert_eq!(reply.status, 405);
    }

    async fn browsers_get_graphiql(app) {
        let response = app.client.get(app.url("/graphql")).header("accept", "text/html").send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200);
        let policy = response.headers()["content-security-policy"].to_str().expect("policy").to_owned();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-eval"), "{policy}");
        let page = response.text().await.expect("page");
        assert!(page.contains("graphiql"));
        // Every script and style comes from the gateway itself, with its integrity: the page
        // works without internet access and loads nothing it did not pin.
        let mut assets = 0;
        for part in page.split(['"']).filter(|part| part.starts_with("/graphiql/")) {
            let asset = app.client.get(app.url(part)).send().await.expect("asset");
            assert_eq!(asset.status().as_u16(), 200, "{part}");
            assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
            assets += 1;
        }
        assert_eq!(assets, 5, "React, ReactDOM, GraphiQL, its style and the start-up script");
        assert!(!page.contains("https://"), "nothing from elsewhere");
        let missing = app.client.get(app.url("/graphiql/other.js")).send().await.expect("asset");
        assert_eq!(missing.status().as_u16(), 404);
    }

    async fn posts_must_be_json(app) {
        for content_type in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"] {
            let reply = app.send(app.client.post(app.url("/graphql"))
                .header("content-type", content_type)
                .body("{\"query\":\"mutation { logOut }\"}")).await;
            assert_eq!(reply.status, 415, "{content_type}");
        }
        let reply = app.send(app.client.post(app.url("/graphql"))
            .header("content-type", "application/json; charset=utf-8")
            .body("{\"query\":\"{ __typename }\"}")).await;
        assert_eq!(reply.status, 200);
    }

    async fn malformed_bodies_are_bad_input(app) {
        for body in ["{", "not json", "[1, 2]", "{\"query\": 42}", "{\"query\": \"{ __typename }\", \"variables\": [1]}", "{}"] {
            let reply = app.send(app.client.post(app.url("/graphql"))
                .header("content-type", "application/json").body(body)).await;
            assert_eq!(reply.status, 400, "{body}: {}", reply.body);
            assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{body}");
        }
        let reply = app.send(app.client.post(app.url("/graphql")).json(&json!({ "query": "{ __typename" }))).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
        let reply = app.send(app.client.post(app.url("/graphql")).json(&json!({ "query": "query A { __typename } query B { __typename }" }))).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));
        assert_eq!(reply.body["errors"][0]["extensions"]["field"], "operationName");
    }

    async fn the_graphql_response_media_type_gets_spec_status_codes(app) {
        let reply = app.send(app.client.post(app.url("/graphql")).header("accept", GRAPHQL_RESPONSE)
            .json(&json!({ "query": "{ nope }" }))).await;
        assert_eq!(reply.status, 400);
        assert!(reply.content_type.starts_with(GRAPHQL_RESPONSE));
        assert!(reply.body.get("data").is_none());
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"));

        let reply = app.send(app.client.post(app.url("/graphql")).header("accept", GRAPHQL_RESPONSE)
            .json(&json!({ "query": "{ me { user { id } } }" }))).await;
        assert_eq!(reply.status, 200, "execution started: {}", reply.body);
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));

        // Legacy clients get 200 with the errors in the body.
        let reply = app.send(app.client.post(app.url("/graphql")).header("accept", "application/json")
            .json(&json!({ "query": "{ nope }" }))).await;
        assert_eq!(reply.status, 200);
        assert!(reply.content_type.starts_with("application/json"));

        let reply = app.send(app.client.post(app.url("/graphql")).header("accept", "image/png")
            .json(&json!({ "query": "{ __typename }" }))).await;
        assert_eq!(reply.status, 406);
    }

    async fn health_readiness_and_request_ids(app) {
        let health = app.client.get(app.url("/healthz")).send().await.expect("healthz");
        assert_eq!(health.status().as_u16(), 200);
        let ready = app.client.get(app.url("/readyz")).send().await.expect("readyz");
        assert_eq!(ready.status().as_u16(), 200);
        let response = app.client.post(app.url("/graphql")).json(&json!({ "query": "{ __typename }" })).send().await.expect("graphql");
        let id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(id.len(), 36, "a request id is returned");
        let response = app.client.post(app.url("/graphql")).header("x-request-id", "client-chosen-id")
            .json(&json!({ "query": "{ __typename }" })).send().await.expect("graphql");
        assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("client-chosen-id"));
        // A client's id that is long or not plain text is replaced, not echoed or logged.
        let long = "a".repeat(65);
        for unfit in [long.as_str(), "id with spaces", "<script>", "id;rm"] {
            let response = app.client.post(app.url("/graphql")).header("x-request-id", unfit)
                .json(&json!({ "query": "{ __typename }" })).send().await.expect("graphql");
            let echoed = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            assert_ne!(echoed, unfit);
            assert_eq!(echoed.len(), 36, "our own id instead of {unfit:?}");
        }
    }

    async fn field_suggestions_are_off(app) {
        let reply = app.send(app.client.post(app.url("/graphql")).json(&json!({ "query": "{ contact { id } organizationn { id } }" }))).await;
        let text = reply.body.to_string();
        assert!(!text.contains("Did you mean"), "{text}");
    }
}

on_both_databases! {
    async fn internal_errors_are_masked_and_carry_the_request_id(app) {
        let ann = app.sign_up("ann", "acme").await;
        let admin = crate::helpers::connect_admin(&app.database_url).await;
        // Renamed rather than dropped: other tables' keys depend on it, and follow a rename.
        sea_orm::ConnectionTrait::execute_unprepared(&admin, "ALTER TABLE contact RENAME TO contact_gone").await.expect("rename");
        let response = app.client.post(app.url("/graphql"))
            .bearer_auth(&ann.access_token)
            .json(&json!({ "query": "{ contacts { totalCount } }" }))
            .send().await.expect("request");
        let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body: serde_json::Value = response.json().await.expect("json");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "INTERNAL");
        assert_eq!(error["message"], "internal error");
        assert_eq!(error["extensions"]["requestId"], request_id.as_str());
        let text = body.to_string().to_lowercase();
        for detail in ["contact\"", "relation", "no such table", "sql", "select"] {
            assert!(!text.contains(detail), "leaked {detail:?}: {text}");
        }
    }
}

on_both_databases! {
    async fn a_failed_nullable_root_field_answers_null_under_its_key(app) {
        let ann = app.sign_up("ann", "acme").await;
        let missing = uuid::Uuid::now_v7().to_string();
        let reply = app.as_user(&ann, "query($id: ID!) { contact(id: $id) { id } }", json!({ "id": missing })).await;
        assert_eq!(reply.code(), Some("NOT_FOUND"));
        assert_eq!(reply.body["data"], json!({ "contact": null }));
        let reply = app.as_user(&ann, "query($id: ID!) { organization { slug } c: contact(id: $id) { id } }", json!({ "id": missing })).await;
        assert_eq!(reply.body["data"], json!({ "organization": { "slug": "acme" }, "c": null }));
        // A non-null root field that fails takes `data` with it, as the spec says.
        let reply = app.anonymous("{ organization { slug } }", json!({})).await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
        assert!(reply.body["data"].is_null());
        // A log-out with an access token is audited in the organization.
        app.as_user(&ann, "mutation { logOut }", json!({})).await.ok();
        assert_eq!(app.count_rows("SELECT count(*) FROM audit_log WHERE action = 'session.logged_out'").await, 1);
    }
}
