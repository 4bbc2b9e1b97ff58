//! The one table of who may do what inside an organization.
//!
//! Every permission has exactly one [`Rule`]: the lowest role that holds it, the API key
//! scope that grants it to keys (if any), and the condition that narrows it to some rows
//! (the rows one owns, the roles at or below one's own). The field guard
//! ([`crate::graphql::guards::Allow`]), the services (through [`require`],
//! [`require_on_row`], [`require_on_role`]), `me { permissions }` and the README's tables
//! all read this table; nothing else decides. [`FIELDS`] says which permission each field
//! of the schema needs, and the role walker test (`tests/api/role_walker.rs`) calls every
//! one of them as every role and as keys of every scope, and compares the answers with
//! this table.
//!
//! Whether the organization is writable (not SUSPENDED or CANCELED) is not a row here:
//! every write through `TenantDb` checks it, whoever acts.

use async_graphql::Enum;
use uuid::Uuid;

use crate::auth::api_keys::Scope;
use crate::error::{AppError, AppResult};
use crate::tenant::{API_KEYS_REFUSED, Actor, TenantDb};
use entity::Role;

/// Something a member or an API key may do in an organization. `me { permissions }`
/// lists the ones the signed-in person holds in the request's organization.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the organization's profile, plan and limits.
    ReadOrganization,
    /// Change the organization's name, slug and event retention.
    UpdateOrganization,
    /// Change the organization's plan, seat limit and status.
    ManageBilling,
    /// Make another member the owner.
    TransferOwnership,
    /// Delete the organization and all its data.
    DeleteOrganization,
    /// Leave the organization (never the last owner).
    LeaveOrganization,
    /// List members with their names, roles and join dates.
    ReadMembers,
    /// Read members' emails (everyone reads their own).
    ReadMemberEmails,
    /// Change members' roles, up to one's own role.
    ChangeMemberRoles,
    /// Remove members, up to one's own role.
    RemoveMembers,
    /// List invitations.
    ReadInvitations,
    /// Invite people, with roles up to one's own.
    InviteMembers,
    /// Resend invitations of roles up to one's own.
    ResendInvitations,
    /// Revoke invitations of roles up to one's own.
    RevokeInvitations,
    /// List, create, rotate and revoke API keys.
    ManageApiKeys,
    /// Read channel configurations and the agent's instructions.
    ReadChannels,
    /// Configure channels, their credentials and the agent's instructions.
    ManageChannels,
    /// Read the audit log.
    ReadAuditLog,
    /// Read contacts without their personal data.
    ReadContacts,
    /// Read personal data: contacts' email, phone and attributes, message bodies and
    /// conversation summaries; search and match contacts by email.
    ReadPersonalData,
    /// Create contacts.
    CreateContacts,
    /// Change contacts (below MANAGER: the ones one owns).
    UpdateContacts,
    /// Delete contacts (below MANAGER: the ones one owns).
    DeleteContacts,
    /// Give contacts to another owner, or to none.
    AssignContacts,
    /// Read contacts' private notes (below MANAGER: of the contacts one owns).
    ReadContactNotes,
    /// Write contacts' private notes (below MANAGER: of the contacts one owns).
    WriteContactNotes,
    /// Read conversations and their messages.
    ReadConversations,
    /// Start conversations, post messages and close conversations.
    WriteConversations,
    /// Hand conversations to members.
    AssignConversations,
    /// Read the event log.
    ReadEvents,
    /// Read events' properties (free-form, may hold personal data).
    ReadEventProperties,
    /// Track events.
    TrackEvents,
    /// Read analytics.
    ReadAnalytics,
}

/// What narrows a permission to some rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// None: every row of the organization.
    Always,
    /// Below `any_from`, a member acts only on the rows they own (their contacts, their
    /// own membership). Keys that hold the permission act on every row.
    OwnRows { any_from: Role },
    /// Only on roles at or below one's own; so only owners grant, resend, revoke or act
    /// on OWNER.
    RoleCeiling,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub permission: Permission,
    /// The lowest role that holds it.
    pub role: Role,
    /// The scope that grants it to API keys; `None`: never to a key.
    pub scope: Option<Scope>,
    pub condition: Condition,
}

