//! Introspection per principal: an API key does not see the fields it may never use
//! (async-graphql's `visible`, which introspection honours and the SDL export ignores, so
//! the committed `schema.graphql` stays the whole schema). People and anonymous callers
//! see everything; what they may not use answers `FORBIDDEN`.
use std::sync::Arc;

use async_graphql::Context;

use super::{Permission, holds};
use crate::identity::Actor;
use crate::identity::Principal;
use crate::tenant::RequestContext;

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
