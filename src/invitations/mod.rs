//! Invitations: admins invite people by email with a role; the invitee accepts with the
//! emailed token, as a new person (the account is created) or signed in with the
//! matching email. Tokens carry at least 256 random bits, are stored hashed, work once and
//! expire after seven days. Members plus open invitations never exceed the seat limit.

pub(crate) mod service;

pub use service::revoke_issued_by;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::guards::{Allow, PeopleOnly};
use crate::graphql::pagination::Page;
use crate::graphql::{ContextExt, response_key};
use crate::policy::MemberRole as RoleValue;
use crate::policy::Permission as P;
use crate::sessions::AuthPayload;
use entity::invitation;

/// Where an invitation stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Sent, not yet accepted, not expired.
    Pending,
    Accepted,
    Revoked,
    /// Not accepted within seven days; `resendInvitation` renews it.
    Expired,
}

/// An invitation to join the organization.
#[derive(SimpleObject, Clone)]
pub struct Invitation {
    pub id: ID,
    pub email: String,
    pub role: RoleValue,
    pub status: InvitationStatus,
    /// The member who sent it, if they are still a user.
    pub invited_by: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

impl crate::graphql::plain::PageNode for Invitation {}

impl From<invitation::Model> for Invitation {
    fn from(model: invitation::Model) -> Self {
        Invitation {
            id: ID(model.id.to_string()),
            status: service::status_of(&model, Utc::now()),
            email: model.email,
            role: model.role.into(),
            invited_by: model.invited_by.map(|id| ID(id.to_string())),
            created_at: model.created_at,
            expires_at: model.expires_at,
            accepted_at: model.accepted_at,
        }
    }
}

/// A sent invitation. Its link, which holds the token, goes only to the invited email
/// address: whoever accepts has shown they read that mailbox.
#[derive(SimpleObject)]
pub struct InvitationPayload {
    pub invitation: Invitation,
}

#[derive(InputObject)]
pub struct InviteMemberInput {
    pub email: String,
    /// At most your own role; OWNER only from owners.
    pub role: RoleValue,
}

#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The token from the invitation link.
    pub token: String,
    /// For a new account: your name.
    pub name: Option<String>,
    /// For a new account: at least 10 characters.
    pub password: Option<String>,
}

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// The organization's invitations, newest first. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ReadInvitations)",
        visible = "crate::policy::visible::read_invitations",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        status: Option<InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Page<Invitation>> {
        Ok(service::list(ctx.request()?.tenant()?, status, first, after).await?)
    }
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites someone by email with a role up to your own (OWNER only from owners); the
    /// link is mailed to them. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::InviteMembers)",
        visible = "crate::policy::visible::invite_members"
    )]
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> GqlResult<InvitationPayload> {
        Ok(service::invite(ctx.request()?, ctx.services()?, input).await?)
    }

    /// Sends an invitation again with a new token (the old link stops working) and a new
    /// seven-day expiry, by mail. ADMIN or higher, for invitations of roles up to your own.
    #[graphql(
        guard = "Allow(P::ResendInvitations)",
        visible = "crate::policy::visible::resend_invitations"
    )]
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<InvitationPayload> {
        Ok(service::resend(ctx.request()?, ctx.services()?, &id).await?)
    }

    /// Withdraws an invitation; its link stops working. ADMIN or higher, for invitations
    /// of roles up to your own.
    #[graphql(
        guard = "Allow(P::RevokeInvitations)",
        visible = "crate::policy::visible::revoke_invitations"
    )]
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Invitation> {
        Ok(service::revoke(ctx.request()?.tenant()?, &id).await?.into())
    }

    /// Accepts an invitation. Signed in: the invitation must be for your email. Not signed
    /// in: give `name` and `password` to create your account (if an account with the
    /// invited email exists, sign in first). Answers a session in the organization.
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> GqlResult<AuthPayload> {
        Ok(service::accept(ctx.request()?, ctx.services()?, response_key(ctx), input).await?)
    }
}
