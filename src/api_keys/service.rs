//! The rules of API keys: validation, the secret shown once, rotation with a grace
//! period, revocation that reaches every node's cache.

use async_graphql::ID;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{ApiKey, ApiKeyPayload, ApiKeyStatus, CreateApiKeyInput};
use crate::audit::AuditAction;
use crate::auth::api_keys::{self, KeyHash};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{IdCursor, Page, newest_first, page_request};
use crate::identity::{Scope, Scopes};
use crate::input::{Name, parse_id};
use crate::services::Services;
use crate::tenant::{RequestContext, TenantDb};
use entity::api_key;

/// The longest grace period a rotation may give the previous secret: a week.
const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

pub fn status_of(key: &api_key::Model, now: DateTime<Utc>) -> ApiKeyStatus {
    if key.revoked_at.is_some() {
        ApiKeyStatus::Revoked
    } else if key.expires_at.is_some_and(|at| at <= now) {
        ApiKeyStatus::Expired
    } else {
        ApiKeyStatus::Active
    }
}

pub async fn list(
    db: &TenantDb,
    status: Option<ApiKeyStatus>,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Page<ApiKey>> {
    let request = page_request::<IdCursor>(first, after)?;
    let now = Utc::now();
    let select = db.find::<api_key::Entity>();
    let select = match status {
        None => select,
        Some(ApiKeyStatus::Revoked) => select.filter(api_key::Column::RevokedAt.is_not_null()),
        Some(ApiKeyStatus::Expired) => select
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(api_key::Column::ExpiresAt.lte(now)),
        Some(ApiKeyStatus::Active) => select.filter(api_key::Column::RevokedAt.is_null()).filter(
            sea_orm::Condition::any()
                .add(api_key::Column::ExpiresAt.is_null())
                .add(api_key::Column::ExpiresAt.gt(now)),
        ),
    };
    newest_first(db, select, &request, |row| row.id, ApiKey::from).await
}

pub async fn create(db: &TenantDb, input: CreateApiKeyInput) -> AppResult<ApiKeyPayload> {
    let creator = db.member()?;
    let name = Name::parse("name", &input.name, 100)?.into_inner();
    let scopes: Scopes = input.scopes.iter().map(|&s| Scope::from(s)).collect();
    if scopes == Scopes::default() {
        return Err(AppError::invalid("scopes", "must name at least one scope"));
    }
    let now = Utc::now();
    let expires_at = input
        .expires_at
        .map(|at| crate::input::bounded_time("expiresAt", at))
        .transpose()?;
    if let Some(expires_at) = expires_at
        && expires_at <= now
    {
        return Err(AppError::invalid("expiresAt", "must be in the future"));
    }
    let key = api_keys::generate(db.organization_id());
    let id = Uuid::now_v7();
    let created = db
        .insert(api_key::ActiveModel {
            organization_id: NotSet,
            id: Set(id),
            name: Set(name),
            prefix: Set(key.prefix),
            secret_hash: Set(key.hash.to_vec()),
            previous_secret_hash: Set(None),
            previous_expires_at: Set(None),
            scopes: Set(scopes.to_stored()),
            created_by: Set(Some(creator.user_id)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            last_used_at: Set(None),
            rotated_at: Set(None),
            revoked_at: Set(None),
        })
        .await?;
    db.audit(
        AuditAction::ApiKeyCreated,
        "api_key",
        Some(id.to_string()),
        json!({ "after": {
            "name": created.name,
            "scopes": created.scopes,
            "expiresAt": created.expires_at,
        } }),
    )
    .await?;
    Ok(ApiKeyPayload {
        api_key: created.into(),
        secret: key.secret,
    })
}

pub async fn rotate(
    request: &RequestContext,
    services: &Services,
    id: &ID,
    grace_period_seconds: Option<i32>,
) -> AppResult<ApiKeyPayload> {
    let db = request.tenant()?;
    let grace = match grace_period_seconds {
        Some(seconds) if !(0..=MAX_GRACE_SECONDS).contains(&i64::from(seconds)) => {
            return Err(AppError::invalid(
                "gracePeriodSeconds",
                format!("must be between 0 and {MAX_GRACE_SECONDS}"),
            ));
        }
        Some(seconds) => chrono::Duration::seconds(i64::from(seconds)),
        None => chrono::Duration::from_std(services.rotation_grace)
            .map_err(AppError::internal)?
            .min(chrono::Duration::seconds(MAX_GRACE_SECONDS)),
    };
    let existing = db.get::<api_key::Entity>(parse_id("id", id)?).await?;
    let now = Utc::now();
    match status_of(&existing, now) {
        ApiKeyStatus::Active => {}
        ApiKeyStatus::Revoked => {
            return Err(AppError::conflict(
                "id",
                "this API key is revoked: create a new one",
            ));
        }
        ApiKeyStatus::Expired => {
            return Err(AppError::conflict(
                "id",
                "this API key has expired: create a new one",
            ));
        }
    }
    let changed = secrets_of(&existing);
    let key = api_keys::generate(db.organization_id());
    let keep_previous = grace > chrono::Duration::zero();
    let mut row: api_key::ActiveModel = existing.clone().into();
    row.previous_secret_hash = Set(keep_previous.then(|| existing.secret_hash.clone()));
    row.previous_expires_at = Set(keep_previous.then(|| now + grace));
    row.secret_hash = Set(key.hash.to_vec());
    row.prefix = Set(key.prefix);
    row.rotated_at = Set(Some(now));
    let rotated = db.update(row).await?;
    db.audit(
        AuditAction::ApiKeyRotated,
        "api_key",
        Some(rotated.id.to_string()),
        json!({
            "before": { "prefix": existing.prefix },
            "after": {
                "prefix": rotated.prefix,
                "previousSecretExpiresAt": rotated.previous_expires_at,
            },
        }),
    )
    .await?;
    forget_everywhere(request, services, db, changed).await?;
    Ok(ApiKeyPayload {
        api_key: rotated.into(),
        secret: key.secret,
    })
}

pub async fn revoke(
    request: &RequestContext,
    services: &Services,
    id: &ID,
) -> AppResult<api_key::Model> {
    let db = request.tenant()?;
    let existing = db.get::<api_key::Entity>(parse_id("id", id)?).await?;
    if existing.revoked_at.is_some() {
        return Ok(existing);
    }
    let changed = secrets_of(&existing);
    let revoked = db
        .update_while_read_only(revocation(existing.clone(), Utc::now()))
        .await?;
    db.audit(
        AuditAction::ApiKeyRevoked,
        "api_key",
        Some(revoked.id.to_string()),
        json!({ "before": { "name": existing.name, "prefix": existing.prefix } }),
    )
    .await?;
    forget_everywhere(request, services, db, changed).await?;
    Ok(revoked)
}

/// Revokes every live key `creator` created (when they leave, are removed or lose the
/// right to manage keys: they may still hold the secrets) and answers their ids. Works
/// while the organization is read-only, like `revokeApiKey`.
pub async fn revoke_created_by(
    request: &RequestContext,
    services: &Services,
    db: &TenantDb,
    creator: Uuid,
) -> AppResult<Vec<Uuid>> {
    let live = db
        .all(
            db.find::<api_key::Entity>()
                .filter(api_key::Column::CreatedBy.eq(creator))
                .filter(api_key::Column::RevokedAt.is_null()),
        )
        .await?;
    let now = Utc::now();
    let mut hashes = Vec::new();
    let mut ids = Vec::with_capacity(live.len());
    for key in live {
        hashes.extend(secrets_of(&key));
        ids.push(key.id);
        db.update_while_read_only(revocation(key, now)).await?;
    }
    if !hashes.is_empty() {
        forget_everywhere(request, services, db, hashes).await?;
    }
    Ok(ids)
}

/// The change that revokes a key: no secret of it works any more, the previous one
/// included.
fn revocation(key: api_key::Model, at: DateTime<Utc>) -> api_key::ActiveModel {
    let mut row: api_key::ActiveModel = key.into();
    row.revoked_at = Set(Some(at));
    row.previous_secret_hash = Set(None);
    row.previous_expires_at = Set(None);
    row
}

/// The hashes of every secret of a key that may be cached somewhere.
fn secrets_of(key: &api_key::Model) -> Vec<Vec<u8>> {
    std::iter::once(key.secret_hash.clone())
        .chain(key.previous_secret_hash.clone())
        .collect()
}

/// Makes every node forget the cached verdicts on these secrets once the change commits:
/// this node directly, the others by a notification sent in the same transaction.
async fn forget_everywhere(
    request: &RequestContext,
    services: &Services,
    db: &TenantDb,
    hashes: Vec<Vec<u8>>,
) -> AppResult<()> {
    db.announce_api_key_change(&hashes).await?;
    let hashes: Vec<KeyHash> = hashes
        .into_iter()
        .filter_map(|hash| hash.try_into().ok())
        .collect();
    let cache = services.api_keys.clone();
    request.after_commit(Box::pin(async move { cache.invalidate(&hashes).await }));
    Ok(())
}
