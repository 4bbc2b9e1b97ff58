//! The rules hold together: every permission has one rule, roles are ordered, and
//! the tables the README prints agree with them.

use super::*;

#[test]
fn the_table_lists_every_permission_once_in_declaration_order() {
    for (index, rule) in RULES.iter().enumerate() {
        assert_eq!(rule.permission as usize, index, "{:?}", rule.permission);
    }
    let variants = <Permission as async_graphql::resolver_utils::EnumType>::items();
    assert_eq!(variants.len(), RULES.len(), "every permission has a row");
    let names: std::collections::HashSet<_> = Permission::all().map(Permission::name).collect();
    assert_eq!(names.len(), RULES.len());
    assert!(!names.contains("UNKNOWN"));
}

#[test]
fn keys_never_manage_people_keys_or_the_organization() {
    for permission in [
        P::ReadOrganization,
        P::UpdateOrganization,
        P::ManageBilling,
        P::TransferOwnership,
        P::DeleteOrganization,
        P::ReadMembers,
        P::ReadMemberEmails,
        P::ChangeMemberRoles,
        P::RemoveMembers,
        P::ReadInvitations,
        P::InviteMembers,
        P::ResendInvitations,
        P::RevokeInvitations,
        P::ManageApiKeys,
        P::ManageChannels,
        P::ReadAuditLog,
        P::AssignContacts,
        P::ReadContactNotes,
        P::WriteContactNotes,
        P::AssignConversations,
    ] {
        assert_eq!(permission.rule().scope, None, "{permission:?}");
    }
}

/// The part of the README between `<!-- name:start -->` and `<!-- name:end -->`.
fn readme_section(name: &str) -> &'static str {
    let readme = include_str!("../../README.md");
    readme
        .split_once(&format!("<!-- {name}:start -->\n"))
        .and_then(|(_, rest)| rest.split_once(&format!("<!-- {name}:end -->")))
        .map(|(section, _)| section)
        .unwrap_or_else(|| panic!("the README marks the {name} table"))
}

#[test]
fn the_readme_shows_the_policy_tables_of_the_code() {
    assert_eq!(
        readme_section("policy"),
        markdown_tables(),
        "the README's policy table is stale: replace it with `tenantgate policy`"
    );
    assert_eq!(
        readme_section("scopes"),
        markdown_scope_table(),
        "the README's scope table is stale: replace it with `tenantgate policy --scopes`"
    );
}

#[test]
fn the_role_ceiling_keeps_owners_to_owners() {
    let admin = Actor::Member(crate::identity::Member {
        user_id: Uuid::nil(),
        role: Role::Admin,
    });
    assert!(holds_on_role(&admin, P::InviteMembers, Role::Admin));
    assert!(!holds_on_role(&admin, P::InviteMembers, Role::Owner));
    assert!(!holds_on_role(&admin, P::ResendInvitations, Role::Owner));
    let member = Actor::Member(crate::identity::Member {
        user_id: Uuid::nil(),
        role: Role::Member,
    });
    assert!(!holds_on_role(&member, P::InviteMembers, Role::Viewer));
}
