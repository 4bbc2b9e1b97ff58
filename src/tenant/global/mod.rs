//! Platform tables: users, the organization directory, sessions and refresh tokens.
//! Memberships are only read for the signed-in user (PostgreSQL's `own_memberships`
//! policy says the same). Another organization's tenant rows are reached through narrow
//! doors only, each inside that organization: an invitation by its token, and the public
//! part of a channel by the organization's slug.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, IntoIden, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};
use uuid::Uuid;

use super::Database;
use super::scoped::{TenantDb, WriteError};
use crate::error::{AppError, AppResult};
use crate::identity::UserPrincipal;
use crate::identity::{hash_opaque_token, new_opaque_token};
use crate::lock;
use crate::tenant::ClientInfo;
mod mail;
mod organizations;
mod sessions;

pub use mail::SealedMail;
pub(super) use mail::outbox_row;
pub use organizations::{MembershipWithOrganization, PublicChannel, VerifiedInvitation};
pub use sessions::{IssuedSession, RefreshOutcome};

use entity::{
    ChannelKind, OrganizationStatus, Role, channel_config, invitation, membership, organization,
    outbox, password_reset, refresh_token, session, user,
};

/// Prefix of refresh tokens, so a leaked one is recognisable in logs and scanners.
const REFRESH_TOKEN_PREFIX: &str = "tgr_";

/// The user table's column that `user::Model` leaves out (see there).
const PASSWORD_HASH: &str = "password_hash";

/// Writes that must happen whatever becomes of the request (they run after it ends).
enum Effect {
    RevokeSession { id: Uuid, reason: &'static str },
}

/// Access to platform tables within the request's transaction.
#[derive(Clone)]
pub struct GlobalDb {
    tx: Arc<DatabaseTransaction>,
    db: Database,
    acting_user: Arc<Mutex<Option<Uuid>>>,
    effects: Arc<Mutex<Vec<Effect>>>,
    mail_enqueued: Arc<std::sync::atomic::AtomicBool>,
}

impl GlobalDb {
    pub(super) fn new(tx: Arc<DatabaseTransaction>, db: Database, user: Option<Uuid>) -> Self {
        GlobalDb {
            tx,
            db,
            acting_user: Arc::new(Mutex::new(user)),
            effects: Arc::new(Mutex::new(Vec::new())),
            mail_enqueued: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    pub(super) fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(super) fn database(&self) -> Database {
        self.db.clone()
    }

    pub(super) async fn session_is_live(
        tx: &DatabaseTransaction,
        user: &UserPrincipal,
    ) -> AppResult<bool> {
        let found = session::Entity::find_by_id(user.session_id)
            .filter(session::Column::UserId.eq(user.user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .one(tx)
            .await?;
        Ok(found.is_some())
    }

    pub(super) async fn role_in(
        tx: &DatabaseTransaction,
        organization_id: Uuid,
        user_id: Uuid,
    ) -> AppResult<Option<(Role, OrganizationStatus)>> {
        use sea_orm::{JoinType, QuerySelect};
        // The entities declare no relations of their own.
        let membership_organization = membership::Entity::belongs_to(organization::Entity)
            .from(membership::Column::OrganizationId)
            .to(organization::Column::Id)
            .into();
        Ok(membership::Entity::find_by_id((organization_id, user_id))
            .select_only()
            .column(membership::Column::Role)
            .column(organization::Column::Status)
            .join(JoinType::InnerJoin, membership_organization)
            .into_tuple()
            .one(tx)
            .await?)
    }

    // ---- users -------------------------------------------------------------------------

    pub async fn find_user(&self, id: Uuid) -> AppResult<Option<user::Model>> {
        Ok(user::Entity::find_by_id(id).one(self.tx()).await?)
    }

    pub async fn find_user_by_email(&self, email: &str) -> AppResult<Option<user::Model>> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(self.tx())
            .await?)
    }

    /// Creates a user with this password hash. The hash goes in by a plain `INSERT` with no
    /// `RETURNING`: on PostgreSQL the request role may write the column but not read it.
    pub async fn create_user(
        &self,
        email: String,
        name: String,
        password_hash: String,
    ) -> Result<user::Model, WriteError> {
        let now = Utc::now();
        let model = user::Model {
            id: Uuid::now_v7(),
            email,
            name,
            created_at: now,
            updated_at: now,
        };
        let insert = Query::insert()
            .into_table(user::Entity)
            .columns([
                user::Column::Id.into_iden(),
                user::Column::Email.into_iden(),
                user::Column::Name.into_iden(),
                PASSWORD_HASH.into_iden(),
                user::Column::CreatedAt.into_iden(),
                user::Column::UpdatedAt.into_iden(),
            ])
            .values([
                model.id.into(),
                model.email.clone().into(),
                model.name.clone().into(),
                password_hash.into(),
                now.into(),
                now.into(),
            ])
            .map_err(|error| WriteError::from(AppError::internal(error)))?
            .to_owned();
        self.tx().execute(&insert).await?;
        Ok(model)
    }

    /// The password hash of `user_id`, for the checks that compare a password with it
    /// (log-in, changing the password); `None` when there is no such user. On PostgreSQL
    /// through the function `tenantgate_password_hash`, the request role's only way to
    /// the column.
    pub async fn password_hash(&self, user_id: Uuid) -> AppResult<Option<String>> {
        let statement = if self.db.is_postgres() {
            Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT tenantgate_password_hash($1) AS password_hash",
                [user_id.into()],
            )
        } else {
            self.tx().get_database_backend().build(
                Query::select()
                    .expr_as(Expr::col(PASSWORD_HASH), PASSWORD_HASH)
                    .from(user::Entity)
                    .and_where(user::Column::Id.eq(user_id)),
            )
        };
        let row = self.tx().query_one_raw(statement).await?;
        Ok(row
            .map(|row| row.try_get::<Option<String>>("", "password_hash"))
            .transpose()?
            .flatten())
    }

    /// Records that the request now acts for `user_id`, after a sign-in proved it (so
    /// their own memberships become readable).
    pub async fn act_as_user(&self, user_id: Uuid) -> AppResult<()> {
        if self.db.is_postgres() {
            super::binding::act_as_user(self.tx(), user_id).await?;
        }
        *lock(&self.acting_user) = Some(user_id);
        Ok(())
    }

    /// The memberships of the user the request acts for, oldest first.
    pub async fn memberships_of(
        &self,
        user_id: Uuid,
    ) -> AppResult<Vec<MembershipWithOrganization>> {
        if *lock(&self.acting_user) != Some(user_id) {
            return Ok(Vec::new());
        }
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::CreatedAt)
            .all(self.tx())
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.organization_id).collect();
        let organizations: std::collections::HashMap<Uuid, organization::Model> =
            organization::Entity::find()
                .filter(organization::Column::Id.is_in(ids))
                .all(self.tx())
                .await?
                .into_iter()
                .map(|org| (org.id, org))
                .collect();
        Ok(rows
            .into_iter()
            .filter_map(|membership| {
                let organization = organizations.get(&membership.organization_id)?.clone();
                Some(MembershipWithOrganization {
                    membership,
                    organization,
                })
            })
            .collect())
    }