const fn rule(permission: Permission, role: Role, scope: Option<Scope>) -> Rule {
    Rule {
        permission,
        role,
        scope,
        condition: Condition::Always,
    }
}

const fn own_rows(
    permission: Permission,
    role: Role,
    scope: Option<Scope>,
    any_from: Role,
) -> Rule {
    Rule {
        permission,
        role,
        scope,
        condition: Condition::OwnRows { any_from },
    }
}

const fn ceiling(permission: Permission, role: Role) -> Rule {
    Rule {
        permission,
        role,
        scope: None,
        condition: Condition::RoleCeiling,
    }
}

use Permission as P;
use Role::{Admin, Manager, Member, Owner, Viewer};

/// The table, in the order of [`Permission`] (a unit test keeps it so).
pub const RULES: &[Rule] = &[
    rule(P::ReadOrganization, Viewer, None),
    rule(P::UpdateOrganization, Admin, None),
    rule(P::ManageBilling, Owner, None),
    rule(P::TransferOwnership, Owner, None),
    rule(P::DeleteOrganization, Owner, None),
    rule(P::LeaveOrganization, Viewer, None),
    rule(P::ReadMembers, Viewer, None),
    own_rows(P::ReadMemberEmails, Viewer, None, Admin),
    ceiling(P::ChangeMemberRoles, Admin),
    ceiling(P::RemoveMembers, Admin),
    rule(P::ReadInvitations, Admin, None),
    ceiling(P::InviteMembers, Admin),
    ceiling(P::ResendInvitations, Admin),
    ceiling(P::RevokeInvitations, Admin),
    rule(P::ManageApiKeys, Admin, None),
    rule(P::ReadChannels, Admin, Some(Scope::ChannelsRead)),
    rule(P::ManageChannels, Admin, None),
    rule(P::ReadAuditLog, Admin, None),
    rule(P::ReadContacts, Viewer, Some(Scope::ContactsRead)),
    rule(P::ReadPersonalData, Member, Some(Scope::ContactsReadPii)),
    rule(P::CreateContacts, Member, Some(Scope::ContactsWrite)),
    own_rows(
        P::UpdateContacts,
        Member,
        Some(Scope::ContactsWrite),
        Manager,
    ),
    own_rows(
        P::DeleteContacts,
        Member,
        Some(Scope::ContactsWrite),
        Manager,
    ),
    rule(P::AssignContacts, Manager, None),
    own_rows(P::ReadContactNotes, Viewer, None, Manager),
    own_rows(P::WriteContactNotes, Member, None, Manager),
    rule(P::ReadConversations, Viewer, Some(Scope::ConversationsRead)),
    rule(
        P::WriteConversations,
        Member,
        Some(Scope::ConversationsWrite),
    ),
    rule(P::AssignConversations, Member, None),
    rule(P::ReadEvents, Viewer, None),
    rule(P::ReadEventProperties, Member, Some(Scope::EventsWrite)),
    rule(P::TrackEvents, Member, Some(Scope::EventsWrite)),
    rule(P::ReadAnalytics, Manager, Some(Scope::AnalyticsRead)),
];

// The table is in declaration order, so `Permission::rule` can index it.
const _: () = {
    let mut index = 0;
    while index < RULES.len() {
        assert!(RULES[index].permission as usize == index);
        index += 1;
    }
};

impl Permission {
    /// Every permission, in table order.
    pub fn all() -> impl Iterator<Item = Permission> {
        RULES.iter().map(|rule| rule.permission)
    }

    /// Its row of the table.
    pub fn rule(self) -> &'static Rule {
        // `RULES` lists the permissions in declaration order (checked when compiling,
        // below, and its length against the enum by a unit test): the discriminant is
        // the row.
        &RULES[self as usize]
    }

    /// Its name in the API, e.g. `READ_CONTACTS`.
    pub fn name(self) -> &'static str {
        <Permission as async_graphql::resolver_utils::EnumType>::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("UNKNOWN", |item| item.name)
    }
}

/// Whether `actor` holds `permission` on some rows (the role or scope gate, without the
/// row condition).
pub fn holds(actor: &Actor, permission: Permission) -> bool {
    let rule = permission.rule();
    match actor {
        Actor::Member(member) => member.role.at_least(rule.role),
        Actor::ApiKey { scopes, .. } => rule.scope.is_some_and(|scope| scopes.contains(scope)),
    }
}

