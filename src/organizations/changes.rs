//! The organization's own row: its settings, and the billing fields that only exist
//! with the proof that the caller may change them.

use sea_orm::ActiveValue::Set;

use crate::policy::{Granted, grants};
use crate::tenant::{TenantDb, WriteError};
use entity::{OrganizationStatus, organization};

/// Changes to the organization row; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// The billing fields, which only exist with the proof that the caller may change
    /// them.
    pub billing: Option<BillingChanges>,
    /// `Some(None)` clears the default agent instructions.
    pub agent_instructions: Option<Option<String>>,
    pub event_retention_days: Option<i32>,
}

/// Changes to the organization's billing fields (`status`, `plan`, `seat_limit`).
pub struct BillingChanges {
    status: Option<OrganizationStatus>,
    plan: Option<String>,
    seat_limit: Option<i32>,
}

impl BillingChanges {
    pub fn new(
        _granted: Granted<'_, grants::ManageBilling>,
        status: Option<OrganizationStatus>,
        plan: Option<String>,
        seat_limit: Option<i32>,
    ) -> Self {
        BillingChanges {
            status,
            plan,
            seat_limit,
        }
    }
}

impl OrganizationChanges {
    /// Whether anything but the billing fields changes (those alone may reactivate a
    /// read-only organization; everything else is refused while it is read-only).
    fn changes_settings(&self) -> bool {
        self.name.is_some()
            || self.slug.is_some()
            || self.agent_instructions.is_some()
            || self.event_retention_days.is_some()
    }
}

/// Applies `changes` to the organization's row: settings are refused while it is
/// read-only, billing fields alone may reactivate it. Returns the row before and after.
pub async fn apply(
    db: &TenantDb,
    changes: OrganizationChanges,
) -> Result<(organization::Model, organization::Model), WriteError> {
    if changes.changes_settings() {
        db.ensure_writable()?;
    }
    let before = db.organization().await?;
    let mut row: organization::ActiveModel = before.clone().into();
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(slug) = changes.slug {
        row.slug = Set(slug);
    }
    if let Some(billing) = changes.billing {
        if let Some(status) = billing.status {
            row.status = Set(status);
        }
        if let Some(plan) = billing.plan {
            row.plan = Set(plan);
        }
        if let Some(seat_limit) = billing.seat_limit {
            row.seat_limit = Set(seat_limit);
        }
    }
    if let Some(instructions) = changes.agent_instructions {
        row.agent_instructions = Set(instructions);
    }
    if let Some(days) = changes.event_retention_days {
        row.event_retention_days = Set(days);
    }
    let after = db.write_organization(row).await?;
    Ok((before, after))
}

/// Deletes the organization and everything it owns, with the proof that the caller may.
pub async fn delete(
    db: &TenantDb,
    _granted: Granted<'_, grants::DeleteOrganization>,
) -> Result<(), WriteError> {
    db.delete_organization().await
}
