//! Authorization inside an organization: the second paths an outside review found to
//! effects whose first path checked correctly. Each test names the hole it closes.

use serde_json::{Value, json};

use crate::helpers::{Account, TestApp};
use crate::on_both_databases;

/// The ids of the invitations in `admin`'s organization with this status.
async fn invitation_id(app: &TestApp, admin: &Account, email: &str) -> String {
    let data = app
        .as_user(
            admin,
            "{ invitations { edges { node { id email } } } }",
            json!({}),
        )
        .await
        .ok();
    data["invitations"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|edge| edge["node"]["email"] == email)
        .and_then(|edge| edge["node"]["id"].as_str())
        .expect("the invitation")
        .to_owned()
}

async fn accept_new(app: &TestApp, token: &str, name: &str) -> crate::helpers::Reply {
    app.anonymous(
        "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { accessToken organization { id } } }",
        json!({ "i": { "token": token, "name": name, "password": "a long enough password" } }),
    )
    .await
}

async fn mails_to(app: &TestApp, email: &str) -> i64 {
    app.count_rows(&format!(
        "SELECT count(*) FROM outbox WHERE recipient = '{email}'"
    ))
    .await
}

on_both_databases! {
    async fn an_admin_cannot_resend_or_revoke_an_owner_invitation(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        app.invite(&owner, "heir@example.com", "OWNER").await;
        let id = invitation_id(&app, &owner, "heir@example.com").await;
        let resend = app
            .as_user(&admin, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id } } }", json!({ "id": id }))
            .await
            .expect_code("FORBIDDEN");
        assert!(!resend.to_string().contains("tgi_"));
        app.as_user(&admin, "mutation($id: ID!) { revokeInvitation(id: $id) { id } }", json!({ "id": id }))
            .await
            .expect_code("FORBIDDEN");
        // Nothing changed: still pending, one mail, and the owner's link still works.
        assert_eq!(mails_to(&app, "heir@example.com").await, 1);
        let listed = app.as_user(&owner, "{ invitations(status: PENDING) { totalCount } }", json!({})).await.ok();
        assert_eq!(listed["invitations"]["totalCount"], 1);
        // An admin still resends and revokes invitations up to their own role.
        app.invite(&owner, "peer@example.com", "ADMIN").await;
        let peer = invitation_id(&app, &owner, "peer@example.com").await;
        app.as_user(&admin, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id } } }", json!({ "id": peer }))
            .await
            .ok();
        app.as_user(&admin, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": peer }))
            .await
            .ok();
    }

    async fn invitation_tokens_reach_only_the_invited_mailbox(app) {
        let owner = app.sign_up("owner", "acme").await;
        let invited = app
            .as_user(&owner, "mutation { inviteMember(input: { email: \"x@example.com\", role: VIEWER }) { invitation { id email role status } } }", json!({}))
            .await
            .ok();
        let id = invited["inviteMember"]["invitation"]["id"].clone();
        let resent = app
            .as_user(&owner, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id status expiresAt } } }", json!({ "id": id }))
            .await
            .ok();
        for answer in [&invited, &resent] {
            assert!(!answer.to_string().contains("tgi_"), "no token in answers: {answer}");
        }
        // The API has no field that could carry one.
        let introspected = app
            .as_user(&owner, "{ __type(name: \"InvitationPayload\") { fields { name } } }", json!({}))
            .await
            .ok();
        assert_eq!(introspected["__type"]["fields"], json!([{ "name": "invitation" }]));
        // The mail carries the link, and it works.
        let token = app.mailed_token("x@example.com", "invitation").await;
        assert!(token.starts_with("tgi_"));
        accept_new(&app, &token, "Xavier").await.ok();
    }

    async fn removing_a_member_withdraws_their_invitations_and_keys(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let token = app.invite(&admin, "friend@example.com", "ADMIN").await;
        let (_, key) = app.create_api_key(&admin, "admin's key", &["CONTACTS_READ"]).await;
        app.as_key(&key, "{ contacts { totalCount } }", json!({})).await.ok();

        app.as_user(&owner, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": admin.user_id }))
            .await
            .ok();
        // The removed admin's friend cannot bring them (or anyone) back as ADMIN.
        accept_new(&app, &token, "Friend").await.expect_code("NOT_FOUND");
        app.as_key(&key, "{ contacts { totalCount } }", json!({})).await.expect_code("UNAUTHENTICATED");
        let audit = app
            .as_user(&owner, "{ auditLog(filter: { action: \"member.removed\" }) { edges { node { summary } } } }", json!({}))
            .await
            .ok();
        let withdrawn = &audit["auditLog"]["edges"][0]["node"]["summary"]["withdrawn"];
        assert_eq!(withdrawn["revokedInvitations"].as_array().map(Vec::len), Some(1), "{audit}");
        assert_eq!(withdrawn["revokedApiKeys"].as_array().map(Vec::len), Some(1), "{audit}");
        assert_eq!(withdrawn["keptApiKeys"], false);
    }

    async fn a_remover_may_keep_the_removed_members_keys(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let (_, key) = app.create_api_key(&admin, "integration", &["CONTACTS_READ"]).await;
        app.as_user(&owner, "mutation($u: ID!) { removeMember(userId: $u, keepApiKeys: true) }", json!({ "u": admin.user_id }))
            .await
            .ok();
        app.as_key(&key, "{ contacts { totalCount } }", json!({})).await.ok();
        let audit = app
            .as_user(&owner, "{ auditLog(filter: { action: \"member.removed\" }) { edges { node { summary } } } }", json!({}))
            .await
            .ok();
        assert_eq!(audit["auditLog"]["edges"][0]["node"]["summary"]["withdrawn"]["keptApiKeys"], true, "{audit}");
    }

    async fn demotion_withdraws_what_the_new_role_cannot_grant(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let above = app.invite(&admin, "above@example.com", "ADMIN").await;
        let (_, key) = app.create_api_key(&admin, "admin's key", &["CONTACTS_READ"]).await;
        app.as_user(&owner, "mutation($u: ID!) { updateMemberRole(userId: $u, role: MANAGER) { role } }", json!({ "u": admin.user_id }))
            .await
            .ok();
        // A MANAGER invites nobody: every invitation they sent is withdrawn, and the keys
        // they may still hold stop working.
        accept_new(&app, &above, "Above").await.expect_code("NOT_FOUND");
        app.as_key(&key, "{ contacts { totalCount } }", json!({})).await.expect_code("UNAUTHENTICATED");

        // A former owner keeps invitations up to ADMIN but not an OWNER one.
        let second = app.join(&owner, "second", "OWNER").await;
        let keeps = app.invite(&second, "keeps@example.com", "ADMIN").await;
        let loses = app.invite(&second, "loses@example.com", "OWNER").await;
        app.as_user(&owner, "mutation($u: ID!) { updateMemberRole(userId: $u, role: ADMIN) { role } }", json!({ "u": second.user_id }))
            .await
            .ok();
        accept_new(&app, &loses, "Loses").await.expect_code("NOT_FOUND");
        accept_new(&app, &keeps, "Keeps").await.ok();
    }

    async fn accepting_rechecks_that_the_inviter_may_still_grant(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let token = app.invite(&admin, "late@example.com", "ADMIN").await;
        // The inviter's standing changes behind the API's back: acceptance still asks.
        app.execute_with(
            "UPDATE membership SET role = 'member' WHERE user_id = $1",
            vec![uuid::Uuid::parse_str(&admin.user_id).expect("id").into()],
        )
        .await;
        let body = accept_new(&app, &token, "Late").await.expect_code("FORBIDDEN");
        assert!(body["errors"][0]["message"].as_str().expect("message").contains("invite you again"));
        let members = app.as_user(&owner, "{ members { totalCount } }", json!({})).await.ok();
        assert_eq!(members["members"]["totalCount"], 2, "nobody joined");
        assert_eq!(
            app.count_rows("SELECT count(*) FROM \"user\" WHERE email = 'late@example.com'").await,
            0,
            "no account was left behind"
        );
    }

    async fn identify_contact_follows_the_ownership_rule_of_update_contact(app) {
        let owner = app.sign_up("owner", "acme").await;
        let member = app.join(&owner, "meg", "MEMBER").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        app.as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { externalId: \"crm-1\" }) { id } }", json!({ "id": dana }))
            .await
            .ok();
        let identify = "mutation($i: IdentifyContactInput!) { identifyContact(input: $i) { created contact { id } } }";
        for input in [
            json!({ "externalId": "crm-1", "name": "Mallory", "tags": ["hijacked"], "attributes": { "x": 1 } }),
            json!({ "email": "dana@customer.example.com", "phone": "+15550109999" }),
        ] {
            app.as_user(&member, identify, json!({ "i": input })).await.expect_code("FORBIDDEN");
        }
        let after = app
            .as_user(&owner, "query($id: ID!) { contact(id: $id) { name phone tags attributes } }", json!({ "id": dana }))
            .await
            .ok();
        assert_eq!(after["contact"]["name"], "Dana");
        assert_eq!(after["contact"]["phone"], "+15550100000");
        assert_eq!(after["contact"]["tags"], json!([]));
        assert_eq!(after["contact"]["attributes"], json!({}));
        // Their own contacts they identify and update as before.
        let mine = app.as_user(&member, identify, json!({ "i": { "externalId": "crm-2", "name": "Mine" } })).await.ok();
        assert_eq!(mine["identifyContact"]["created"], true);
        let again = app.as_user(&member, identify, json!({ "i": { "externalId": "crm-2", "tags": ["ok"] } })).await.ok();
        assert_eq!(again["identifyContact"]["created"], false);
    }

    async fn searches_match_only_what_the_caller_may_read(app) {
        let owner = app.sign_up("owner", "acme").await;
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        app.create_contact(&owner, "Dana", "secret-address@customer.example.com").await;
        let (_, read) = app.create_api_key(&owner, "read", &["CONTACTS_READ"]).await;
        let (_, pii) = app.create_api_key(&owner, "pii", &["CONTACTS_READ", "CONTACTS_READ_PII"]).await;
        let search = "query($s: String!) { contacts(filter: { search: $s }) { totalCount } }";
        let by_email = json!({ "s": "secret-addr" });
        let by_name = json!({ "s": "dan" });
        let count = |reply: crate::helpers::Reply| reply.ok()["contacts"]["totalCount"].clone();
        assert_eq!(count(app.as_user(&viewer, search, by_email.clone()).await), 0);
        assert_eq!(count(app.as_key(&read, search, by_email.clone()).await), 0);
        assert_eq!(count(app.as_user(&viewer, search, by_name.clone()).await), 1);
        assert_eq!(count(app.as_key(&read, search, by_name).await), 1);
        assert_eq!(count(app.as_user(&owner, search, by_email.clone()).await), 1);
        assert_eq!(count(app.as_key(&pii, search, by_email).await), 1);
    }

    async fn keys_without_personal_data_scope_learn_nothing_about_emails(app) {
        let owner = app.sign_up("owner", "acme").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let (_, write) = app.create_api_key(&owner, "write", &["CONTACTS_WRITE"]).await;
        let (_, read_write) = app.create_api_key(&owner, "read write", &["CONTACTS_READ", "CONTACTS_WRITE"]).await;
        let identify = "mutation($i: IdentifyContactInput!) { identifyContact(input: $i) { created contact { id } } }";
        for key in [&write, &read_write] {
            // Known and unknown addresses answer alike: refused, without a match.
            for email in ["dana@customer.example.com", "nobody@customer.example.com"] {
                let reply = app.as_key(key, identify, json!({ "i": { "email": email } })).await;
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
                assert_eq!(reply.body["data"], Value::Null);
                let reply = app.as_key(key, "mutation($e: String!) { createContact(input: { name: \"X\", email: $e }) { id } }", json!({ "e": email })).await;
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
                let reply = app.as_key(key, "mutation($id: ID!, $e: String!) { updateContact(id: $id, input: { email: $e }) { id } }", json!({ "id": dana, "e": email })).await;
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
            }
        }
        // A write-only key's answers hold the id and nothing it may not read, and a
        // refused field rolls the write back.
        let reply = app
            .as_key(&write, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Renamed\" }) { id name externalId attributes } }", json!({ "id": dana }))
            .await;
        assert_eq!(reply.code(), Some("FORBIDDEN"));
        assert!(!reply.body.to_string().contains("Dana"), "{}", reply.body);
        let unchanged = app.as_user(&owner, "query($id: ID!) { contact(id: $id) { name } }", json!({ "id": dana })).await.ok();
        assert_eq!(unchanged["contact"]["name"], "Dana");
        app.as_key(&write, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Renamed\" }) { id } }", json!({ "id": dana }))
            .await
            .ok();
        // Attributes are personal data: a VIEWER and a key without contacts:read_pii
        // are refused them.
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        app.as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { attributes: { diagnosis: \"canary-attr\" } }) { id } }", json!({ "id": dana }))
            .await
            .ok();
        let attributes = "query($id: ID!) { contact(id: $id) { name attributes } }";
        for reply in [
            app.as_user(&viewer, attributes, json!({ "id": dana })).await,
            app.as_key(&read_write, attributes, json!({ "id": dana })).await,
        ] {
            assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
            assert_eq!(reply.body["data"]["contact"]["name"], "Renamed");
            assert!(!reply.body.to_string().contains("canary-attr"));
        }
    }

    async fn me_lists_the_permissions_of_the_policy_table(app) {
        let owner = app.sign_up("owner", "acme").await;
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        let query = "{ me { permissions memberships { role permissions } } }";
        for (account, role) in [(&owner, entity::Role::Owner), (&viewer, entity::Role::Viewer)] {
            let data = app.as_user(account, query, json!({})).await.ok();
            let expected: Vec<&str> = tenantgate::policy::permissions_of(role)
                .into_iter()
                .map(tenantgate::policy::Permission::name)
                .collect();
            assert_eq!(data["me"]["permissions"], json!(expected));
            assert_eq!(data["me"]["memberships"][0]["permissions"], json!(expected));
        }
        let viewer_can = app.as_user(&viewer, query, json!({})).await.ok();
        let listed = viewer_can["me"]["permissions"].to_string();
        assert!(listed.contains("READ_CONTACTS") && !listed.contains("READ_PERSONAL_DATA"), "{listed}");
    }
}

/// Races the seat limit and the last-owner rule, repeatedly: concurrent mutations that
/// change seats or owners are serialized per organization.
async fn seats_and_owners_hold_under_concurrency(backend: crate::helpers::Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..3 {
        let owner = app
            .sign_up(&format!("owner{round}"), &format!("race-{round}"))
            .await;
        let second = app.join(&owner, &format!("second{round}"), "OWNER").await;
        // Two seats used (two owners), one free.
        app.as_user(
            &owner,
            "mutation { updateOrganization(input: { seatLimit: 3 }) { seatLimit } }",
            json!({}),
        )
        .await
        .ok();
        // Ten invitations at once, each on its own task and connection.
        let mut racers = tokio::task::JoinSet::new();
        for i in 0..10 {
            let request = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(&owner.access_token)
                .json(&json!({
                    "query": "mutation($e: String!) { inviteMember(input: { email: $e, role: VIEWER }) { invitation { id } } }",
                    "variables": { "e": format!("racer{i}@example.com") },
                }));
            racers.spawn(async move {
                let body: Value = request
                    .send()
                    .await
                    .expect("HTTP")
                    .json()
                    .await
                    .expect("JSON");
                body
            });
        }
        let replies: Vec<Value> = racers.join_all().await;
        let code = |body: &Value| {
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned)
        };
        let passed = replies.iter().filter(|body| code(body).is_none()).count();
        assert_eq!(
            passed, 1,
            "round {round}: one free seat, {passed} invitations"
        );
        for body in replies.iter().filter(|body| code(body).is_some()) {
            assert_eq!(code(body).as_deref(), Some("FORBIDDEN"), "{body}");
        }

        // Two owners demote each other at once: one of them stays an owner.
        let demote = "mutation($u: ID!) { updateMemberRole(userId: $u, role: ADMIN) { role } }";
        let (a, b) = tokio::join!(
            app.as_user(&owner, demote, json!({ "u": second.user_id })),
            app.as_user(&second, demote, json!({ "u": owner.user_id })),
        );
        let owners = app
            .as_user(
                &owner,
                "{ members(filter: { role: OWNER }) { totalCount } }",
                json!({}),
            )
            .await;
        let owners = if owners.code().is_none() {
            owners.ok()["members"]["totalCount"]
                .as_i64()
                .expect("count")
        } else {
            app.as_user(
                &second,
                "{ members(filter: { role: OWNER }) { totalCount } }",
                json!({}),
            )
            .await
            .ok()["members"]["totalCount"]
                .as_i64()
                .expect("count")
        };
        assert_eq!(owners, 1, "round {round}: {} / {}", a.body, b.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_and_owners_hold_under_concurrency_sqlite() {
    seats_and_owners_hold_under_concurrency(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_and_owners_hold_under_concurrency_postgres() {
    seats_and_owners_hold_under_concurrency(crate::helpers::Backend::Postgres).await;
}
