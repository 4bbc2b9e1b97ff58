//! The database side of API keys that runs outside any request: the look-up of a cold
//! key, the write-behind of `lastUsedAt`, and the notifications that tell every node
//! sharing a PostgreSQL database when a key was revoked or rotated.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
};
use uuid::Uuid;

use super::Database;
use crate::error::{AppError, AppResult};
use entity::api_key;

/// The PostgreSQL channel on which revocations and rotations are announced; the payload
/// is the hex SHA-256 of the secret that changed.
pub(super) const CHANGED_KEYS_CHANNEL: &str = "tenantgate_api_key_changed";

/// A live key as found by its secret's hash.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub key_id: Uuid,
    pub organization_id: Uuid,
    pub scopes: String,
    /// When the presented secret stops working (expiry, or the end of a rotation's
    /// grace period).
    pub valid_until: Option<DateTime<Utc>>,
}

/// That a key was used, to be written behind.
#[derive(Clone, Debug)]
pub struct ApiKeyUse {
    pub organization_id: Uuid,
    pub key_id: Uuid,
    pub at: DateTime<Utc>,
}

impl Database {
    /// Finds the unrevoked key of `organization_id` whose current secret, or previous
    /// secret still in its grace period, has this hash. Runs in a read-only transaction
    /// of its own, on PostgreSQL as `tenantgate_app` bound to that organization.
    pub async fn find_api_key(
        &self,
        organization_id: Uuid,
        hash: &[u8; 32],
    ) -> AppResult<Option<ApiKeyRecord>> {
        let (tx, _turn) = self.begin(true).await?;
        if self.is_postgres() {
            super::binding::bind_key_lookup(&tx, organization_id).await?;
        }
        let now = Utc::now();
        let found = api_key::Entity::find()
            .filter(api_key::Column::OrganizationId.eq(organization_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(api_key::Column::SecretHash.eq(hash.to_vec()))
                    .add(
                        Condition::all()
                            .add(api_key::Column::PreviousSecretHash.eq(hash.to_vec()))
                            .add(api_key::Column::PreviousExpiresAt.gt(now)),
                    ),
            )
            .one(&tx)
            .await?;
        tx.commit().await?;
        Ok(found.map(|key| {
            let valid_until = if key.secret_hash == hash {
                key.expires_at
            } else {
                match (key.previous_expires_at, key.expires_at) {
                    (Some(grace), Some(expiry)) => Some(grace.min(expiry)),
                    (grace, expiry) => grace.or(expiry),
                }
            };
            ApiKeyRecord {
                key_id: key.id,
                organization_id: key.organization_id,
                scopes: key.scopes,
                valid_until,
            }
        }))
    }

    /// Writes `lastUsedAt` for a batch of uses: one transaction per organization, bound
    /// to it, never moving a timestamp backwards. One organization's failure does not
    /// keep the others from being written.
    pub async fn record_api_key_use(&self, uses: Vec<ApiKeyUse>) -> AppResult<()> {
        let mut by_organization: HashMap<Uuid, Vec<ApiKeyUse>> = HashMap::new();
        for key_use in uses {
            by_organization
                .entry(key_use.organization_id)
                .or_default()
                .push(key_use);
        }
        let mut first_error = None;
        for (organization_id, uses) in by_organization {
            let written: AppResult<()> = async {
                let tx = self.system_transaction(Some(organization_id)).await?;
                for key_use in uses {
                    api_key::Entity::update_many()
                        .col_expr(api_key::Column::LastUsedAt, Expr::value(key_use.at))
                        .filter(api_key::Column::OrganizationId.eq(organization_id))
                        .filter(api_key::Column::Id.eq(key_use.key_id))
                        .filter(
                            Condition::any()
                                .add(api_key::Column::LastUsedAt.is_null())
                                .add(api_key::Column::LastUsedAt.lt(key_use.at)),
                        )
                        .exec(tx.connection())
                        .await?;
                }
                tx.commit().await
            }
            .await;
            if let Err(error) = written {
                tracing::warn!(%organization_id, error = %error, "could not record API key use");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Calls `changed(Some(hash))` for every key revoked or rotated on any node, and
    /// `changed(None)` when announcements may have been missed (the connection was
    /// lost). PostgreSQL only; returns at once on SQLite, where the cache's short
    /// lifetime bounds how long another node trusts a revoked key.
    pub async fn watch_api_key_changes(&self, changed: impl Fn(Option<[u8; 32]>)) {
        if !self.is_postgres() {
            return;
        }
        // A connection of its own, outside the request pool: a listener holds it for
        // good.
        let options = self
            .conn
            .get_postgres_connection_pool()
            .connect_options()
            .as_ref()
            .clone();
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        loop {
            let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await
            {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for API key changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(CHANGED_KEYS_CHANNEL).await {
                tracing::warn!(error = %error, "cannot listen for API key changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Whatever was announced before the listener started may have been missed.
            changed(None);
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => match decode_hex(notification.payload()) {
                        Some(hash) => changed(Some(hash)),
                        None => changed(None),
                    },
                    // The connection dropped; the next call reconnects.
                    Ok(None) => changed(None),
                    Err(error) => {
                        tracing::warn!(error = %error, "lost the API key change listener");
                        changed(None);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl super::TenantDb {
    /// Announces, in this transaction (so only if it commits), that these secrets
    /// changed, for the other nodes' caches. Does nothing on SQLite.
    pub async fn announce_api_key_change(&self, hashes: &[Vec<u8>]) -> AppResult<()> {
        if self.backend() != DbBackend::Postgres {
            return Ok(());
        }
        for hash in hashes {
            self.connection()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANGED_KEYS_CHANNEL.into(), encode_hex(hash).into()],
                ))
                .await
                .map_err(AppError::from)?;
        }
        Ok(())
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_survive_the_notification_payload() {
        let hash = [7u8; 32];
        assert_eq!(decode_hex(&encode_hex(&hash)), Some(hash));
        assert_eq!(decode_hex("zz"), None);
    }
}
