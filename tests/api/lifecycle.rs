//! Organization lifecycle and the audit log.

use serde_json::{Value, json};

use crate::on_both_databases;

const AUDIT: &str = "query($f: AuditFilter) { auditLog(filter: $f) { totalCount edges { node { action actorId targetType targetId summary clientIp createdAt } } } }";

on_both_databases! {
    async fn a_suspended_organization_is_read_only_until_an_owner_reactivates_it(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let contact = app.create_contact(&owner, "Kept", "kept@example.com").await;
        let admins = app.create_contact(&admin, "The admin's", "admins@example.com").await;
        let status = "mutation($s: OrganizationStatus!) { updateOrganization(input: { status: $s }) { status } }";
        app.as_user(&admin, status, json!({ "s": "SUSPENDED" })).await.expect_code("FORBIDDEN");
        let data = app.as_user(&owner, status, json!({ "s": "SUSPENDED" })).await.ok();
        assert_eq!(data["updateOrganization"]["status"], "SUSPENDED");

        // Reads work; writes answer FORBIDDEN with a clear message.
        let read = app.as_user(&admin, "query($id: ID!) { contact(id: $id) { name } organization { status } }", json!({ "id": contact })).await.ok();
        assert_eq!(read["organization"]["status"], "SUSPENDED");
        for write in [
            "mutation { createContact(input: { name: \"New\" }) { id } }".to_owned(),
            format!("mutation {{ updateContact(id: \"{contact}\", input: {{ name: \"X\" }}) {{ id }} }}"),
            format!("mutation {{ deleteContact(id: \"{contact}\") }}"),
            "mutation { updateOrganization(input: { name: \"Renamed\" }) { name } }".to_owned(),
            "mutation { inviteMember(input: { email: \"x@example.com\", role: VIEWER }) { invitation { id } } }".to_owned(),
        ] {
            let body = app.as_user(&owner, &write, json!({})).await.expect_code("FORBIDDEN");
            assert!(body["errors"][0]["message"].as_str().expect("message").contains("suspended"), "{body}");
        }
        let canceled = app.as_user(&owner, status, json!({ "s": "CANCELED" })).await.ok();
        assert_eq!(canceled["updateOrganization"]["status"], "CANCELED");
        let body = app.as_user(&admin, "mutation { createContact(input: { name: \"New\" }) { id } }", json!({})).await.expect_code("FORBIDDEN");
        assert!(body["errors"][0]["message"].as_str().expect("message").contains("canceled"));

        // Removing a member is a write, refused; leaving stays open, and clears what the
        // member owned although the organization is read-only.
        let remove = "mutation($u: ID!) { removeMember(userId: $u) }";
        app.as_user(&owner, remove, json!({ "u": admin.user_id })).await.expect_code("FORBIDDEN");
        app.as_user(&admin, "mutation { leaveOrganization }", json!({})).await.ok();

        app.as_user(&owner, status, json!({ "s": "ACTIVE" })).await.ok();
        app.as_user(&owner, "mutation { createContact(input: { name: \"New\" }) { id } }", json!({})).await.ok();
        let left = app.as_user(&owner, "query($id: ID!) { contact(id: $id) { ownerId } members { totalCount } }", json!({ "id": admins })).await.ok();
        assert_eq!(left["contact"]["ownerId"], Value::Null);
        assert_eq!(left["members"]["totalCount"], 1);
    }

    async fn deleting_an_organization_needs_the_owner_and_the_slug(app) {
        let owner = app.sign_up("owner", "acme").await;
        let member = app.join(&owner, "member", "MEMBER").await;
        let other = app.sign_up("other", "otherco").await;
        app.create_contact(&owner, "Doomed", "doomed@example.com").await;
        let delete = "mutation($s: String!) { deleteOrganization(confirmSlug: $s) }";
        app.as_user(&member, delete, json!({ "s": "acme" })).await.expect_code("FORBIDDEN");
        let body = app.as_user(&owner, delete, json!({ "s": "acne" })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "confirmSlug");
        let data = app.as_user(&owner, delete, json!({ "s": "ACME" })).await.ok();
        assert_eq!(data["deleteOrganization"], owner.organization_id.as_str());

        app.as_user(&member, "{ contacts { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
        app.as_user(&owner, "{ organization { id } }", json!({})).await.expect_code("FORBIDDEN");
        let gone = app.anonymous("{ organizationBySlug(slug: \"acme\") { id } }", json!({})).await.ok();
        assert!(gone["organizationBySlug"].is_null());
        let me = app.as_user(&owner, "{ me { memberships { role } } }", json!({})).await.ok();
        assert_eq!(me["me"]["memberships"].as_array().map(Vec::len), Some(0));
        // Other organizations are untouched; the slug can be used again.
        app.as_user(&other, "{ organization { slug } }", json!({})).await.ok();
        app.as_user(&owner, "mutation { createOrganization(input: { name: \"Acme again\", slug: \"acme\" }) { slug } }", json!({})).await.ok();
        assert_eq!(app.count_rows(&format!("SELECT count(*) FROM contact WHERE organization_id = '{}'", owner.organization_id)).await
            + app.count_rows("SELECT count(*) FROM contact WHERE name = 'Doomed'").await, 0);
    }

    async fn changes_are_audited_in_their_transaction_and_readable_by_admins(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let viewer = app.join(&owner, "viewer", "VIEWER").await;
        app.as_user(&admin, "mutation { updateOrganization(input: { name: \"Acme Ltd\" }) { name } }", json!({})).await.ok();
        app.as_user(&admin, "mutation($u: ID!) { updateMemberRole(userId: $u, role: MEMBER) { role } }", json!({ "u": viewer.user_id })).await.ok();
        app.as_user(&owner, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": viewer.user_id })).await.ok();
        // A failed change leaves no audit row.
        app.as_user(&owner, "mutation { a: updateOrganization(input: { name: \"Never\" }) { name } b: updateOrganization(input: { slug: \"--\" }) { slug } }", json!({})).await.expect_code("BAD_USER_INPUT");

        let all = app.as_user(&admin, AUDIT, json!({})).await.ok();
        let actions: Vec<&str> = all["auditLog"]["edges"].as_array().expect("edges").iter().map(|e| e["node"]["action"].as_str().expect("action")).collect();
        assert_eq!(actions, [
            "member.removed", "member.role_updated", "organization.updated",
            "invitation.accepted", "invitation.created", "invitation.accepted", "invitation.created",
            "organization.created",
        ]);
        let renamed = app.as_user(&admin, AUDIT, json!({ "f": { "action": "organization.updated" } })).await.ok();
        let entry = &renamed["auditLog"]["edges"][0]["node"];
        assert_eq!(entry["actorId"], admin.user_id.as_str());
        assert_eq!(entry["summary"]["before"]["name"], "acme Inc.");
        assert_eq!(entry["summary"]["after"]["name"], "Acme Ltd");
        assert_eq!(entry["clientIp"], "127.0.0.1");
        let by_owner = app.as_user(&owner, AUDIT, json!({ "f": { "actorId": owner.user_id } })).await.ok();
        assert_eq!(by_owner["auditLog"]["totalCount"], 4, "created, two invitations, removal");
        let role_change = app.as_user(&owner, AUDIT, json!({ "f": { "targetId": viewer.user_id } })).await.ok();
        assert_eq!(role_change["auditLog"]["totalCount"], 2);
        // Members below ADMIN cannot read it (the role matrix covers every role).
        app.as_user(&viewer, AUDIT, json!({})).await.expect_code("FORBIDDEN");
    }
}