/// Whether a member of `role` holds `permission` on some rows.
pub fn role_holds(role: Role, permission: Permission) -> bool {
    role.at_least(permission.rule().role)
}

/// Whether `actor` holds `permission` on a row owned by `owner`.
pub fn holds_on_row(actor: &Actor, permission: Permission, owner: Option<Uuid>) -> bool {
    holds(actor, permission)
        && match (permission.rule().condition, actor) {
            (Condition::OwnRows { any_from }, Actor::Member(member)) => {
                member.role.at_least(any_from) || owner == Some(member.user_id)
            }
            _ => true,
        }
}

/// Whether `actor` holds `permission` on a member, invitation or grant of `target`.
pub fn holds_on_role(actor: &Actor, permission: Permission, target: Role) -> bool {
    match actor {
        Actor::Member(member) => role_holds_on_role(member.role, permission, target),
        Actor::ApiKey { .. } => holds(actor, permission),
    }
}

/// Whether a member of `role` holds `permission` on a member, invitation or grant of
/// `target` (for decisions about someone other than the caller, such as an inviter).
pub fn role_holds_on_role(role: Role, permission: Permission, target: Role) -> bool {
    role_holds(role, permission)
        && (permission.rule().condition != Condition::RoleCeiling || role.at_least(target))
}

/// `FORBIDDEN` unless `actor` holds `permission` on some rows.
pub fn require(actor: &Actor, permission: Permission) -> AppResult<()> {
    if holds(actor, permission) {
        return Ok(());
    }
    let rule = permission.rule();
    Err(match actor {
        Actor::Member(_) => AppError::forbidden(format!(
            "this needs the {} role or higher",
            role_name(rule.role)
        )),
        Actor::ApiKey { .. } => match rule.scope {
            Some(scope) => crate::tenant::missing_scope(scope),
            None => AppError::forbidden(API_KEYS_REFUSED),
        },
    })
}

/// `FORBIDDEN` unless `actor` holds `permission` on a row owned by `owner`.
pub fn require_on_row(actor: &Actor, permission: Permission, owner: Option<Uuid>) -> AppResult<()> {
    require(actor, permission)?;
    if holds_on_row(actor, permission, owner) {
        return Ok(());
    }
    let any_from = match permission.rule().condition {
        Condition::OwnRows { any_from } => any_from,
        _ => permission.rule().role,
    };
    Err(AppError::forbidden(format!(
        "below {} this is only allowed on what you own",
        role_name(any_from)
    )))
}

/// `FORBIDDEN` unless `actor` holds `permission` on `target` (a role to grant, or the
/// role of the member or invitation acted on).
pub fn require_on_role(actor: &Actor, permission: Permission, target: Role) -> AppResult<()> {
    require(actor, permission)?;
    if holds_on_role(actor, permission, target) {
        return Ok(());
    }
    Err(AppError::forbidden(if target == Role::Owner {
        "only an OWNER may grant, change or act on the OWNER role".to_owned()
    } else {
        format!(
            "you cannot grant or act on the {} role, which is above your own",
            role_name(target)
        )
    }))
}

/// The permissions a member of `role` holds (on some rows), in table order.
pub fn permissions_of(role: Role) -> Vec<Permission> {
    Permission::all()
        .filter(|permission| role_holds(role, *permission))
        .collect()
}

/// A permission as a type, for the writes that take a [`Granted`] proof.
pub trait Grant {
    const PERMISSION: Permission;
}

/// The permissions that are types: the owner-only writes.
pub mod grants {
    use super::{Grant, Permission};

    macro_rules! grants {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("The `", stringify!($name), "` permission, as a type.")]
                pub struct $name;
                impl Grant for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        };
    }

    grants!(DeleteOrganization, ManageBilling, TransferOwnership);
}

/// Proof that the request's caller holds `G`'s permission: only [`grant`] makes one,
/// after asking the table, and it lives no longer than the request's tenant handle. The
/// owner-only writes (deleting the organization, its billing fields, transferring
/// ownership) take one, so no code path reaches them without the check, whatever guard
/// its field has.
pub struct Granted<'a, G: Grant> {
    db: &'a TenantDb,
    _grant: std::marker::PhantomData<G>,
}

