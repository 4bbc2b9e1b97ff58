//! Connections (`XConnection`, `XEdge`, `PageInfo`) are resolved by tenantgate itself, not
//! by async-graphql's objects: every shape of selection a client may send must still get
//! the answer the spec gives, and the nodes inside keep their own guards.

use serde_json::{Value, json};

use crate::on_both_databases;

const SHAPES: &str = "query {
    contacts(first: 2) {
        __typename
        ...Counts
        edges { __typename cursor node { __typename id ... on Contact { name } } }
        edges { node { id email } }
        more: pageInfo { ...Pages }
        pageInfo { __typename hasPreviousPage startCursor }
        ... { nodes { name } }
        again: edges { edge: __typename }
    } }
    fragment Counts on ContactConnection { totalCount }
    fragment Pages on PageInfo { hasNextPage endCursor }";

fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

on_both_databases! {
    async fn every_shape_of_selection_is_answered_in_order(app) {
        let owner = app.sign_up("ann", "acme").await;
        for (name, email) in [("Ada", "ada@x.example"), ("Bo", "bo@x.example"), ("Cy", "cy@x.example")] {
            app.create_contact(&owner, name, email).await;
        }
        let data = app.as_user(&owner, SHAPES, json!({})).await.ok();
        let page = &data["contacts"];
        assert_eq!(
            keys(page),
            ["__typename", "totalCount", "edges", "more", "pageInfo", "nodes", "again"]
        );
        assert_eq!(page["__typename"], "ContactConnection");
        assert_eq!(page["totalCount"], 3);
        let edges = page["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 2);
        // The two selections of `edges` merge, edge by edge and node by node.
        for edge in edges {
            assert_eq!(keys(edge), ["__typename", "cursor", "node"]);
            assert_eq!(edge["__typename"], "ContactEdge");
            assert_eq!(keys(&edge["node"]), ["__typename", "id", "name", "email"]);
            assert_eq!(edge["node"]["__typename"], "Contact");
        }
        // Newest first.
        assert_eq!(edges[0]["node"]["name"], "Cy");
        assert_eq!(edges[1]["node"]["email"], "bo@x.example");
        assert_eq!(page["more"], json!({ "hasNextPage": true, "endCursor": edges[1]["cursor"] }));
        assert_eq!(
            page["pageInfo"],
            json!({ "__typename": "PageInfo", "hasPreviousPage": false, "startCursor": edges[0]["cursor"] })
        );
        assert_eq!(page["nodes"], json!([{ "name": "Cy" }, { "name": "Bo" }]));
        assert_eq!(page["again"], json!([{ "edge": "ContactEdge" }, { "edge": "ContactEdge" }]));

        // The cursor continues the page.
        let rest = app
            .as_user(
                &owner,
                "query($after: String) { contacts(first: 2, after: $after) { edges { node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
                json!({ "after": edges[1]["cursor"] }),
            )
            .await
            .ok();
        assert_eq!(rest["contacts"]["edges"], json!([{ "node": { "name": "Ada" } }]));
        let info = &rest["contacts"]["pageInfo"];
        assert_eq!(info["hasNextPage"], false);
        assert_eq!(info["hasPreviousPage"], true);
        assert_eq!(info["startCursor"], info["endCursor"]);

        // An empty page has no cursors.
        let none = app
            .as_user(
                &owner,
                "{ contacts(filter: { search: \"nobody\" }) { totalCount edges { cursor } nodes { id } pageInfo { startCursor endCursor hasNextPage } } }",
                json!({}),
            )
            .await
            .ok();
        assert_eq!(
            none["contacts"],
            json!({ "totalCount": 0, "edges": [], "nodes": [],
                    "pageInfo": { "startCursor": null, "endCursor": null, "hasNextPage": false } })
        );
    }

    async fn a_node_field_refused_inside_a_page_names_its_path(app) {
        let owner = app.sign_up("ann", "acme").await;
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        app.create_contact(&owner, "Ada", "ada@x.example").await;
        app.create_contact(&owner, "Bo", "bo@x.example").await;
        // Email is personal data: a VIEWER gets the names, and an error for each email
        // that says where it was.
        let reply = app
            .as_user(&viewer, "{ contacts { edges { node { name email } } nodes { email } } }", json!({}))
            .await;
        let body = reply.expect_code("FORBIDDEN");
        assert!(!body.to_string().contains("@x.example"), "{body}");
        let paths: Vec<&Value> = body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|error| &error["path"])
            .collect();
        for at in [
            json!(["contacts", "edges", 0, "node", "email"]),
            json!(["contacts", "edges", 1, "node", "email"]),
            json!(["contacts", "nodes", 0, "email"]),
            json!(["contacts", "nodes", 1, "email"]),
        ] {
            assert!(paths.contains(&&at), "no error at {at}: {body}");
        }
        assert_eq!(body["data"]["contacts"]["edges"][0]["node"]["name"], "Bo");
        assert_eq!(body["data"]["contacts"]["edges"][1]["node"]["name"], "Ada");
    }

    async fn a_nested_page_knows_it_goes_on_only_when_asked(app) {
        let owner = app.sign_up("ann", "acme").await;
        let ada = app.create_contact(&owner, "Ada", "ada@x.example").await;
        for channel in ["SMS", "EMAIL"] {
            app.as_user(
                &owner,
                "mutation($c: ID!, $ch: ChannelKind!) { startConversation(input: { contactId: $c, channel: $ch }) { id } }",
                json!({ "c": ada, "ch": channel }),
            )
            .await
            .ok();
        }
        // The extra row that tells whether the list goes on is read only for `pageInfo`,
        // wherever it is selected (here through a fragment); the page itself is the same.
        let with_info = app
            .as_user(
                &owner,
                "{ contacts { edges { node { conversations(first: 1) { ...Info edges { node { channel } } } } } } }
                 fragment Info on ConversationConnection { pageInfo { hasNextPage } }",
                json!({}),
            )
            .await
            .ok();
        let page = &with_info["contacts"]["edges"][0]["node"]["conversations"];
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        assert_eq!(page["edges"], json!([{ "node": { "channel": "EMAIL" } }]));
        let without = app
            .as_user(
                &owner,
                "{ contacts { edges { node { conversations(first: 1) { edges { node { channel } } } } } } }",
                json!({}),
            )
            .await
            .ok();
        assert_eq!(
            without["contacts"]["edges"][0]["node"]["conversations"]["edges"],
            json!([{ "node": { "channel": "EMAIL" } }])
        );
        let last = app
            .as_user(
                &owner,
                "{ contacts { edges { node { conversations(first: 2) { pageInfo { hasNextPage } edges { node { channel } } } } } } }",
                json!({}),
            )
            .await
            .ok();
        let page = &last["contacts"]["edges"][0]["node"]["conversations"];
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
        assert_eq!(page["edges"].as_array().map(Vec::len), Some(2));
    }
}
