//! An organization: the tenant. Its `id` is the `organization_id` of every tenant row.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub status: OrganizationStatus,
    /// The plan's name, as billing calls it.
    pub plan: String,
    /// Members plus open invitations never exceed this.
    pub seat_limit: i32,
    /// The AI agent's default instructions for every channel that has none of its own.
    pub agent_instructions: Option<String>,
    /// Events older than this many days are deleted (`ENFORCE_RETENTION`) and refused.
    pub event_retention_days: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// Where an organization stands with billing. SUSPENDED and CANCELED organizations are
/// read-only.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum OrganizationStatus {
    #[sea_orm(string_value = "trial")]
    Trial,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "past_due")]
    PastDue,
    #[sea_orm(string_value = "suspended")]
    Suspended,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

impl OrganizationStatus {
    /// Whether the organization's data may change.
    pub fn is_writable(self) -> bool {
        !matches!(
            self,
            OrganizationStatus::Suspended | OrganizationStatus::Canceled
        )
    }
}
