//! Members of an organization: listing them, changing roles, removing, leaving, and
//! handing ownership over. Nobody acts on a role above their own, only owners touch
//! owners, and the last owner can never disappear.

mod service;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::id::Id;
use crate::graphql::loaders::{MemberId, load_error};
use crate::graphql::pagination::Page;
use crate::policy::MemberRole as RoleValue;
use crate::policy::Permission as P;
use entity::{membership, user};

/// A member of the organization.
#[derive(SimpleObject, Clone)]
// Plain values only: resolved one field after the other, without async-graphql's
// per-field task (see `conversations::Message`).
#[graphql(complex, serial)]
pub struct Member {
    pub user_id: Id,
    pub name: String,
    pub role: RoleValue,
    pub joined_at: DateTime<Utc>,
    #[graphql(skip)]
    address: String,
}

impl crate::graphql::plain::PageNode for Member {}

#[ComplexObject]
impl Member {
    /// The member's email: ADMIN or higher, and the member themself (for others the
    /// field is null, with a `FORBIDDEN` error).
    #[graphql(
        guard = "Allow(P::ReadMemberEmails)",
        visible = "crate::policy::visible::read_member_emails"
    )]
    async fn email(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        service::may_read_email(
            ctx.request()?.tenant_with(P::ReadMemberEmails)?,
            self.user_id.0,
        )?;
        Ok(Some(self.address.clone()))
    }
}

impl Member {
    /// The member with this user id, through the request's loaders, for the fields that
    /// point at one (`Contact.owner`, `Conversation.assignee`). Members only: API keys
    /// never see members.
    pub async fn load(ctx: &Context<'_>, user_id: Option<Uuid>) -> GqlResult<Option<Member>> {
        ctx.request()?.tenant()?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        Ok(ctx
            .loaders()?
            .load_one(MemberId(user_id))
            .await
            .map_err(load_error)?
            .map(Member::from))
    }
}

impl From<(membership::Model, user::Model)> for Member {
    fn from((membership, user): (membership::Model, user::Model)) -> Self {
        Member {
            user_id: Id(user.id),
            name: user.name,
            role: membership.role.into(),
            joined_at: membership.created_at,
            address: user.email,
        }
    }
}

#[derive(InputObject, Default)]
pub struct MemberFilter {
    /// Only members with this role.
    pub role: Option<RoleValue>,
}

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// The organization's members, in the order they joined (`first` 1–100, default 20).
    #[graphql(
        guard = "Allow(P::ReadMembers)",
        visible = "crate::policy::visible::read_members",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<MemberFilter>,
    ) -> GqlResult<Page<Member, service::MemberCursor>> {
        Ok(service::list(
            ctx.request()?.tenant()?,
            first,
            after,
            filter.unwrap_or_default(),
        )
        .await?)
    }
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Changes a member's role. ADMIN or higher; never to or from a role above your own;
    /// only owners make or unmake owners; the last owner stays an owner.
    #[graphql(
        guard = "Allow(P::ChangeMemberRoles)",
        visible = "crate::policy::visible::change_member_roles"
    )]
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: RoleValue,
        #[graphql(
            default = false,
            desc = "Demoted below ADMIN, the member's API keys are revoked (they may hold the secrets); true keeps them. Their invitations above the new role are always revoked."
        )]
        keep_api_keys: bool,
    ) -> GqlResult<Member> {
        Ok(service::update_role(
            ctx.request()?,
            ctx.services()?,
            &user_id,
            role.into(),
            keep_api_keys,
        )
        .await?)
    }

    /// Removes a member; their access ends with their next request and their contacts
    /// lose their owner. ADMIN or higher, never above your own role; only owners remove
    /// owners; the last owner cannot be removed. Answers the removed user's id.
    #[graphql(
        guard = "Allow(P::RemoveMembers)",
        visible = "crate::policy::visible::remove_members"
    )]
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        #[graphql(
            default = false,
            desc = "The removed member's API keys are revoked (they may hold the secrets); true keeps them working. Their pending invitations are always revoked."
        )]
        keep_api_keys: bool,
    ) -> GqlResult<ID> {
        service::remove(ctx.request()?, ctx.services()?, &user_id, keep_api_keys).await?;
        Ok(user_id)
    }

    /// Leaves the organization. The last owner cannot leave: transfer ownership first.
    #[graphql(
        guard = "Allow(P::LeaveOrganization)",
        visible = "crate::policy::visible::leave_organization"
    )]
    async fn leave_organization(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        service::leave(ctx.request()?, ctx.services()?).await?;
        Ok(true)
    }

    /// Makes another member an OWNER and you an ADMIN. OWNER only.
    #[graphql(
        guard = "Allow(P::TransferOwnership)",
        visible = "crate::policy::visible::transfer_ownership"
    )]
    async fn transfer_ownership(&self, ctx: &Context<'_>, user_id: ID) -> GqlResult<Member> {
        Ok(
            service::transfer_ownership(crate::policy::grant(ctx.request()?.tenant()?)?, &user_id)
                .await?,
        )
    }
}
