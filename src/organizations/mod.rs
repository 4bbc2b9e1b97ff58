//! Organizations: the tenants. Reading the current one, the public look-up by slug,
//! creating one (the caller becomes OWNER), settings (ADMIN), billing fields and deletion
//! (OWNER).

pub mod changes;
mod service;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::input::{Name, Slug};
use crate::policy::Permission as P;
use entity::organization;

pub use service::{create, seats_in_use};

/// Where an organization stands with billing.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::OrganizationStatus")]
pub enum OrganizationStatus {
    /// Trying tenantgate out (new organizations start here).
    Trial,
    Active,
    /// Payment is late; everything still works.
    PastDue,
    /// Read-only until an owner reactivates it.
    Suspended,
    /// Read-only.
    Canceled,
}

/// An organization the caller belongs to.
#[derive(SimpleObject, Clone)]
pub struct Organization {
    pub id: ID,
    pub name: String,
    /// The organization's URL name, unique across tenantgate.
    pub slug: String,
    pub status: OrganizationStatus,
    pub plan: String,
    /// Members plus open invitations never exceed this.
    pub seat_limit: i32,
    /// Events are kept this many days after they occurred, then deleted; older events
    /// cannot be tracked.
    pub event_retention_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Organization {
            id: ID(model.id.to_string()),
            name: model.name,
            slug: model.slug,
            status: model.status.into(),
            plan: model.plan,
            seat_limit: model.seat_limit,
            event_retention_days: model.event_retention_days,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

/// What anyone may know of an organization: enough to show a sign-in or invitation page.
#[derive(SimpleObject)]
pub struct PublicOrganization {
    pub id: ID,
    pub name: String,
    pub slug: String,
}

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    /// Display name, 1–200 characters.
    pub name: String,
    /// URL name: 3–64 of a-z, 0-9 and inner hyphens; unique.
    pub slug: String,
}

/// Omitted fields stay as they are. `name`, `slug` and `eventRetentionDays` need ADMIN;
/// `plan`, `seatLimit` and `status` need OWNER.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// How many days events are kept: 1–3650. Lowering it makes older events go at the
    /// next `ENFORCE_RETENTION` run.
    pub event_retention_days: Option<i32>,
    pub plan: Option<String>,
    /// At least the seats in use (members plus open invitations).
    pub seat_limit: Option<i32>,
    pub status: Option<OrganizationStatus>,
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// The organization of this request (`X-Organization-Id`, else your default).
    #[graphql(
        guard = "Allow(P::ReadOrganization)",
        visible = "crate::policy::visible::read_organization"
    )]
    async fn organization(&self, ctx: &Context<'_>) -> GqlResult<Organization> {
        Ok(ctx.request()?.tenant()?.organization().await?.into())
    }

    /// Looks an organization up by slug; open to anyone, public fields only.
    async fn organization_by_slug(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> GqlResult<Option<PublicOrganization>> {
        let slug = slug.trim().to_lowercase();
        let found = ctx
            .request()?
            .global()
            .find_organization_by_slug(&slug)
            .await?;
        Ok(found.map(|org| PublicOrganization {
            id: ID(org.id.to_string()),
            name: org.name,
            slug: org.slug,
        }))
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organization; you become its OWNER. Switch to it with the
    /// `X-Organization-Id` header.
    #[graphql(visible = "crate::policy::visible::not_keys")]
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> GqlResult<Organization> {
        let request = ctx.request()?;
        let user = request.user()?;
        let name = Name::parse("name", &input.name, 200)?;
        let slug = Slug::parse("slug", &input.slug)?;
        let seats = ctx.services()?.default_seat_limit;
        Ok(create(request, name, slug, user.user_id, "slug", seats)
            .await?
            .into())
    }

    /// Changes the organization's settings (name, slug, event retention). ADMIN or
    /// higher; the billing fields (`plan`, `seatLimit`, `status`) OWNER only.
    #[graphql(
        guard = "Allow(P::UpdateOrganization)",
        visible = "crate::policy::visible::update_organization"
    )]
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> GqlResult<Organization> {
        Ok(service::update(ctx.request()?.tenant()?, input)
            .await?
            .into())
    }

    /// Deletes the organization and all its data, for good. OWNER only; type the slug to
    /// confirm. Answers the deleted organization's id.
    #[graphql(
        guard = "Allow(P::DeleteOrganization)",
        visible = "crate::policy::visible::delete_organization"
    )]
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's slug, typed again as confirmation.")]
        confirm_slug: String,
    ) -> GqlResult<ID> {
        Ok(service::delete(ctx.request()?.tenant()?, &confirm_slug).await?)
    }
}