impl<'a, G: Grant> Granted<'a, G> {
    /// The tenant handle the proof was checked against.
    pub fn db(&self) -> &'a TenantDb {
        self.db
    }
}

/// Checks `G`'s permission for the caller of `db`'s request and answers the proof.
pub fn grant<G: Grant>(db: &TenantDb) -> AppResult<Granted<'_, G>> {
    require(db.actor(), G::PERMISSION)?;
    Ok(Granted {
        db,
        _grant: std::marker::PhantomData,
    })
}

/// A role as the API spells it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "OWNER",
        Role::Admin => "ADMIN",
        Role::Manager => "MANAGER",
        Role::Member => "MEMBER",
        Role::Viewer => "VIEWER",
    }
}

/// Who may call a field of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not, and API keys: the public look-ups.
    Public,
    /// People, signed in or not; API keys and the system principal are refused: sign-up,
    /// log-in, token exchanges.
    People,
    /// A signed-in person, on their own account; no organization needed.
    Account,
    /// The operators' scheduler (`CRON_SECRET`).
    System,
    /// Whoever holds the permission in the request's organization (then the condition
    /// of its rule, on the row or role acted on).
    Needs(Permission),
    /// Whoever could reach the object that holds the field.
    Parent,
}

/// Every field of the schema and who may call it: `Type.field`, or `Type.*` for every
/// field of a type that is not listed by itself. The role walker fails when a field of
/// the schema has no row here, or when the server answers otherwise.
pub const FIELDS: &[(&str, Access)] = &[
    // Your own account.
    ("Query.me", Access::Account),
    ("Query.sessions", Access::Account),
    ("Mutation.signUp", Access::People),
    ("Mutation.verifyEmail", Access::People),
    ("Mutation.logIn", Access::People),
    ("Mutation.refreshSession", Access::People),
    ("Mutation.requestPasswordReset", Access::People),
    ("Mutation.resetPassword", Access::People),
    ("Mutation.acceptInvitation", Access::People),
    // Holding a refresh token is enough to end its session (an app whose access token
    // expired still logs out); without one, the signed-in session ends.
    ("Mutation.logOut", Access::People),
    ("Mutation.revokeSession", Access::Account),
    ("Mutation.revokeAllOtherSessions", Access::Account),
    ("Mutation.changePassword", Access::Account),
    ("Mutation.createOrganization", Access::Account),
    ("Me.*", Access::Parent),
    ("Membership.*", Access::Parent),
    ("User.*", Access::Parent),
    ("Session.*", Access::Parent),
    ("AuthPayload.*", Access::Parent),
    ("SignUpPayload.*", Access::Parent),
    // Public look-ups.
    ("Query.organizationBySlug", Access::Public),
    ("Query.publicChannelConfig", Access::Public),
    ("PublicOrganization.*", Access::Parent),
    ("PublicChannelConfig.*", Access::Parent),
    // The organization.
    ("Query.organization", Access::Needs(P::ReadOrganization)),
    (
        "Mutation.updateOrganization",
        Access::Needs(P::UpdateOrganization),
    ),
    (
        "Mutation.transferOwnership",
        Access::Needs(P::TransferOwnership),
    ),
    (
        "Mutation.deleteOrganization",
        Access::Needs(P::DeleteOrganization),
    ),
    ("Organization.*", Access::Parent),
    // Members.
    ("Query.members", Access::Needs(P::ReadMembers)),
    (
        "Mutation.updateMemberRole",
        Access::Needs(P::ChangeMemberRoles),
    ),
    ("Mutation.removeMember", Access::Needs(P::RemoveMembers)),
    (
        "Mutation.leaveOrganization",
        Access::Needs(P::LeaveOrganization),
    ),
    ("Member.email", Access::Needs(P::ReadMemberEmails)),
    ("Member.*", Access::Parent),
    // Invitations.
    ("Query.invitations", Access::Needs(P::ReadInvitations)),
    ("Mutation.inviteMember", Access::Needs(P::InviteMembers)),
    (
        "Mutation.resendInvitation",
        Access::Needs(P::ResendInvitations),
    ),
    (
        "Mutation.revokeInvitation",
        Access::Needs(P::RevokeInvitations),
    ),
    ("Invitation.*", Access::Parent),
    ("InvitationPayload.*", Access::Parent),
    // API keys.
    ("Query.apiKeys", Access::Needs(P::ManageApiKeys)),
    ("Mutation.createApiKey", Access::Needs(P::ManageApiKeys)),
    ("Mutation.rotateApiKey", Access::Needs(P::ManageApiKeys)),
    ("Mutation.revokeApiKey", Access::Needs(P::ManageApiKeys)),
    ("ApiKey.*", Access::Parent),
    ("ApiKeyPayload.*", Access::Parent),
    // Channels.
    ("Query.channelConfigs", Access::Needs(P::ReadChannels)),
    ("Query.channelConfig", Access::Needs(P::ReadChannels)),
    ("Query.agentInstructions", Access::Needs(P::ReadChannels)),
    (
        "Mutation.upsertChannelConfig",
        Access::Needs(P::ManageChannels),
    ),
    (
        "Mutation.setChannelCredentials",
        Access::Needs(P::ManageChannels),
    ),
    (
        "Mutation.deleteChannelConfig",
        Access::Needs(P::ManageChannels),
    ),
    (
        "Mutation.updateAgentInstructions",
        Access::Needs(P::ManageChannels),
    ),
    ("ChannelConfig.*", Access::Parent),
    ("EffectiveInstructions.*", Access::Parent),
    // The audit log.
    ("Query.auditLog", Access::Needs(P::ReadAuditLog)),
    ("AuditEntry.*", Access::Parent),
    // Contacts.
    ("Query.contacts", Access::Needs(P::ReadContacts)),
    ("Query.contact", Access::Needs(P::ReadContacts)),
    ("Mutation.createContact", Access::Needs(P::CreateContacts)),
    ("Mutation.updateContact", Access::Needs(P::UpdateContacts)),
    ("Mutation.identifyContact", Access::Needs(P::CreateContacts)),
    ("Mutation.deleteContact", Access::Needs(P::DeleteContacts)),
    ("Contact.id", Access::Parent),
    ("Contact.email", Access::Needs(P::ReadPersonalData)),
    ("Contact.phone", Access::Needs(P::ReadPersonalData)),
    ("Contact.attributes", Access::Needs(P::ReadPersonalData)),
    ("Contact.notes", Access::Needs(P::ReadContactNotes)),
    ("Contact.owner", Access::Needs(P::ReadMembers)),
    ("Contact.conversations", Access::Needs(P::ReadConversations)),
    ("Contact.*", Access::Needs(P::ReadContacts)),
    ("IdentifyContactPayload.*", Access::Parent),
    // Conversations.
    ("Query.conversations", Access::Needs(P::ReadConversations)),
    ("Query.conversation", Access::Needs(P::ReadConversations)),
    (
        "Mutation.startConversation",
        Access::Needs(P::WriteConversations),
    ),
    ("Mutation.postMessage", Access::Needs(P::WriteConversations)),
    (
        "Mutation.closeConversation",
        Access::Needs(P::WriteConversations),
    ),
    ("Conversation.id", Access::Parent),
    ("Conversation.summary", Access::Needs(P::ReadPersonalData)),
    ("Conversation.contact", Access::Needs(P::ReadContacts)),
    ("Conversation.assignee", Access::Needs(P::ReadMembers)),
    ("Conversation.*", Access::Needs(P::ReadConversations)),
    ("Message.id", Access::Parent),
    ("Message.body", Access::Needs(P::ReadPersonalData)),
    ("Message.*", Access::Needs(P::ReadConversations)),
    // Events and analytics.
    ("Query.events", Access::Needs(P::ReadEvents)),
    ("Mutation.trackEvent", Access::Needs(P::TrackEvents)),
    ("Event.properties", Access::Needs(P::ReadEventProperties)),
    ("Event.*", Access::Parent),
    ("Query.analytics", Access::Needs(P::ReadAnalytics)),
    ("Analytics.*", Access::Needs(P::ReadAnalytics)),
    ("AnalyticsSummary.*", Access::Parent),
    ("EventTotal.*", Access::Parent),
    // Operators.
    ("Mutation.runSystemJob", Access::System),
    ("SystemJobReport.*", Access::Parent),
    ("OrganizationJobResult.*", Access::Parent),
    ("JobStep.*", Access::Parent),
    // Pagination plumbing: whoever reached the connection.
    ("PageInfo.*", Access::Parent),
];

