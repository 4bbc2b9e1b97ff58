//! Organizations: switching between them, creating, updating, the public look-up.

use serde_json::json;

use crate::on_both_databases;

const CURRENT: &str = "{ organization { id name slug } }";

on_both_databases! {
    async fn a_member_switches_organizations_with_the_header(app) {
        let ann = app.sign_up("ann", "acme").await;
        let created = app
            .as_user(&ann, "mutation { createOrganization(input: { name: \"Second\", slug: \"second\" }) { id slug } }", json!({}))
            .await
            .ok();
        let second = created["createOrganization"]["id"].as_str().expect("id").to_owned();

        // No header: the default organization.
        let data = app.as_user(&ann, CURRENT, json!({})).await.ok();
        assert_eq!(data["organization"]["slug"], "acme");
        // The header switches.
        let data = app.graphql(Some(&ann.access_token), Some(&second), CURRENT, json!({})).await.ok();
        assert_eq!(data["organization"]["slug"], "second");
        // Contacts follow the organization.
        app.graphql(Some(&ann.access_token), Some(&second),
            "mutation { createContact(input: { name: \"In second\" }) { id } }", json!({})).await.ok();
        let first_list = app.as_user(&ann, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(first_list["contacts"]["totalCount"], 0);
        let second_list = app.graphql(Some(&ann.access_token), Some(&second), "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(second_list["contacts"]["totalCount"], 1);
        // Both memberships are listed.
        let me = app.as_user(&ann, "{ me { memberships { role organization { slug } } } }", json!({})).await.ok();
        let slugs: Vec<&str> = me["me"]["memberships"].as_array().expect("list").iter()
            .map(|m| m["organization"]["slug"].as_str().expect("slug")).collect();
        assert_eq!(slugs, ["acme", "second"]);
    }

    async fn a_non_member_is_forbidden_and_sees_nothing(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        app.create_contact(&bob, "Secret Person", "secret@bobco.example.com").await;
        for query in [CURRENT, "{ contacts { totalCount edges { node { name } } } }"] {
            let reply = app.graphql(Some(&ann.access_token), Some(&bob.organization_id), query, json!({})).await;
            let body = reply.expect_code("FORBIDDEN");
            assert!(!body.to_string().contains("Secret Person"));
            assert!(!body.to_string().contains("bobco Inc."));
        }
        let reply = app.graphql(Some(&ann.access_token), Some(&bob.organization_id),
            "mutation { createContact(input: { name: \"Intruder\" }) { id } }", json!({})).await;
        reply.expect_code("FORBIDDEN");
        let count = app.as_user(&bob, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(count["contacts"]["totalCount"], 1);
    }

    async fn a_malformed_organization_header_is_bad_input(app) {
        let ann = app.sign_up("ann", "acme").await;
        let body = app.graphql(Some(&ann.access_token), Some("acme"), CURRENT, json!({})).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "X-Organization-Id");
    }

    async fn anonymous_callers_get_no_organization(app) {
        app.sign_up("ann", "acme").await;
        app.anonymous(CURRENT, json!({})).await.expect_code("UNAUTHENTICATED");
        app.anonymous("{ contacts { totalCount } }", json!({})).await.expect_code("UNAUTHENTICATED");
        app.anonymous("{ me { user { id } } }", json!({})).await.expect_code("UNAUTHENTICATED");
    }

    async fn the_public_look_up_shows_only_public_fields(app) {
        let ann = app.sign_up("ann", "acme").await;
        let data = app.anonymous("{ organizationBySlug(slug: \"ACME\") { id name slug } }", json!({})).await.ok();
        assert_eq!(data["organizationBySlug"]["id"], ann.organization_id.as_str());
        assert_eq!(data["organizationBySlug"]["slug"], "acme");
        let missing = app.anonymous("{ organizationBySlug(slug: \"nope\") { id } }", json!({})).await.ok();
        assert!(missing["organizationBySlug"].is_null());
        // Nothing but the public fields exists on the type.
        app.anonymous("{ organizationBySlug(slug: \"acme\") { createdAt } }", json!({})).await.expect_code("BAD_USER_INPUT");
    }

    async fn owners_update_their_organization_and_slugs_stay_unique(app) {
        let ann = app.sign_up("ann", "acme").await;
        app.sign_up("bob", "bobco").await;
        let data = app.as_user(&ann, "mutation { updateOrganization(input: { name: \"Acme Ltd\", slug: \"acme-ltd\" }) { name slug } }", json!({})).await.ok();
        assert_eq!(data["updateOrganization"]["name"], "Acme Ltd");
        assert_eq!(data["updateOrganization"]["slug"], "acme-ltd");
        let body = app.as_user(&ann, "mutation { updateOrganization(input: { slug: \"bobco\" }) { slug } }", json!({})).await.expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "slug");
        let body = app.as_user(&ann, "mutation { createOrganization(input: { name: \"X\", slug: \"bobco\" }) { slug } }", json!({})).await.expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "slug");
        let body = app.as_user(&ann, "mutation { updateOrganization(input: { name: \"\" }) { slug } }", json!({})).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "name");
    }
}
