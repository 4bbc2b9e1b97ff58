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

mod fields;
#[cfg(test)]
mod tests;
pub mod visible;

pub use fields::{
    ARGUMENTS, Access, FIELDS, describe, field_access, markdown_scope_table, markdown_tables,
};

use async_graphql::Enum;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::identity::Scope;
use crate::identity::{API_KEYS_REFUSED, Actor};
use crate::tenant::{RequestContext, TenantDb};
use entity::Role;

/// A member's role in an organization, highest first.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[graphql(name = "Role", remote = "entity::Role")]
pub enum MemberRole {
    /// Everything, including billing, ownership transfer and deleting the organization.
    Owner,
    /// Members, invitations, API keys, channel configurations, settings and the audit log.
    Admin,
    /// Any contact, and analytics.
    Manager,
    /// Contact details (PII); creates contacts, conversations, messages and events.
    Member,
    /// Reads the organization, its members and CRM data without personal details.
    Viewer,
}

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
    /// Read channel configurations, the agent's instructions and provider identities.
    ReadChannels,
    /// Configure channels, credentials, the agent's instructions, provider identities.
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
            Some(scope) => crate::identity::missing_scope(scope),
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

impl RequestContext {
    /// The tenant handle when the caller holds `permission` in the request's
    /// organization (its role or scope gate in [`RULES`]); `FORBIDDEN` naming the role or
    /// scope it lacks otherwise. The rule's row condition is the service's to check,
    /// where the row is known.
    pub fn tenant_with(&self, permission: Permission) -> Result<&TenantDb, AppError> {
        let tenant = self.tenant_unchecked()?;
        require(tenant.actor(), permission)?;
        Ok(tenant)
    }
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
