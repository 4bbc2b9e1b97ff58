//! `PURGE_EXPIRED`.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::OrganizationId;
use crate::error::AppResult;
use crate::tenant::Database;
use entity::{invitation, outbox, password_reset, pending_sign_up, session};

/// Ended sessions, invitations and resets are kept this long for inspection.
const KEEP_ENDED_DAYS: i64 = 30;
/// Delivered mail is kept this long.
const KEEP_SENT_MAIL_DAYS: i64 = 7;

/// Sessions (their refresh tokens go with them), password resets, expired pending
/// sign-ups and delivered mail.
#[tracing::instrument(skip(db))]
pub async fn platform(db: &Database) -> AppResult<u64> {
    let now = Utc::now();
    let ended = now - Duration::days(KEEP_ENDED_DAYS);
    let tx = db.system_transaction(None).await?;
    let sessions = session::Entity::delete_many()
        .filter(
            Condition::any()
                .add(session::Column::RevokedAt.lt(ended))
                .add(session::Column::ExpiresAt.lt(ended)),
        )
        .exec(tx.connection())
        .await?
        .rows_affected;
    let resets = password_reset::Entity::delete_many()
        .filter(
            Condition::any()
                .add(password_reset::Column::ExpiresAt.lt(now))
                .add(password_reset::Column::UsedAt.is_not_null()),
        )
        .exec(tx.connection())
        .await?
        .rows_affected;
    // A verified sign-up is deleted when verified; what is left expired unverified, and
    // holds a password hash nobody can use any more.
    let sign_ups = pending_sign_up::Entity::delete_many()
        .filter(pending_sign_up::Column::ExpiresAt.lt(now))
        .exec(tx.connection())
        .await?
        .rows_affected;
    let mail = outbox::Entity::delete_many()
        .filter(outbox::Column::SentAt.lt(now - Duration::days(KEEP_SENT_MAIL_DAYS)))
        .exec(tx.connection())
        .await?
        .rows_affected;
    tx.commit().await?;
    Ok(sessions + resets + sign_ups + mail)
}

/// Invitations that expired or were revoked long ago, never accepted.
#[tracing::instrument(skip(db))]
pub async fn organization(db: &Database, organization: OrganizationId) -> AppResult<u64> {
    let ended = Utc::now() - Duration::days(KEEP_ENDED_DAYS);
    let tx = db.system_transaction(Some(organization)).await?;
    let invitations = invitation::Entity::delete_many()
        .filter(invitation::Column::OrganizationId.eq(organization))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(
            Condition::any()
                .add(invitation::Column::ExpiresAt.lt(ended))
                .add(invitation::Column::RevokedAt.lt(ended)),
        )
        .exec(tx.connection())
        .await?
        .rows_affected;
    tx.commit().await?;
    Ok(invitations)
}
