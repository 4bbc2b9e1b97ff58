//! Contacts: the life cycle, validation, pagination, and all-or-nothing mutations.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp};
use crate::on_both_databases;

const GET: &str = "query($id: ID!) { contact(id: $id) { id name email phone ownerId } }";
const PAGE: &str = "query($first: Int, $after: String, $order: ContactOrder, $filter: ContactFilter) {
    contacts(first: $first, after: $after, orderBy: $order, filter: $filter) {
        totalCount edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";

async fn all_pages(
    app: &TestApp,
    account: &Account,
    first: i64,
    order: Value,
) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut after = Value::Null;
    for _ in 0..50 {
        let data = app
            .as_user(
                account,
                PAGE,
                json!({ "first": first, "after": after, "order": order }),
            )
            .await
            .ok();
        let connection = &data["contacts"];
        let total = connection["totalCount"].as_u64().expect("total");
        for edge in connection["edges"].as_array().expect("edges") {
            names.push(edge["node"]["name"].as_str().expect("name").to_owned());
        }
        if !connection["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("flag")
        {
            return (names, total);
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    panic!("pagination never ended");
}

on_both_databases! {
    async fn a_contact_is_created_read_updated_and_deleted(app) {
        let ann = app.sign_up("ann", "acme").await;
        let data = app.as_user(&ann,
            "mutation { createContact(input: { name: \" Bob \", email: \"Bob@Example.com\", phone: \"+1 (555) 010-0000\" }) { id name email phone ownerId createdAt } }",
            json!({})).await.ok();
        let contact = &data["createContact"];
        assert_eq!(contact["name"], "Bob");
        assert_eq!(contact["email"], "bob@example.com");
        assert_eq!(contact["phone"], "+15550100000");
        assert_eq!(contact["ownerId"], ann.user_id.as_str());
        let id = contact["id"].as_str().expect("id").to_owned();

        let read = app.as_user(&ann, GET, json!({ "id": id })).await.ok();
        assert_eq!(read["contact"]["name"], "Bob");

        let updated = app.as_user(&ann,
            "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Robert\", phone: null }) { name email phone } }",
            json!({ "id": id })).await.ok();
        assert_eq!(updated["updateContact"]["name"], "Robert");
        assert_eq!(updated["updateContact"]["email"], "bob@example.com", "omitted fields stay");
        assert!(updated["updateContact"]["phone"].is_null(), "null clears");

        let deleted = app.as_user(&ann, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await.ok();
        assert_eq!(deleted["deleteContact"], id.as_str());
        app.as_user(&ann, GET, json!({ "id": id })).await.expect_code("NOT_FOUND");
        app.as_user(&ann, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await.expect_code("NOT_FOUND");
    }

    async fn a_page_answers_every_field_however_it_is_selected(app) {
        // A page reads the wide columns (email, phone, notes, external id, attributes)
        // only for the fields its selection names: every way of naming them must still
        // get the stored values.
        let ann = app.sign_up("ann", "acme").await;
        app.as_user(&ann,
            "mutation { createContact(input: { name: \"Wide\", email: \"wide@example.com\", phone: \"+1 555 010 0001\", notes: \"private\", externalId: \"crm-7\", attributes: { plan: \"gold\" } }) { id } }",
            json!({})).await.ok();
        let stored = json!({
            "email": "wide@example.com", "phone": "+15550100001", "notes": "private",
            "externalId": "crm-7", "attributes": { "plan": "gold" },
        });
        let fields = "email phone notes externalId attributes";
        let shapes = [
            format!("{{ contacts {{ edges {{ node {{ {fields} }} }} }} }}"),
            format!("{{ contacts {{ nodes {{ {fields} }} }} }}"),
            format!("{{ contacts {{ edges {{ node {{ ...Wide }} }} }} }} fragment Wide on Contact {{ {fields} }}"),
            format!("{{ contacts {{ ... on ContactConnection {{ edges {{ ... on ContactEdge {{ node {{ ... on Contact {{ {fields} }} }} }} }} }} }} }}"),
            format!("{{ contacts {{ ...Page }} }} fragment Page on ContactConnection {{ nodes {{ {fields} }} }}"),
        ];
        for query in &shapes {
            let data = app.as_user(&ann, query, json!({})).await.ok();
            let page = &data["contacts"];
            let node = if page["nodes"].is_array() { &page["nodes"][0] } else { &page["edges"][0]["node"] };
            assert_eq!(node, &stored, "{query}");
        }
        // Under other names, and beside fields of their own.
        let data = app.as_user(&ann,
            "{ contacts { edges { node { name e: email p: phone n: notes x: externalId a: attributes id } } } }",
            json!({})).await.ok();
        let node = &data["contacts"]["edges"][0]["node"];
        assert_eq!(node["name"], "Wide");
        for (alias, field) in [("e", "email"), ("p", "phone"), ("n", "notes"), ("x", "externalId"), ("a", "attributes")] {
            assert_eq!(node[alias], stored[field], "{alias}: {field}");
        }
        // One wide field selected reads that one; the page of names alone still answers.
        let data = app.as_user(&ann, "{ contacts { edges { node { name phone } } } }", json!({})).await.ok();
        assert_eq!(data["contacts"]["edges"][0]["node"], json!({ "name": "Wide", "phone": "+15550100001" }));
        let data = app.as_user(&ann, "{ contacts { edges { node { id name } } } }", json!({})).await.ok();
        assert_eq!(data["contacts"]["edges"][0]["node"]["name"], "Wide");
    }

    async fn contact_input_is_validated_field_by_field(app) {
        let ann = app.sign_up("ann", "acme").await;
        for (input, field) in [
            (json!({ "name": "" }), "name"),
            (json!({ "name": "x".repeat(201) }), "name"),
            (json!({ "name": "Bob", "email": "bob" }), "email"),
            (json!({ "name": "Bob", "phone": "call me maybe" }), "phone"),
            (json!({ "name": "Bob", "ownerId": "not-an-id" }), "ownerId"),
        ] {
            let body = app.as_user(&ann, "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }", json!({ "i": input }))
                .await.expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        let body = app.as_user(&ann, GET, json!({ "id": "42" })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "id");
        let none = app.as_user(&ann, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(none["contacts"]["totalCount"], 0);
    }

    async fn a_duplicate_email_within_an_organization_is_a_conflict(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        app.create_contact(&ann, "First", "same@example.com").await;
        let body = app.as_user(&ann, "mutation { createContact(input: { name: \"Second\", email: \"SAME@example.com\" }) { id } }", json!({}))
            .await.expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
        // Another organization may hold the same email.
        app.create_contact(&bob, "Theirs", "same@example.com").await;
        let other = app.create_contact(&ann, "Other", "other@example.com").await;
        app.as_user(&ann, "mutation($id: ID!) { updateContact(id: $id, input: { email: \"same@example.com\" }) { id } }", json!({ "id": other }))
            .await.expect_code("CONFLICT");
    }

    async fn contacts_page_through_every_row_once_in_either_order(app) {
        let ann = app.sign_up("ann", "acme").await;
        for i in 0..23 {
            app.create_contact(&ann, &format!("Contact {:02}", (i * 7) % 23), &format!("c{i}@example.com")).await;
        }
        let (newest_first, total) = all_pages(&app, &ann, 10, Value::Null).await;
        assert_eq!(total, 23);
        assert_eq!(newest_first.len(), 23);
        assert_eq!(newest_first.iter().collect::<HashSet<_>>().len(), 23, "no row twice");
        assert_eq!(newest_first[0], format!("Contact {:02}", (22 * 7) % 23), "newest first by default");

        let (by_name, _) = all_pages(&app, &ann, 4, json!({ "field": "NAME", "direction": "ASC" })).await;
        let mut sorted = by_name.clone();
        sorted.sort();
        assert_eq!(by_name, sorted);
        assert_eq!(by_name.len(), 23);

        let first_page = app.as_user(&ann, PAGE, json!({ "first": 5 })).await.ok();
        assert_eq!(first_page["contacts"]["pageInfo"]["hasPreviousPage"], false);
        let cursor = first_page["contacts"]["pageInfo"]["endCursor"].clone();
        let second = app.as_user(&ann, PAGE, json!({ "first": 5, "after": cursor })).await.ok();
        assert_eq!(second["contacts"]["pageInfo"]["hasPreviousPage"], true);
        // A cursor of one order is refused by another.
        let body = app.as_user(&ann, PAGE, json!({ "first": 5, "after": cursor, "order": { "field": "NAME" } }))
            .await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    }

    async fn page_size_and_cursors_are_checked(app) {
        let ann = app.sign_up("ann", "acme").await;
        for first in [0, -1, 101] {
            let body = app.as_user(&ann, PAGE, json!({ "first": first })).await.expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], "first");
        }
        app.as_user(&ann, PAGE, json!({ "first": 100 })).await.ok();
        let body = app.as_user(&ann, PAGE, json!({ "after": "garbage!" })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "after");

        // A cursor is base64, so it could carry the control characters refused in every
        // other string (PostgreSQL answered U+0000 in a name cursor with an internal error).
        let nul = URL_SAFE_NO_PAD.encode(format!("n1:{}:a\u{0}b", uuid::Uuid::nil()));
        let body = app.as_user(&ann, PAGE, json!({ "first": 1, "after": nul, "order": { "field": "NAME" } }))
            .await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    }

    async fn search_finds_by_name_or_email_case_insensitively(app) {
        let ann = app.sign_up("ann", "acme").await;
        app.create_contact(&ann, "Grace Hopper", "grace@navy.example.com").await;
        app.create_contact(&ann, "Alan Turing", "alan@bletchley.example.com").await;
        app.create_contact(&ann, "100% Real_Name", "pct@example.com").await;
        for (search, expected) in [("HOPPER", vec!["Grace Hopper"]), ("bletchley", vec!["Alan Turing"]), ("%", vec!["100% Real_Name"]), ("_", vec!["100% Real_Name"])] {
            let data = app.as_user(&ann, PAGE, json!({ "filter": { "search": search } })).await.ok();
            let names: Vec<&str> = data["contacts"]["edges"].as_array().expect("edges").iter()
                .map(|e| e["node"]["name"].as_str().expect("name")).collect();
            assert_eq!(names, expected, "search {search:?}");
            assert_eq!(data["contacts"]["totalCount"], expected.len());
        }
        let mine = app.as_user(&ann, PAGE, json!({ "filter": { "ownerId": ann.user_id } })).await.ok();
        assert_eq!(mine["contacts"]["totalCount"], 3);
    }

    async fn several_mutations_in_one_request_are_all_or_nothing(app) {
        let ann = app.sign_up("ann", "acme").await;
        app.create_contact(&ann, "Existing", "taken@example.com").await;
        let reply = app.as_user(&ann, "mutation {
            a: createContact(input: { name: \"Would be new\", email: \"new@example.com\" }) { id }
            b: createContact(input: { name: \"Duplicate\", email: \"taken@example.com\" }) { id } }", json!({})).await;
        let body = reply.expect_code("CONFLICT");
        assert!(body["data"].is_null(), "rolled-back results are not reported: {body}");
        let count = app.as_user(&ann, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(count["contacts"]["totalCount"], 1, "the first mutation was rolled back too");

        let both = app.as_user(&ann, "mutation {
            a: createContact(input: { name: \"One\" }) { id }
            b: createContact(input: { name: \"Two\" }) { id } }", json!({})).await.ok();
        assert!(both["a"]["id"].is_string() && both["b"]["id"].is_string());
        let count = app.as_user(&ann, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(count["contacts"]["totalCount"], 3);
    }

    async fn an_owner_must_be_a_member_of_the_organization(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let body = app.as_user(&ann, "mutation($o: ID!) { createContact(input: { name: \"X\", ownerId: $o }) { id } }", json!({ "o": bob.user_id }))
            .await.expect_code("NOT_FOUND");
        assert!(!body.to_string().contains("bob@"));
        let id = app.create_contact(&ann, "Mine", "mine@example.com").await;
        let data = app.as_user(&ann, "mutation($id: ID!) { updateContact(id: $id, input: { ownerId: null }) { ownerId } }", json!({ "id": id })).await.ok();
        assert!(data["updateContact"]["ownerId"].is_null());
    }
}
