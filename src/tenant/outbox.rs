//! Pool-level work that runs outside requests: the mail outbox the dispatcher drains, and
//! password reset tokens (issued in their own transaction so a reset request takes the
//! same time whether or not the account exists).

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::Database;
use super::global::{SealedMail, outbox_row};
use crate::error::{AppError, AppResult};
use crate::identity::new_opaque_token;
use entity::{outbox, password_reset, user};

/// A queued email, as the dispatcher sees it.
pub type OutboxMail = outbox::Model;

/// Prefix of password reset tokens.
const RESET_TOKEN_PREFIX: &str = "tgp_";

impl Database {
    /// Wakes the mail dispatcher (after a request queued mail).
    pub fn mail_signal(&self) -> &tokio::sync::Notify {
        &self.mail_signal
    }

    /// Queues an email outside any request.
    pub async fn enqueue_mail(&self, mail: SealedMail) -> AppResult<()> {
        let (tx, _turn) = self.autonomous().await?;
        outbox_row(mail).insert(&tx).await?;
        tx.commit().await?;
        self.mail_signal.notify_one();
        Ok(())
    }

    /// Takes up to `limit` due emails and leases them for `lease`, so that another
    /// dispatcher (another replica) does not send them too.
    pub async fn claim_due_mail(&self, limit: u64, lease: Duration) -> AppResult<Vec<OutboxMail>> {
        let (tx, _turn) = self.autonomous().await?;
        let now = Utc::now();
        let due = outbox::Entity::find()
            .filter(outbox::Column::SentAt.is_null())
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .order_by_asc(outbox::Column::NextAttemptAt)
            .limit(limit)
            .all(&tx)
            .await?;
        let until = now + chrono::Duration::from_std(lease).map_err(AppError::internal)?;
        let mut claimed = Vec::with_capacity(due.len());
        for mail in due {
            let won = outbox::Entity::update_many()
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(until))
                .filter(outbox::Column::Id.eq(mail.id))
                .filter(outbox::Column::NextAttemptAt.eq(mail.next_attempt_at))
                .filter(outbox::Column::SentAt.is_null())
                .exec(&tx)
                .await?
                .rows_affected
                == 1;
            if won {
                claimed.push(mail);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    pub async fn mark_mail_sent(&self, id: Uuid) -> AppResult<()> {
        let (tx, _turn) = self.autonomous().await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::SentAt, Expr::value(Utc::now()))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again (`None`: give up).
    pub async fn mark_mail_failed(
        &self,
        id: Uuid,
        attempts: i32,
        error: &str,
        retry_in: Option<Duration>,
    ) -> AppResult<()> {
        let (tx, _turn) = self.autonomous().await?;
        let next = match retry_in {
            Some(delay) => {
                Utc::now() + chrono::Duration::from_std(delay).map_err(AppError::internal)?
            }
            // Far future: kept for inspection, never retried.
            None => Utc::now() + chrono::Duration::days(36_500),
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(error.chars().take(1000).collect::<String>()),
            )
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
            .filter(outbox::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a reset token for the account with this email, if there is one.
    pub async fn issue_password_reset(
        &self,
        email: &str,
        lifetime: Duration,
    ) -> AppResult<Option<(user::Model, String)>> {
        let (tx, _turn) = self.autonomous().await?;
        let Some(user) = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&tx)
            .await?
        else {
            return Ok(None);
        };
        let (token, hash) = new_opaque_token(RESET_TOKEN_PREFIX);
        let now = Utc::now();
        // No `RETURNING`: the request role may write the hash but not read it back.
        password_reset::Entity::insert(password_reset::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.id),
            token_hash: Set(hash),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::from_std(lifetime).map_err(AppError::internal)?),
            used_at: Set(None),
        })
        .exec_without_returning(&tx)
        .await?;
        tx.commit().await?;
        Ok(Some((user, token)))
    }
}
