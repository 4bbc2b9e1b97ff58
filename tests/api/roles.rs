//! The role matrix of DESIGN §5: every role against every guarded field and mutation.

use serde_json::{Value, json};

use crate::helpers::{Account, Reply, TestApp};
use crate::on_both_databases;

const ROLES: [&str; 5] = ["OWNER", "ADMIN", "MANAGER", "MEMBER", "VIEWER"];

fn rank(role: &str) -> usize {
    4 - ROLES.iter().position(|r| *r == role).expect("a role")
}

/// One organization with a member of every role.
struct Team {
    by_role: Vec<(&'static str, Account)>,
}

impl Team {
    async fn new(app: &TestApp) -> Team {
        let owner = app.sign_up("owner", "acme").await;
        app.as_user(
            &owner,
            "mutation { updateOrganization(input: { seatLimit: 100 }) { seatLimit } }",
            json!({}),
        )
        .await
        .ok();
        let mut by_role = Vec::new();
        for role in &ROLES[1..] {
            let account = app.join(&owner, &role.to_lowercase(), role).await;
            by_role.push((*role, account));
        }
        by_role.insert(0, ("OWNER", owner));
        Team { by_role }
    }

    fn owner(&self) -> &Account {
        &self.by_role[0].1
    }

    fn get(&self, role: &str) -> &Account {
        &self
            .by_role
            .iter()
            .find(|(r, _)| *r == role)
            .expect("role")
            .1
    }
}

/// Asserts `reply` is allowed exactly when `role` is at least `lowest`.
fn expect_allowed(reply: Reply, role: &str, lowest: &str, what: &str) {
    if rank(role) >= rank(lowest) {
        assert!(
            reply.body.get("errors").is_none(),
            "{role} must be allowed to {what}: {}",
            reply.body
        );
    } else {
        assert_eq!(
            reply.code(),
            Some("FORBIDDEN"),
            "{role} must be refused to {what}: {}",
            reply.body
        );
    }
}

on_both_databases! {
    async fn reads_follow_the_role_matrix(app) {
        let team = Team::new(&app).await;
        let contact = app.create_contact(team.owner(), "Owned by owner", "c@example.com").await;
        app.as_user(team.owner(), "mutation($id: ID!) { updateContact(id: $id, input: { notes: \"private\" }) { id } }", json!({ "id": contact })).await.ok();
        let reads: [(&str, &str, &str); 9] = [
            ("{ organization { name } }", "VIEWER", "read the organization"),
            ("{ members { totalCount edges { node { name role } } } }", "VIEWER", "list members"),
            ("{ contacts { edges { node { name } } } }", "VIEWER", "list contacts"),
            ("{ contacts { edges { node { email phone } } } }", "MEMBER", "read contact PII"),
            ("{ contacts { edges { node { notes } } } }", "MANAGER", "read others' contact notes"),
            ("{ invitations { totalCount } }", "ADMIN", "list invitations"),
            ("{ auditLog { totalCount } }", "ADMIN", "read the audit log"),
            ("{ events { totalCount } }", "VIEWER", "list events"),
            ("{ analytics { summary(from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { events } } }", "MANAGER", "read analytics"),
        ];
        for (query, lowest, what) in reads {
            for (role, account) in &team.by_role {
                expect_allowed(app.as_user(account, query, json!({})).await, role, lowest, what);
            }
        }
        // A refused PII field answers null, the rest of the contact is there.
        let viewer = app.as_user(team.get("VIEWER"), "{ contacts { edges { node { name email } } } }", json!({})).await;
        assert_eq!(viewer.body["data"]["contacts"]["edges"][0]["node"]["name"], "Owned by owner");
        assert!(!viewer.body.to_string().contains("c@example.com"));
        let node = &viewer.body["data"]["contacts"]["edges"][0]["node"];
        assert!(node.as_object().is_some_and(|n| n.contains_key("email") && n["email"].is_null()), "the refused field answers null: {node}");
        assert!(!app.as_user(team.get("MEMBER"), "{ contacts { edges { node { notes } } } }", json!({})).await.body.to_string().contains("private"));
    }

    async fn member_emails_are_for_admins_and_the_member_themself(app) {
        let team = Team::new(&app).await;
        let query = "{ members(first: 10) { edges { node { userId email } } } }";
        for (role, account) in &team.by_role {
            let reply = app.as_user(account, query, json!({})).await;
            let edges = reply.body["data"]["members"]["edges"].as_array().cloned().unwrap_or_default();
            for edge in edges {
                let node = &edge["node"];
                let own = node["userId"] == account.user_id.as_str();
                if rank(role) >= rank("ADMIN") || own {
                    assert!(node["email"].is_string(), "{role} sees {node}");
                } else {
                    assert!(node["email"].is_null(), "{role} must not see {node}");
                }
            }
            if rank(role) < rank("ADMIN") {
                assert_eq!(reply.code(), Some("FORBIDDEN"));
            }
        }
    }

    async fn contact_notes_are_for_the_owner_and_managers(app) {
        let team = Team::new(&app).await;
        let member = team.get("MEMBER");
        let mine = app.as_user(member, "mutation { createContact(input: { name: \"Mine\", notes: \"my notes\" }) { id notes } }", json!({})).await.ok();
        assert_eq!(mine["createContact"]["notes"], "my notes");
        let id = mine["createContact"]["id"].as_str().expect("id");
        for (role, account) in &team.by_role {
            let reply = app.as_user(account, "query($id: ID!) { contact(id: $id) { notes } }", json!({ "id": id })).await;
            let own = account.user_id == member.user_id;
            if own || rank(role) >= rank("MANAGER") {
                assert_eq!(reply.body["data"]["contact"]["notes"], "my notes", "{role}");
            } else {
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{role}: {}", reply.body);
            }
        }
    }

    async fn writes_follow_the_role_matrix(app) {
        let team = Team::new(&app).await;
        for (role, account) in &team.by_role {
            // Contacts.
            expect_allowed(app.as_user(account, "mutation { createContact(input: { name: \"New\" }) { id } }", json!({})).await, role, "MEMBER", "create a contact");
            let others = app.create_contact(team.owner(), "Owner's", &format!("{role}-o@example.com")).await;
            expect_allowed(app.as_user(account, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Changed\" }) { id } }", json!({ "id": others })).await, role, "MANAGER", "update any contact");
            expect_allowed(app.as_user(account, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": others })).await, role, "MANAGER", "delete any contact");
            expect_allowed(app.as_user(account, "mutation($o: ID!) { createContact(input: { name: \"Given\", ownerId: $o }) { id } }", json!({ "o": team.get("VIEWER").user_id })).await, role, "MANAGER", "assign a contact to someone else");
            // Events.
            expect_allowed(app.as_user(account, "mutation { trackEvent(input: { type: CLICK }) { id } }", json!({})).await, role, "MEMBER", "track an event");
            expect_allowed(app.as_user(account, "mutation { updateOrganization(input: { eventRetentionDays: 90 }) { eventRetentionDays } }", json!({})).await, role, "ADMIN", "set the event retention");
            // Settings and billing.
            expect_allowed(app.as_user(account, "mutation { updateOrganization(input: { name: \"Renamed\" }) { name } }", json!({})).await, role, "ADMIN", "rename the organization");
            expect_allowed(app.as_user(account, "mutation { updateOrganization(input: { plan: \"pro\" }) { plan } }", json!({})).await, role, "OWNER", "change the plan");
            expect_allowed(app.as_user(account, "mutation { updateOrganization(input: { seatLimit: 100 }) { seatLimit } }", json!({})).await, role, "OWNER", "change the seat limit");
            // Invitations.
            let invite = app.as_user(account, "mutation($e: String!) { inviteMember(input: { email: $e, role: VIEWER }) { invitation { id } } }", json!({ "e": format!("{role}-guest@example.com") })).await;
            let allowed = rank(role) >= rank("ADMIN");
            let invitation = invite.body["data"]["inviteMember"]["invitation"]["id"].as_str().map(str::to_owned);
            expect_allowed(invite, role, "ADMIN", "invite");
            let target = invitation.unwrap_or_else(|| "00000000-0000-7000-8000-000000000000".into());
            let revoke = app.as_user(account, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": target })).await;
            if allowed { revoke.ok(); } else { revoke.expect_code("FORBIDDEN"); }
        }
        // A key nobody holds: every role is refused.
        let body = app.as_user(team.get("VIEWER"), "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({})).await;
        body.expect_code("FORBIDDEN");
    }

    async fn a_member_changes_only_their_own_contacts(app) {
        let team = Team::new(&app).await;
        let member = team.get("MEMBER");
        let mine = app.create_contact(member, "Mine", "mine@example.com").await;
        app.as_user(member, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Still mine\" }) { name } }", json!({ "id": mine })).await.ok();
        app.as_user(member, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": mine })).await.ok();
    }
}

// The member-management rules need a fresh team per case.
on_both_databases! {
    async fn nobody_acts_above_their_own_role_and_only_owners_touch_owners(app) {
        let team = Team::new(&app).await;
        let admin = team.get("ADMIN");
        let manager = team.get("MANAGER");
        let set_role = "mutation($u: ID!, $r: Role!) { updateMemberRole(userId: $u, role: $r) { role } }";
        // An admin may promote a viewer to manager, not to owner.
        app.as_user(admin, set_role, json!({ "u": team.get("VIEWER").user_id, "r": "MANAGER" })).await.ok();
        app.as_user(admin, set_role, json!({ "u": team.get("VIEWER").user_id, "r": "OWNER" })).await.expect_code("FORBIDDEN");
        // An admin may not touch the owner.
        app.as_user(admin, set_role, json!({ "u": team.owner().user_id, "r": "VIEWER" })).await.expect_code("FORBIDDEN");
        app.as_user(admin, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": team.owner().user_id })).await.expect_code("FORBIDDEN");
        // A manager is not an admin at all.
        app.as_user(manager, set_role, json!({ "u": team.get("MEMBER").user_id, "r": "VIEWER" })).await.expect_code("FORBIDDEN");
        // The owner makes the admin an owner; now both are owners.
        app.as_user(team.owner(), set_role, json!({ "u": admin.user_id, "r": "OWNER" })).await.ok();
        let owners = app.as_user(team.owner(), "{ members(filter: { role: OWNER }) { totalCount } }", json!({})).await.ok();
        assert_eq!(owners["members"]["totalCount"], 2);
    }

    async fn the_last_owner_cannot_disappear(app) {
        let team = Team::new(&app).await;
        let owner = team.owner();
        let set_role = "mutation($u: ID!, $r: Role!) { updateMemberRole(userId: $u, role: $r) { role } }";
        app.as_user(owner, set_role, json!({ "u": owner.user_id, "r": "ADMIN" })).await.expect_code("CONFLICT");
        app.as_user(owner, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": owner.user_id })).await.expect_code("CONFLICT");
        app.as_user(owner, "mutation { leaveOrganization }", json!({})).await.expect_code("CONFLICT");
        // After handing ownership over, the former owner is an admin and may leave.
        let new_owner = team.get("MEMBER");
        let data = app.as_user(owner, "mutation($u: ID!) { transferOwnership(userId: $u) { userId role } }", json!({ "u": new_owner.user_id })).await.ok();
        assert_eq!(data["transferOwnership"]["role"], "OWNER");
        let me = app.as_user(owner, "{ me { memberships { role } } }", json!({})).await.ok();
        assert_eq!(me["me"]["memberships"][0]["role"], "ADMIN");
        app.as_user(owner, "mutation { leaveOrganization }", json!({})).await.ok();
        app.as_user(owner, "{ organization { id } }", json!({})).await.expect_code("FORBIDDEN");
        // The new owner is now the last one.
        app.as_user(new_owner, "mutation { leaveOrganization }", json!({})).await.expect_code("CONFLICT");
    }

    async fn removing_a_member_ends_their_access_on_the_next_request(app) {
        let team = Team::new(&app).await;
        let member = team.get("MEMBER");
        let theirs = app.create_contact(member, "Theirs", "theirs@example.com").await;
        app.as_user(member, "{ contacts { totalCount } }", json!({})).await.ok();
        let removed = app.as_user(team.get("ADMIN"), "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": member.user_id })).await.ok();
        assert_eq!(removed["removeMember"], member.user_id.as_str());
        // The same, still unexpired access token: refused at once.
        app.as_user(member, "{ contacts { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
        app.as_user(member, "mutation { createContact(input: { name: \"Sneaky\" }) { id } }", json!({})).await.expect_code("FORBIDDEN");
        // Their contact stays, without an owner.
        let contact = app.as_user(team.owner(), "query($id: ID!) { contact(id: $id) { ownerId } }", json!({ "id": theirs })).await.ok();
        assert!(contact["contact"]["ownerId"].is_null());
        // Removing them again: not found.
        app.as_user(team.owner(), "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": member.user_id })).await.expect_code("NOT_FOUND");
    }

    async fn members_are_listed_a_page_at_a_time(app) {
        let team = Team::new(&app).await;
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = app.as_user(team.get("VIEWER"), "query($a: String) { members(first: 2, after: $a) { totalCount edges { node { userId role } } pageInfo { hasNextPage endCursor } } }", json!({ "a": after })).await.ok();
            assert_eq!(data["members"]["totalCount"], 5);
            for edge in data["members"]["edges"].as_array().expect("edges") {
                seen.push(edge["node"]["role"].as_str().expect("role").to_owned());
            }
            if data["members"]["pageInfo"]["hasNextPage"] != true { break; }
            after = data["members"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, ["OWNER", "ADMIN", "MANAGER", "MEMBER", "VIEWER"], "in the order they joined");
    }
}

on_both_databases! {
    async fn member_management_follows_the_role_matrix(app) {
        let team = Team::new(&app).await;
        for (index, (role, account)) in team.by_role.iter().enumerate() {
            // Fresh targets for each attempt, so allowed attempts do not disturb the next.
            let target = app.join(team.owner(), &format!("target{index}"), "VIEWER").await;
            expect_allowed(
                app.as_user(account, "mutation($u: ID!) { updateMemberRole(userId: $u, role: MEMBER) { role } }", json!({ "u": target.user_id })).await,
                role, "ADMIN", "change a viewer's role",
            );
            expect_allowed(
                app.as_user(account, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": target.user_id })).await,
                role, "ADMIN", "remove a member",
            );
            let invited = app.as_user(team.owner(), "mutation($e: String!) { inviteMember(input: { email: $e, role: VIEWER }) { invitation { id } } }", json!({ "e": format!("pending{index}@example.com") })).await.ok();
            expect_allowed(
                app.as_user(account, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { status } } }", json!({ "id": invited["inviteMember"]["invitation"]["id"] })).await,
                role, "ADMIN", "resend an invitation",
            );
            if *role != "OWNER" {
                expect_allowed(
                    app.as_user(account, "mutation($u: ID!) { transferOwnership(userId: $u) { role } }", json!({ "u": team.get("ADMIN").user_id })).await,
                    role, "OWNER", "transfer ownership",
                );
                expect_allowed(
                    app.as_user(account, "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({})).await,
                    role, "OWNER", "delete the organization",
                );
            }
        }
        // The owner, last: both owner-only mutations succeed.
        app.as_user(team.owner(), "mutation($u: ID!) { transferOwnership(userId: $u) { role } }", json!({ "u": team.get("ADMIN").user_id })).await.ok();
        app.as_user(team.get("ADMIN"), "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({})).await.ok();
    }
}

/// The references to a member that member removal clears (`members::service::remove_membership`)
/// before the membership goes: `table.column` of the user half of each foreign key
/// into `membership`.
const MEMBER_REFERENCES_CLEARED: &[&str] = &["contact.owner_id", "conversation.assignee_id"];

on_both_databases! {
    async fn every_reference_to_a_member_is_cleared_by_member_removal(app) {
        let sql = match app.backend {
            crate::helpers::Backend::Sqlite => {
                "SELECT m.name || '.' || p.\"from\" FROM sqlite_master m, \
                 pragma_foreign_key_list(m.name) p \
                 WHERE m.type = 'table' AND p.\"table\" = 'membership' AND p.\"to\" = 'user_id' \
                 ORDER BY 1"
            }
            crate::helpers::Backend::Postgres => {
                "SELECT c.conrelid::regclass::text || '.' || a.attname FROM pg_constraint c \
                 CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol) \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col \
                 JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol \
                 WHERE c.contype = 'f' AND c.confrelid = 'membership'::regclass \
                 AND fa.attname = 'user_id' ORDER BY 1"
            }
        };
        let references = app.query_texts(sql).await;
        assert!(!references.is_empty(), "the catalog query found no foreign key at all");
        assert_eq!(
            references, MEMBER_REFERENCES_CLEARED,
            "a foreign key into `membership` that member removal does not clear would make \
             removing that member fail: clear it in `members::service::remove_membership`, then list it here"
        );
    }
}