/// Arguments that need a permission of their own beyond their field's: given (or, for
/// `ownerId`, naming someone else), they are refused to whoever lacks it, and the whole
/// mutation with them. `Type.field.argument[.inputField]`.
pub const ARGUMENTS: &[(&str, Permission)] = &[
    ("Mutation.updateOrganization.input.plan", P::ManageBilling),
    (
        "Mutation.updateOrganization.input.seatLimit",
        P::ManageBilling,
    ),
    ("Mutation.updateOrganization.input.status", P::ManageBilling),
    ("Mutation.createContact.input.email", P::ReadPersonalData),
    ("Mutation.createContact.input.ownerId", P::AssignContacts),
    ("Mutation.createContact.input.notes", P::WriteContactNotes),
    ("Mutation.updateContact.input.email", P::ReadPersonalData),
    ("Mutation.updateContact.input.ownerId", P::AssignContacts),
    ("Mutation.updateContact.input.notes", P::WriteContactNotes),
    ("Mutation.identifyContact.input.email", P::ReadPersonalData),
    (
        "Mutation.startConversation.input.assigneeId",
        P::AssignConversations,
    ),
];

/// The row for `Type.field`: the field's own, else its type's `Type.*`. Connection and
/// edge types (`…Connection`, `…Edge`) are plumbing and answer [`Access::Parent`].
pub fn field_access(type_name: &str, field: &str) -> Option<Access> {
    let exact = FIELDS
        .iter()
        .find(|(coordinate, _)| {
            coordinate
                .split_once('.')
                .is_some_and(|(t, f)| t == type_name && f == field)
        })
        .map(|(_, access)| *access);
    exact
        .or_else(|| {
            FIELDS
                .iter()
                .find(|(coordinate, _)| {
                    coordinate
                        .split_once('.')
                        .is_some_and(|(t, f)| t == type_name && f == "*")
                })
                .map(|(_, access)| *access)
        })
        .or_else(|| {
            (type_name.ends_with("Connection") || type_name.ends_with("Edge"))
                .then_some(Access::Parent)
        })
}

