//! Organizations: the tenants. Reading the current one, the public look-up by slug,
//! creating one (the caller becomes OWNER) and updating its settings.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult, GqlResult};
use crate::graphql::ContextExt;
use crate::graphql::guards::RoleGuard;
use crate::input::{Name, Slug};
use entity::{Role, organization};

/// An organization the caller belongs to.
#[derive(SimpleObject, Clone)]
pub struct Organization {
    pub id: ID,
    pub name: String,
    /// The organization's URL name, unique across tenantgate.
    pub slug: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Organization {
            id: ID(model.id.to_string()),
            name: model.name,
            slug: model.slug,
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

/// Omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    pub name: Option<String>,
    pub slug: Option<String>,
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// The organization of this request (`X-Organization-Id`, else your default).
    #[graphql(guard = "RoleGuard::new(Role::Viewer)")]
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
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> GqlResult<Organization> {
        let request = ctx.request()?;
        let user = request.user()?;
        let name = Name::parse("name", &input.name, 200)?;
        let slug = Slug::parse("slug", &input.slug)?;
        Ok(create(request.global(), name, slug, user.user_id, "slug")
            .await?
            .into())
    }

    /// Renames the organization or changes its slug. ADMIN or higher.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> GqlResult<Organization> {
        let tenant = ctx.request()?.tenant()?;
        let name = input
            .name
            .map(|name| Name::parse("name", &name, 200).map(Name::into_inner))
            .transpose()?;
        let slug = input
            .slug
            .map(|slug| Slug::parse("slug", &slug).map(Slug::into_inner))
            .transpose()?;
        Ok(tenant
            .update_organization(name, slug)
            .await
            .map_err(|e| e.conflict_on("slug", "this slug is taken"))?
            .into())
    }
}

/// Creates an organization owned by `owner`; a taken slug is `CONFLICT` on `slug_field`
/// (the name of the slug field in the caller's input).
pub async fn create(
    global: &crate::tenant::GlobalDb,
    name: Name,
    slug: Slug,
    owner: uuid::Uuid,
    slug_field: &str,
) -> AppResult<organization::Model> {
    if global
        .find_organization_by_slug(slug.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict(slug_field, "this slug is taken"));
    }
    global
        .found_organization(name.into_inner(), slug.into_inner(), owner)
        .await
        .map_err(|e| e.conflict_on(slug_field, "this slug is taken"))
}
