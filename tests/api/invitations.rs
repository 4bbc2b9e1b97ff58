//! The invitation life cycle: new people, existing users, wrong email, expiry, reuse,
//! revocation, resending, duplicates and the seat limit.

use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_databases;

const ACCEPT: &str = "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) {
    accessToken user { id email } organization { id slug } } }";

async fn accept_new(app: &TestApp, token: &str, name: &str) -> crate::helpers::Reply {
    app.anonymous(
        ACCEPT,
        json!({ "i": { "token": token, "name": name, "password": "long enough password" } }),
    )
    .await
}

on_both_databases! {
    async fn a_new_person_accepts_and_gets_an_account_a_session_and_the_role(app) {
        let owner = app.sign_up("owner", "acme").await;
        let token = app.invite(&owner, "Newbie@Example.com", "MANAGER").await;
        assert!(token.starts_with("tgi_") && token.len() > 60);
        let data = accept_new(&app, &token, "Newbie").await.ok();
        let payload = &data["acceptInvitation"];
        assert_eq!(payload["user"]["email"], "newbie@example.com");
        assert_eq!(payload["organization"]["slug"], "acme");
        let access = payload["accessToken"].as_str().expect("token");
        let me = app.graphql(Some(access), None, "{ me { memberships { role organization { slug } } } organization { slug } }", json!({})).await.ok();
        assert_eq!(me["me"]["memberships"][0]["role"], "MANAGER");
        assert_eq!(me["organization"]["slug"], "acme");
        // The token works once.
        accept_new(&app, &token, "Again").await.expect_code("NOT_FOUND");
        let listed = app.as_user(&owner, "{ invitations { edges { node { email role status acceptedAt } } } }", json!({})).await.ok();
        assert_eq!(listed["invitations"]["edges"][0]["node"]["status"], "ACCEPTED");
    }

    async fn an_existing_user_accepts_signed_in_with_the_matching_email(app) {
        let owner = app.sign_up("owner", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let token = app.invite(&owner, &bob.email, "MEMBER").await;
        // Not signed in: the account exists, so sign in first.
        accept_new(&app, &token, "Bob").await.expect_code("UNAUTHENTICATED");
        // Signed in as someone else: refused.
        let carol = app.sign_up("carol", "carolco").await;
        app.as_user(&carol, ACCEPT, json!({ "i": { "token": token } })).await.expect_code("FORBIDDEN");
        // Signed in as Bob: the membership is added, same payload shape.
        let data = app.as_user(&bob, ACCEPT, json!({ "i": { "token": token } })).await.ok();
        assert_eq!(data["acceptInvitation"]["organization"]["id"], owner.organization_id.as_str());
        let me = app.as_user(&bob, "{ me { memberships { role organization { slug } } } }", json!({})).await.ok();
        let slugs: Vec<&str> = me["me"]["memberships"].as_array().expect("list").iter().map(|m| m["organization"]["slug"].as_str().expect("slug")).collect();
        assert_eq!(slugs, ["bobco", "acme"]);
        // Bob's own organization is untouched and he now works in both.
        app.graphql(Some(&bob.access_token), Some(&owner.organization_id), "{ contacts { totalCount } }", json!({})).await.ok();
    }

    async fn expired_revoked_and_malformed_tokens_are_refused(app) {
        let owner = app.sign_up("owner", "acme").await;
        let expired = app.invite(&owner, "late@example.com", "VIEWER").await;
        app.backdate("invitation", "expires_at").await;
        let body = accept_new(&app, &expired, "Late").await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "token");
        let listed = app.as_user(&owner, "{ invitations(status: EXPIRED) { totalCount } }", json!({})).await.ok();
        assert_eq!(listed["invitations"]["totalCount"], 1);

        let revoked = app.invite(&owner, "gone@example.com", "VIEWER").await;
        let id = app.as_user(&owner, "{ invitations(status: PENDING) { edges { node { id email } } } }", json!({})).await.ok()["invitations"]["edges"][0]["node"]["id"].clone();
        app.as_user(&owner, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": id })).await.ok();
        accept_new(&app, &revoked, "Gone").await.expect_code("NOT_FOUND");
        app.as_user(&owner, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": id })).await.expect_code("CONFLICT");

        for bad in ["tgi_nonsense", "", "tgr_abc", &format!("{}x", &revoked[..revoked.len() - 1])] {
            accept_new(&app, bad, "Nobody").await.expect_code("NOT_FOUND");
        }
        // Nobody was created along the way.
        app.anonymous("mutation { logIn(input: { email: \"late@example.com\", password: \"long enough password\" }) { accessToken } }", json!({})).await.expect_code("UNAUTHENTICATED");
    }

    async fn resending_replaces_the_token(app) {
        let owner = app.sign_up("owner", "acme").await;
        let old = app.invite(&owner, "twice@example.com", "VIEWER").await;
        let id = app.as_user(&owner, "{ invitations { edges { node { id } } } }", json!({})).await.ok()["invitations"]["edges"][0]["node"]["id"].clone();
        let data = app.as_user(&owner, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { status expiresAt } } }", json!({ "id": id })).await.ok();
        assert_eq!(data["resendInvitation"]["invitation"]["status"], "PENDING");
        let new = app.mailed_token("twice@example.com", "invitation").await;
        assert_ne!(old, new);
        accept_new(&app, &old, "Twice").await.expect_code("NOT_FOUND");
        accept_new(&app, &new, "Twice").await.ok();
        // An accepted invitation cannot be resent.
        app.as_user(&owner, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id } } }", json!({ "id": id })).await.expect_code("CONFLICT");
        // An expired one can, and comes back to life.
        let late = app.invite(&owner, "late@example.com", "VIEWER").await;
        app.backdate("invitation", "expires_at").await;
        accept_new(&app, &late, "Late").await.expect_code("BAD_USER_INPUT");
        let pending = app.as_user(&owner, "{ invitations(status: EXPIRED) { edges { node { id } } } }", json!({})).await.ok();
        let late_id = pending["invitations"]["edges"][0]["node"]["id"].clone();
        let renewed = app.as_user(&owner, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { status } } }", json!({ "id": late_id })).await.ok();
        assert_eq!(renewed["resendInvitation"]["invitation"]["status"], "PENDING");
        accept_new(&app, &app.mailed_token("late@example.com", "invitation").await, "Late").await.ok();
    }

    async fn duplicates_and_existing_members_are_conflicts(app) {
        let owner = app.sign_up("owner", "acme").await;
        app.invite(&owner, "dup@example.com", "VIEWER").await;
        let invite = "mutation($e: String!) { inviteMember(input: { email: $e, role: VIEWER }) { invitation { id } } }";
        let body = app.as_user(&owner, invite, json!({ "e": "DUP@example.com" })).await.expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
        let body = app.as_user(&owner, invite, json!({ "e": owner.email })).await.expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
        app.as_user(&owner, invite, json!({ "e": "not an email" })).await.expect_code("BAD_USER_INPUT");
    }

    async fn members_plus_open_invitations_never_exceed_the_seat_limit(app) {
        let owner = app.sign_up("owner", "acme").await;
        app.as_user(&owner, "mutation { updateOrganization(input: { seatLimit: 3 }) { seatLimit } }", json!({})).await.ok();
        app.join(&owner, "second", "MEMBER").await;
        let open = app.invite(&owner, "third@example.com", "VIEWER").await;
        let invite = "mutation($e: String!) { inviteMember(input: { email: $e, role: VIEWER }) { invitation { id } } }";
        let body = app.as_user(&owner, invite, json!({ "e": "fourth@example.com" })).await.expect_code("FORBIDDEN");
        assert!(body["errors"][0]["message"].as_str().expect("message").contains("seats"));
        // The seat limit cannot drop below what is in use.
        app.as_user(&owner, "mutation { updateOrganization(input: { seatLimit: 2 }) { seatLimit } }", json!({})).await.expect_code("BAD_USER_INPUT");
        // Accepting uses the seat the invitation held.
        accept_new(&app, &open, "Third").await.ok();
        app.as_user(&owner, invite, json!({ "e": "fourth@example.com" })).await.expect_code("FORBIDDEN");
        let count = app.as_user(&owner, "{ members { totalCount } }", json!({})).await.ok();
        assert_eq!(count["members"]["totalCount"], 3);
    }

    async fn invitations_grant_at_most_the_inviters_role(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let invite = "mutation($r: Role!) { inviteMember(input: { email: \"x@example.com\", role: $r }) { invitation { id } } }";
        app.as_user(&admin, invite, json!({ "r": "OWNER" })).await.expect_code("FORBIDDEN");
        app.as_user(&admin, invite, json!({ "r": "ADMIN" })).await.ok();
    }
}