/// The README's tables, generated from [`RULES`]: what each role may do, and what each
/// API key scope grants. A test fails when the README's copy differs.
pub fn markdown_tables() -> String {
    let mut out = String::from(
        "| permission | what it allows | lowest role | condition | API key scope |\n|---|---|---|---|---|\n",
    );
    for rule in RULES {
        let condition = match rule.condition {
            Condition::Always => "".to_owned(),
            Condition::OwnRows { any_from } => {
                format!("below {}: only one's own", role_name(any_from))
            }
            Condition::RoleCeiling => "roles up to one's own".to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} |\n",
            rule.permission.name(),
            describe(rule.permission),
            role_name(rule.role),
            condition,
            rule.scope
                .map(|scope| format!("`{}`", scope.as_str()))
                .unwrap_or_else(|| "never".to_owned()),
        ));
    }
    out
}

/// The README's table of API key scopes, generated from [`RULES`]: the permissions each
/// scope grants. A key never holds anything else.
pub fn markdown_scope_table() -> String {
    let mut out = String::from("| scope | grants |\n|---|---|\n");
    for scope in Scope::ALL {
        let granted: Vec<String> = RULES
            .iter()
            .filter(|rule| rule.scope == Some(scope))
            .map(|rule| format!("`{}`", rule.permission.name()))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} |\n",
            scope.as_str(),
            granted.join(", ")
        ));
    }
    out
}

