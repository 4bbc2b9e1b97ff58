//! Pending sign-ups (email verification on): `signUp` stores one and mails its token;
//! `verifyEmail` consumes it. Tokens are stored as SHA-256 only, like reset tokens.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
};
use uuid::Uuid;

use super::global::GlobalDb;
use crate::error::{AppError, AppResult};
use crate::identity::{hash_opaque_token, new_opaque_token};
use entity::pending_sign_up;

/// Prefix of email verification tokens, so a leaked one is recognisable.
const VERIFY_TOKEN_PREFIX: &str = "tgv_";

/// A pending sign-up as stored, found by its token.
pub type PendingSignUp = pending_sign_up::Model;

/// What a person chose at sign-up, already validated; the password only as its hash.
pub struct NewSignUp {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub organization_name: String,
    pub organization_slug: String,
    pub remember_me: bool,
}

impl GlobalDb {
    /// Stores a sign-up that waits for its email to be verified, for `lifetime`, and
    /// answers the token to mail (shown nowhere else).
    pub async fn create_pending_sign_up(
        &self,
        sign_up: NewSignUp,
        lifetime: Duration,
    ) -> AppResult<String> {
        let (token, hash) = new_opaque_token(VERIFY_TOKEN_PREFIX);
        let now = Utc::now();
        // No `RETURNING`: the request role may write the hashes but not read them back.
        pending_sign_up::Entity::insert(pending_sign_up::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(sign_up.email),
            name: Set(sign_up.name),
            password_hash: Set(sign_up.password_hash),
            organization_name: Set(sign_up.organization_name),
            organization_slug: Set(sign_up.organization_slug),
            remember_me: Set(sign_up.remember_me),
            token_hash: Set(hash),
            created_at: Set(now),
            expires_at: Set(
                now + chrono::Duration::from_std(lifetime).map_err(AppError::internal)?
            ),
        })
        .exec_without_returning(self.tx())
        .await?;
        Ok(token)
    }

    /// Uses up a verification token: answers its sign-up when the token is known and
    /// unexpired, and deletes it together with every other pending sign-up for the same
    /// email, so the first link followed wins and the others stop working. Of two
    /// concurrent uses of one token only one claims it. If the request fails afterwards
    /// (a slug taken meanwhile), its rollback gives the token back.
    pub async fn consume_pending_sign_up(
        &self,
        presented: &str,
    ) -> AppResult<Option<PendingSignUp>> {
        let hash = hash_opaque_token(presented);
        let found = if self.tx().get_database_backend() == DbBackend::Postgres {
            // The request role may not look sign-ups up by their hash: the function can.
            pending_sign_up::Entity::find()
                .from_raw_sql(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT * FROM tenantgate_pending_sign_up($1)",
                    [hash.into()],
                ))
                .one(self.tx())
                .await?
        } else {
            pending_sign_up::Entity::find()
                .filter(pending_sign_up::Column::TokenHash.eq(hash))
                .one(self.tx())
                .await?
        };
        let now = Utc::now();
        let Some(pending) = found.filter(|pending| pending.expires_at > now) else {
            return Ok(None);
        };
        let claimed = pending_sign_up::Entity::delete_many()
            .filter(pending_sign_up::Column::Id.eq(pending.id))
            .exec(self.tx())
            .await?
            .rows_affected
            == 1;
        if !claimed {
            return Ok(None);
        }
        pending_sign_up::Entity::delete_many()
            .filter(pending_sign_up::Column::Email.eq(pending.email.as_str()))
            .exec(self.tx())
            .await?;
        Ok(Some(pending))
    }
}
