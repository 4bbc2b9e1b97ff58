//! What each field of the schema needs ([`FIELDS`], [`ARGUMENTS`]), and the tables the
//! README prints from the rules.

use super::{Condition, Permission, RULES, role_name};
use crate::identity::Scope;
use Permission as P;

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
    // Provider identities.
    ("Query.channelIdentities", Access::Needs(P::ReadChannels)),
    (
        "Mutation.claimChannelIdentity",
        Access::Needs(P::ManageChannels),
    ),
    (
        "Mutation.releaseChannelIdentity",
        Access::Needs(P::ManageChannels),
    ),
    ("ChannelIdentity.*", Access::Parent),
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
    for &scope in Scope::ALL {
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