/// The permission's description, as the schema shows it.
pub fn describe(permission: Permission) -> String {
    use async_graphql::registry::{MetaType, Registry};
    let mut registry = Registry::default();
    <Permission as async_graphql::InputType>::create_type_info(&mut registry);
    let name = permission.name();
    match registry.types.get("Permission") {
        Some(MetaType::Enum { enum_values, .. }) => enum_values
            .get(name)
            .and_then(|value| value.description.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
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
        let readme = include_str!("../README.md");
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
        let admin = Actor::Member(crate::tenant::Member {
            user_id: Uuid::nil(),
            role: Role::Admin,
        });
        assert!(holds_on_role(&admin, P::InviteMembers, Role::Admin));
        assert!(!holds_on_role(&admin, P::InviteMembers, Role::Owner));
        assert!(!holds_on_role(&admin, P::ResendInvitations, Role::Owner));
        let member = Actor::Member(crate::tenant::Member {
            user_id: Uuid::nil(),
            role: Role::Member,
        });
        assert!(!holds_on_role(&member, P::InviteMembers, Role::Viewer));
    }
}

/// Introspection per principal: an API key does not see the fields it may never use
/// (async-graphql's `visible`, which introspection honours and the SDL export ignores, so
/// the committed `schema.graphql` stays the whole schema). People and anonymous callers
/// see everything; what they may not use answers `FORBIDDEN`.
pub mod visible {
    use std::sync::Arc;

    use async_graphql::Context;

    use super::{Permission, holds};
    use crate::auth::Principal;
    use crate::tenant::{Actor, RequestContext};

    fn key(ctx: &Context<'_>) -> Option<Actor> {
        match ctx.data_opt::<Arc<RequestContext>>()?.principal() {
            Principal::ApiKey(key) => Some(Actor::ApiKey {
                key_id: key.key_id,
                scopes: key.scopes,
            }),
            _ => None,
        }
    }

    fn sees(ctx: &Context<'_>, permission: Permission) -> bool {
        key(ctx).is_none_or(|actor| holds(&actor, permission))
    }

    /// What decides which fields a principal's introspection shows: nothing for people,
    /// anonymous callers and the system principal (they see every field); the scopes for
    /// an API key. Two principals of one audience get the same introspection answers, so
    /// these answers are cached by it (`graphql::introspection`): whatever the functions
    /// below come to read of the principal must be part of it.
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub enum Audience {
        Everything,
        /// An API key's scopes, as stored.
        Scopes(String),
    }

    pub fn audience(principal: &Principal) -> Audience {
        match principal {
            Principal::ApiKey(key) => Audience::Scopes(key.scopes.to_stored()),
            Principal::User(_) | Principal::Anonymous { .. } | Principal::System => {
                Audience::Everything
            }
        }
    }

    /// Fields no API key may use: people's accounts, sign-in, the system principal's jobs.
    pub fn not_keys(ctx: &Context<'_>) -> bool {
        key(ctx).is_none()
    }

    macro_rules! visible_with {
        ($($name:ident => $permission:ident),* $(,)?) => {
            $(
                #[doc = concat!("Hidden from API keys that lack `", stringify!($permission), "`.")]
                pub fn $name(ctx: &Context<'_>) -> bool {
                    sees(ctx, Permission::$permission)
                }
            )*
        };
    }

    visible_with! {
        read_organization => ReadOrganization,
        update_organization => UpdateOrganization,
        transfer_ownership => TransferOwnership,
        delete_organization => DeleteOrganization,
        leave_organization => LeaveOrganization,
        read_members => ReadMembers,
        read_member_emails => ReadMemberEmails,
        change_member_roles => ChangeMemberRoles,
        remove_members => RemoveMembers,
        read_invitations => ReadInvitations,
        invite_members => InviteMembers,
        resend_invitations => ResendInvitations,
        revoke_invitations => RevokeInvitations,
        manage_api_keys => ManageApiKeys,
        read_channels => ReadChannels,
        manage_channels => ManageChannels,
        read_audit_log => ReadAuditLog,
        read_contacts => ReadContacts,
        read_personal_data => ReadPersonalData,
        create_contacts => CreateContacts,
        update_contacts => UpdateContacts,
        delete_contacts => DeleteContacts,
        read_contact_notes => ReadContactNotes,
        read_conversations => ReadConversations,
        write_conversations => WriteConversations,
        read_events => ReadEvents,
        read_event_properties => ReadEventProperties,
        track_events => TrackEvents,
        read_analytics => ReadAnalytics,
    }
}