    /// Lets go of the transaction, keeping what must still be written after it ends.
    pub(super) fn into_effects(self) -> PendingEffects {
        PendingEffects {
            effects: std::mem::take(&mut *lock(&self.effects)),
            mail_enqueued: self
                .mail_enqueued
                .load(std::sync::atomic::Ordering::Relaxed),
            db: self.db,
        }
    }
}

/// Writes that must survive the request, to run once its transaction has ended (on
/// SQLite the request holds the write lock until then).
pub(super) struct PendingEffects {
    effects: Vec<Effect>,
    mail_enqueued: bool,
    db: Database,
}

impl PendingEffects {
    /// Wakes the mail dispatcher when the committed request queued mail.
    pub(super) fn committed(&self) {
        if self.mail_enqueued {
            self.db.mail_signal().notify_one();
        }
    }

    pub(super) async fn run(self) -> AppResult<()> {
        if self.effects.is_empty() {
            return Ok(());
        }
        let (tx, _turn) = self.db.autonomous().await?;
        for effect in self.effects {
            match effect {
                Effect::RevokeSession { id, reason } => {
                    session::Entity::update_many()
                        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
                        .col_expr(session::Column::RevokedReason, Expr::value(reason))
                        .filter(session::Column::Id.eq(id))
                        .filter(session::Column::RevokedAt.is_null())
                        .exec(&tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A request temporarily bound to another organization (see
/// `GlobalDb::enter_organization`).
pub struct OrganizationScope {
    db: TenantDb,
    previous: Option<String>,
    tx: Arc<DatabaseTransaction>,
}

impl OrganizationScope {
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// Restores the request's own organization binding.
    pub async fn leave(self) -> AppResult<()> {
        if let Some(previous) = self.previous {
            super::binding::bind_organization_id(&self.tx, &previous).await?;
        }
        Ok(())
    }
}

fn to_chrono(duration: Duration) -> AppResult<chrono::Duration> {
    chrono::Duration::from_std(duration).map_err(AppError::internal)
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}
