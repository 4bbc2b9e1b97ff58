//! Sessions, refresh tokens and password resets.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};
use uuid::Uuid;

use super::*;

/// A session that was just started or refreshed, with its new refresh token (shown once).
pub struct IssuedSession {
    pub session: session::Model,
    pub refresh_token: String,
}

/// What presenting a refresh token led to.
pub enum RefreshOutcome {
    Rotated(IssuedSession),
    Rejected(&'static str),
}

impl GlobalDb {
    // ---- sessions ----------------------------------------------------------------------

    /// Starts a session for a user who just proved who they are.
    pub async fn start_session(
        &self,
        user_id: Uuid,
        remember_me: bool,
        lifetime: Duration,
        client: &ClientInfo,
    ) -> AppResult<IssuedSession> {
        let now = Utc::now();
        let session = session::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            remember_me: Set(remember_me),
            user_agent: Set(client.user_agent.as_ref().map(|ua| truncate(ua, 512))),
            client_ip: Set(client.ip.clone()),
            created_at: Set(now),
            last_used_at: Set(now),
            expires_at: Set(now + to_chrono(lifetime)?),
            revoked_at: Set(None),
            revoked_reason: Set(None),
        }
        .insert(self.tx())
        .await?;
        let refresh_token = self.issue_refresh_token(session.id).await?;
        Ok(IssuedSession {
            session,
            refresh_token,
        })
    }

    async fn issue_refresh_token(&self, session_id: Uuid) -> AppResult<String> {
        let (token, hash) = new_opaque_token(REFRESH_TOKEN_PREFIX);
        // No `RETURNING`: the request role may write the hash but not read it back.
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(session_id),
            token_hash: Set(hash),
            created_at: Set(Utc::now()),
            rotated_at: Set(None),
        })
        .exec_without_returning(self.tx())
        .await?;
        Ok(token)
    }

    /// The refresh token with the presented token's hash, rotated or not. On PostgreSQL
    /// through the function `tenantgate_refresh_token`: the request role may not read
    /// the hashes, nor look rows up by them.
    async fn find_refresh_token(&self, presented: &str) -> AppResult<Option<refresh_token::Model>> {
        let hash = hash_opaque_token(presented);
        let found = if self.db.is_postgres() {
            refresh_token::Entity::find()
                .from_raw_sql(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT * FROM tenantgate_refresh_token($1)",
                    [hash.into()],
                ))
                .one(self.tx())
                .await?
        } else {
            refresh_token::Entity::find()
                .filter(refresh_token::Column::TokenHash.eq(hash))
                .one(self.tx())
                .await?
        };
        Ok(found)
    }

    /// Exchanges a refresh token for a new one. A token that was already exchanged is a
    /// sign of theft: its whole session is revoked (even though the request fails).
    pub async fn refresh(
        &self,
        presented: &str,
        lifetime: impl Fn(bool) -> Duration,
    ) -> AppResult<RefreshOutcome> {
        const INVALID: &str = "the refresh token is invalid";
        const ENDED: &str = "the session has ended: sign in again";
        const REUSED: &str =
            "the refresh token was already used: the session has been ended for safety";

        let Some(token) = self.find_refresh_token(presented).await? else {
            return Ok(RefreshOutcome::Rejected(INVALID));
        };
        let Some(session) = session::Entity::find_by_id(token.session_id)
            .one(self.tx())
            .await?
        else {
            return Ok(RefreshOutcome::Rejected(INVALID));
        };
        let now = Utc::now();
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Ok(RefreshOutcome::Rejected(ENDED));
        }
        // Claim the token atomically: of two concurrent exchanges only one wins, and the
        // loser is treated as a reuse.
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RotatedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(token.id))
            .filter(refresh_token::Column::RotatedAt.is_null())
            .exec(self.tx())
            .await?
            .rows_affected
            == 1;
        if !claimed {
            lock(&self.effects).push(Effect::RevokeSession {
                id: session.id,
                reason: "refresh_token_reused",
            });
            tracing::warn!(session_id = %session.id, user_id = %session.user_id, "reused refresh token: session revoked");
            return Ok(RefreshOutcome::Rejected(REUSED));
        }
        let mut active: session::ActiveModel = session.into();
        active.last_used_at = Set(now);
        let remember_me = *active.remember_me.as_ref();
        active.expires_at = Set(now + to_chrono(lifetime(remember_me))?);
        let session = active.update(self.tx()).await?;
        let refresh_token = self.issue_refresh_token(session.id).await?;
        Ok(RefreshOutcome::Rotated(IssuedSession {
            session,
            refresh_token,
        }))
    }

    /// Ends a session of `user_id` now (log-out). Answers whether one was ended.
    pub async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: &str,
    ) -> AppResult<bool> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
            .col_expr(session::Column::RevokedReason, Expr::value(reason))
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// The live session a refresh token belongs to, if any (log-out by refresh token).
    pub async fn session_of_refresh_token(
        &self,
        presented: &str,
    ) -> AppResult<Option<session::Model>> {
        let Some(token) = self.find_refresh_token(presented).await? else {
            return Ok(None);
        };
        Ok(session::Entity::find_by_id(token.session_id)
            .filter(session::Column::RevokedAt.is_null())
            .one(self.tx())
            .await?)
    }

    /// Lists the live sessions of `user_id`, most recently used first.
    pub async fn live_sessions(&self, user_id: Uuid) -> AppResult<Vec<session::Model>> {
        Ok(session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .order_by_desc(session::Column::LastUsedAt)
            .all(self.tx())
            .await?)
    }

    /// Ends every live session of `user_id` except `keep`; answers how many ended.
    pub async fn revoke_sessions_except(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
    ) -> AppResult<u64> {
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
            .col_expr(session::Column::RevokedReason, Expr::value(reason))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            update = update.filter(session::Column::Id.ne(keep));
        }
        Ok(update.exec(self.tx()).await?.rows_affected)
    }

    pub async fn set_password_hash(&self, user_id: Uuid, hash: String) -> AppResult<()> {
        user::Entity::update_many()
            .col_expr(PASSWORD_HASH, Expr::value(hash))
            .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(user::Column::Id.eq(user_id))
            .exec(self.tx())
            .await?;
        Ok(())
    }

    /// Uses up a password reset token: answers its user when the token is valid, unused
    /// and unexpired; a second use finds nothing.
    pub async fn consume_password_reset(&self, presented: &str) -> AppResult<Option<Uuid>> {
        let now = Utc::now();
        let hash = hash_opaque_token(presented);
        let found = if self.db.is_postgres() {
            // The request role may not look resets up by their hash: the function can.
            password_reset::Entity::find()
                .from_raw_sql(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT * FROM tenantgate_password_reset($1)",
                    [hash.into()],
                ))
                .one(self.tx())
                .await?
        } else {
            password_reset::Entity::find()
                .filter(password_reset::Column::TokenHash.eq(hash))
                .one(self.tx())
                .await?
        };
        let Some(reset) = found.filter(|reset| reset.used_at.is_none() && reset.expires_at > now)
        else {
            return Ok(None);
        };
        let claimed = password_reset::Entity::update_many()
            .col_expr(password_reset::Column::UsedAt, Expr::value(now))
            .filter(password_reset::Column::Id.eq(reset.id))
            .filter(password_reset::Column::UsedAt.is_null())
            .exec(self.tx())
            .await?
            .rows_affected
            == 1;
        Ok(claimed.then_some(reset.user_id))
    }
}
