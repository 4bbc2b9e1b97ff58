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
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::Database;
use super::scoped::{TenantDb, WriteError};
use crate::auth::UserPrincipal;
use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::error::{AppError, AppResult};
use crate::lock;
use crate::tenant::ClientInfo;
use entity::{
    ChannelKind, OrganizationStatus, Role, channel_config, invitation, membership, organization,
    outbox, password_reset, refresh_token, session, user,
};

/// Prefix of refresh tokens, so a leaked one is recognisable in logs and scanners.
const REFRESH_TOKEN_PREFIX: &str = "tgr_";

/// The user table's column that `user::Model` leaves out (see there).
const PASSWORD_HASH: &str = "password_hash";

/// A membership of the signed-in user, with its organization.
pub struct MembershipWithOrganization {
    pub membership: membership::Model,
    pub organization: organization::Model,
}

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
            self.tx()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.user_id', $1, true)",
                    [user_id.to_string().into()],
                ))
                .await?;
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

    // ---- organizations -----------------------------------------------------------------

    pub async fn find_organization_by_slug(
        &self,
        slug: &str,
    ) -> AppResult<Option<organization::Model>> {
        Ok(organization::Entity::find()
            .filter(organization::Column::Slug.eq(slug))
            .one(self.tx())
            .await?)
    }

    /// Creates an organization with `owner` as its OWNER, and audits it there.
    pub async fn found_organization(
        &self,
        name: String,
        slug: String,
        owner: Uuid,
        seat_limit: i32,
        client_ip: Option<String>,
    ) -> Result<organization::Model, WriteError> {
        let now = Utc::now();
        let organization = organization::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            slug: Set(slug),
            status: Set(OrganizationStatus::Trial),
            plan: Set("free".to_owned()),
            seat_limit: Set(seat_limit),
            agent_instructions: Set(None),
            // The migration's default (365 days) is the one place that number lives.
            event_retention_days: sea_orm::ActiveValue::NotSet,
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.tx())
        .await?;
        let scope = self
            .enter_organization(organization.id, owner, Role::Owner, client_ip)
            .await?;
        membership::ActiveModel {
            organization_id: Set(organization.id),
            user_id: Set(owner),
            role: Set(Role::Owner),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.tx())
        .await?;
        scope
            .db()
            .audit(
                "organization.created",
                "organization",
                Some(organization.id.to_string()),
                serde_json::json!({ "after": { "name": organization.name, "slug": organization.slug } }),
            )
            .await?;
        scope.leave().await?;
        Ok(organization)
    }

    /// Looks an invitation up by its token's hash, inside the organization the token
    /// names. The answer is the only key to [`enter_by_invitation`](Self::enter_by_invitation).
    pub async fn find_invitation(
        &self,
        organization_id: Uuid,
        token_hash: &[u8],
    ) -> AppResult<Option<VerifiedInvitation>> {
        let Ok(scope) = self
            .enter_organization(organization_id, Uuid::nil(), Role::Viewer, None)
            .await
        else {
            return Ok(None);
        };
        let found = invitation::Entity::find()
            .filter(invitation::Column::OrganizationId.eq(organization_id))
            .filter(invitation::Column::TokenHash.eq(token_hash.to_vec()))
            .one(self.tx())
            .await?;
        scope.leave().await?;
        Ok(found.map(VerifiedInvitation))
    }

    /// The public part of one organization's channel (what a web chat widget shows
    /// before anyone signs in), looked up by the organization's slug: `None` when the
    /// organization or its channel does not exist. Only `enabled` and `settings` are
    /// read; the channel's instructions, provider, model and credentials never leave
    /// the database on this path.
    ///
    /// On PostgreSQL the read runs inside the organization under row-level security,
    /// through the database function `public_channel_config`, which binds that one
    /// statement to the organization and restores the request's binding when it returns
    /// (and which answers only the public columns). Entering the organization with
    /// [`enter_organization`](Self::enter_organization) would leave the request bound to
    /// it across several statements; that suits mutations, whose fields run one at a
    /// time, but the fields of a query run concurrently on the request's transaction, and
    /// a statement of another field landing in between would read under this binding.
    /// One statement rules that out by construction.
    pub async fn public_channel_config(
        &self,
        organization_slug: &str,
        kind: ChannelKind,
    ) -> AppResult<Option<PublicChannel>> {
        let Some(organization) = self.find_organization_by_slug(organization_slug).await? else {
            return Ok(None);
        };
        let found = if self.db.is_postgres() {
            let row = self
                .tx()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT enabled, settings FROM public_channel_config($1, $2)",
                    [organization.id.into(), kind.into()],
                ))
                .await?;
            match row {
                Some(row) => Some((
                    row.try_get::<bool>("", "enabled")?,
                    row.try_get::<String>("", "settings")?,
                )),
                None => None,
            }
        } else {
            channel_config::Entity::find()
                .select_only()
                .columns([
                    channel_config::Column::Enabled,
                    channel_config::Column::Settings,
                ])
                .filter(channel_config::Column::OrganizationId.eq(organization.id))
                .filter(channel_config::Column::Kind.eq(kind))
                .into_tuple::<(bool, String)>()
                .one(self.tx())
                .await?
        };
        Ok(found.map(|(enabled, settings)| PublicChannel {
            kind,
            enabled,
            settings,
        }))
    }

    /// Binds the request to the organization of an invitation being accepted, acting as
    /// `user_id` with the invited role.
    pub async fn enter_by_invitation(
        &self,
        invitation: &VerifiedInvitation,
        user_id: Uuid,
        client_ip: Option<String>,
    ) -> AppResult<OrganizationScope> {
        self.enter_organization(
            invitation.0.organization_id,
            user_id,
            invitation.0.role,
            client_ip,
        )
        .await
    }

    /// Binds the request to an organization its caller is not (yet) a member of: only
    /// for founding an organization and accepting an invitation, so it stays private to
    /// the guard. On PostgreSQL this sets `app.organization_id`;
    /// [`OrganizationScope::leave`] restores the request's own.
    async fn enter_organization(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        client_ip: Option<String>,
    ) -> AppResult<OrganizationScope> {
        let organization = organization::Entity::find_by_id(organization_id)
            .one(self.tx())
            .await?
            .ok_or(AppError::not_found("organization"))?;
        let previous = if self.db.is_postgres() {
            let row = self
                .tx()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT coalesce(current_setting('app.organization_id', true), '') AS previous, \
                     set_config('app.organization_id', $1, true)",
                    [organization_id.to_string().into()],
                ))
                .await?;
            row.map(|row| row.try_get::<String>("", "previous"))
                .transpose()?
        } else {
            None
        };
        Ok(OrganizationScope {
            db: TenantDb::new(
                self.tx.clone(),
                organization_id,
                super::Actor::Member(super::Member { user_id, role }),
                organization.status,
                client_ip,
            ),
            previous,
            tx: self.tx.clone(),
        })
    }

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

    /// Queues an email in the request's transaction: it is sent only if the request
    /// commits. `body_sealed` is the body sealed with the master key.
    pub async fn enqueue_mail(&self, mail: SealedMail) -> AppResult<()> {
        outbox_row(mail).insert(self.tx()).await?;
        self.mail_enqueued
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
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

/// An invitation found by its token: proof that the caller holds the token, and the
/// only way to enter its organization before being a member.
pub struct VerifiedInvitation(invitation::Model);

impl VerifiedInvitation {
    pub fn invitation(&self) -> &invitation::Model {
        &self.0
    }
}

/// The public part of a channel configuration: see [`GlobalDb::public_channel_config`].
pub struct PublicChannel {
    pub kind: ChannelKind,
    pub enabled: bool,
    /// The channel's settings, a JSON object as text.
    pub settings: String,
}

/// An email ready for the outbox, its body already sealed.
pub struct SealedMail {
    pub recipient: String,
    pub subject: String,
    pub body_sealed: Vec<u8>,
    pub kind: &'static str,
}

pub(super) fn outbox_row(mail: SealedMail) -> outbox::ActiveModel {
    let now = Utc::now();
    outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        recipient: Set(mail.recipient),
        subject: Set(mail.subject),
        body_sealed: Set(mail.body_sealed),
        kind: Set(mail.kind.to_owned()),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        sent_at: Set(None),
        last_error: Set(None),
    }
}

/// A request temporarily bound to another organization (see
/// [`GlobalDb::enter_organization`]).
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
            self.tx
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.organization_id', $1, true)",
                    [previous.into()],
                ))
                .await?;
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
