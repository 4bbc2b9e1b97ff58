//! The rules of organization settings, billing and deletion.

use async_graphql::ID;
use serde_json::json;

use super::UpdateOrganizationInput;
use super::changes::{self, BillingChanges, OrganizationChanges};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::input::{Name, Slug};
use crate::policy::{self, grants};
use crate::tenant::{RequestContext, TenantDb};
use entity::{invitation, membership, organization};
use sea_orm::{ColumnTrait, QueryFilter};

/// Creates an organization owned by `owner`; a taken slug is `CONFLICT` on `slug_field`
/// (the name of the slug field in the caller's input).
pub async fn create(
    request: &RequestContext,
    name: Name,
    slug: Slug,
    owner: uuid::Uuid,
    slug_field: &str,
    seat_limit: i32,
) -> AppResult<organization::Model> {
    let global = request.global();
    if global
        .find_organization_by_slug(slug.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict(slug_field, "this slug is taken"));
    }
    global
        .found_organization(
            name.into_inner(),
            slug.into_inner(),
            owner,
            seat_limit,
            request.client().ip.clone(),
            AuditAction::OrganizationCreated,
        )
        .await
        .map_err(|e| e.conflict_on(slug_field, "this slug is taken"))
}

/// Seats in use: members plus open (pending, unexpired) invitations.
pub async fn seats_in_use(db: &TenantDb) -> AppResult<u64> {
    let members = db.count(db.find::<membership::Entity>()).await?;
    let open = db
        .count(
            db.find::<invitation::Entity>()
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null())
                .filter(invitation::Column::ExpiresAt.gt(chrono::Utc::now())),
        )
        .await?;
    Ok(members + open)
}

pub async fn update(
    db: &TenantDb,
    input: UpdateOrganizationInput,
) -> AppResult<organization::Model> {
    let billing = input.plan.is_some() || input.seat_limit.is_some() || input.status.is_some();
    let granted = if billing {
        Some(policy::grant::<grants::ManageBilling>(db)?)
    } else {
        None
    };
    let mut changes = OrganizationChanges {
        name: input
            .name
            .map(|name| Name::parse("name", &name, 200).map(Name::into_inner))
            .transpose()?,
        slug: input
            .slug
            .map(|slug| Slug::parse("slug", &slug).map(Slug::into_inner))
            .transpose()?,
        event_retention_days: input.event_retention_days.map(retention_days).transpose()?,
        ..OrganizationChanges::default()
    };
    let plan = input
        .plan
        .map(|plan| Name::parse("plan", &plan, 32).map(Name::into_inner))
        .transpose()?;
    let mut seat_limit = None;
    if let Some(wanted) = input.seat_limit {
        if !(1..=100_000).contains(&wanted) {
            return Err(AppError::invalid(
                "seatLimit",
                "must be between 1 and 100000",
            ));
        }
        db.lock_organization().await?;
        let in_use = seats_in_use(db).await?;
        if (wanted as u64) < in_use {
            return Err(AppError::invalid(
                "seatLimit",
                format!(
                    "must be at least the {in_use} seats in use (members and open invitations)"
                ),
            ));
        }
        seat_limit = Some(wanted);
    }
    if let Some(granted) = granted {
        changes.billing = Some(BillingChanges::new(
            granted,
            input.status.map(Into::into),
            plan,
            seat_limit,
        ));
    }
    let (before, after) = changes::apply(db, changes)
        .await
        .map_err(|e| e.conflict_on("slug", "this slug is taken"))?;
    let action = if billing {
        AuditAction::OrganizationBillingUpdated
    } else {
        AuditAction::OrganizationUpdated
    };
    db.audit(
        action,
        "organization",
        Some(after.id.to_string()),
        json!({
            "before": summary(&before),
            "after": summary(&after),
        }),
    )
    .await?;
    Ok(after)
}

/// Events are kept from one day to ten years: bounded, so a slip of the keyboard can
/// neither keep events forever nor delete them all at the next retention run.
fn retention_days(days: i32) -> AppResult<i32> {
    if (1..=3650).contains(&days) {
        Ok(days)
    } else {
        Err(AppError::invalid(
            "eventRetentionDays",
            "must be between 1 and 3650",
        ))
    }
}

fn summary(org: &organization::Model) -> serde_json::Value {
    json!({
        "name": org.name,
        "slug": org.slug,
        "status": org.status,
        "plan": org.plan,
        "seatLimit": org.seat_limit,
        "eventRetentionDays": org.event_retention_days,
    })
}

pub async fn delete(db: &TenantDb, confirm_slug: &str) -> AppResult<ID> {
    let organization = db.organization().await?;
    if confirm_slug.trim().to_lowercase() != organization.slug {
        return Err(AppError::invalid(
            "confirmSlug",
            "must be the organization's slug, typed again",
        ));
    }
    changes::delete(db, policy::grant::<grants::DeleteOrganization>(db)?).await?;
    tracing::info!(organization_id = %organization.id, user_id = ?db.user_id(), "organization deleted");
    Ok(ID(organization.id.to_string()))
}
