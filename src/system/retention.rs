//! `ENFORCE_RETENTION`: each organization's events older than its
//! `event_retention_days`. Nothing outside organizations holds events.

use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::OrganizationId;
use crate::error::AppResult;
use crate::tenant::Database;
use entity::{event, organization};

/// Deletes the organization's events that occurred before its retention period, in one
/// transaction bound to it; answers how many went.
#[tracing::instrument(skip(db))]
pub async fn organization(db: &Database, organization: OrganizationId) -> AppResult<u64> {
    let tx = db.system_transaction(Some(organization)).await?;
    let retention = organization::Entity::find_by_id(organization)
        .select_only()
        .column(organization::Column::EventRetentionDays)
        .into_tuple::<i32>()
        .one(tx.connection())
        .await?;
    // Deleted since the list of organizations was read: its events went with it.
    let Some(days) = retention else {
        tx.commit().await?;
        return Ok(0);
    };
    let cutoff = Utc::now() - Duration::days(i64::from(days));
    let deleted = event::Entity::delete_many()
        .filter(event::Column::OrganizationId.eq(organization))
        .filter(event::Column::OccurredAt.lt(cutoff))
        .exec(tx.connection())
        .await?
        .rows_affected;
    tx.commit().await?;
    Ok(deleted)
}
