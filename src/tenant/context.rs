//! The per-request context: built once, before any resolver runs.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use uuid::Uuid;

use super::Database;
use super::database::WriterTurn;
use super::global::GlobalDb;
use super::scoped::TenantDb;
use crate::auth::{Principal, UserPrincipal};
use crate::error::AppError;
use entity::{OrganizationStatus, Role};

/// Whether the operation may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
}

/// Which organization the request asked for.
#[derive(Clone, Debug)]
pub enum OrganizationChoice {
    /// No `X-Organization-Id` header: the token's default organization.
    Default,
    /// The header named this organization.
    Named(Uuid),
    /// The header was not a valid id.
    Malformed,
}

/// Where the request came from, for sessions and (later) the audit log.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Why the request has no organization; clonable so every resolver can report it.
#[derive(Clone, Debug)]
enum NoTenant {
    Unauthenticated(String),
    NoOrganization,
    NotMember,
    MalformedHeader,
    System,
}

impl From<&NoTenant> for AppError {
    fn from(reason: &NoTenant) -> Self {
        match reason {
            NoTenant::Unauthenticated(message) => AppError::unauthenticated(message.clone()),
            NoTenant::NoOrganization => {
                AppError::forbidden("no organization selected: send the X-Organization-Id header")
            }
            NoTenant::NotMember => AppError::forbidden("you are not a member of this organization"),
            NoTenant::System => AppError::forbidden(
                "the system principal belongs to no organization: it may only run system jobs",
            ),
            NoTenant::MalformedHeader => {
                AppError::invalid("X-Organization-Id", "is not a valid organization id")
            }
        }
    }
}

/// Everything a resolver may know about its request.
pub struct RequestContext {
    principal: Principal,
    client: ClientInfo,
    tenant: Result<TenantDb, NoTenant>,
    global: GlobalDb,
    tx: Arc<DatabaseTransaction>,
    turn: WriterTurn,
}

impl RequestContext {
    /// Opens the request's transaction and binds it to the caller and organization.
    ///
    /// On PostgreSQL the transaction first switches to `tenantgate_app` and records the
    /// user (`app.user_id`), both transaction-locally; then one statement reads the
    /// caller's membership and, only if there is one, sets `app.organization_id` to it,
    /// so the database itself never binds a request to an organization its user is
    /// not a member of.
    pub async fn establish(
        db: &Database,
        kind: OperationKind,
        principal: Principal,
        choice: OrganizationChoice,
        client: ClientInfo,
    ) -> Result<Self, AppError> {
        // System jobs write in transactions of their own, one organization at a time; the
        // request's own transaction only reads.
        let read_only = kind == OperationKind::Query || matches!(principal, Principal::System);
        let (tx, turn) = db.begin(read_only).await?;
        let tx = Arc::new(tx);
        let postgres = db.is_postgres();
        let mut principal = principal;

        let live = match (&principal, postgres) {
            (Principal::User(user), true) => prepare_postgres(&tx, Some(user), read_only).await?,
            (Principal::User(user), false) => GlobalDb::session_is_live(&tx, user).await?,
            (Principal::Anonymous { .. } | Principal::System, true) => {
                prepare_postgres(&tx, None, read_only).await?
            }
            (Principal::Anonymous { .. } | Principal::System, false) => true,
        };
        if !live {
            if postgres {
                prepare_postgres(&tx, None, read_only).await?;
            }
            principal = Principal::Anonymous {
                rejected: Some("your session has ended: sign in again".into()),
            };
        }

        let tenant = match &principal {
            Principal::User(user) => bind_organization(&tx, postgres, user, &choice).await?.map(
                |(organization_id, role, status)| {
                    TenantDb::new(
                        tx.clone(),
                        organization_id,
                        role,
                        status,
                        user.user_id,
                        client.ip.clone(),
                    )
                },
            ),
            Principal::System => Err(NoTenant::System),
            Principal::Anonymous { rejected } => Err(NoTenant::Unauthenticated(
                rejected
                    .clone()
                    .unwrap_or_else(|| "sign in to do this".into()),
            )),
        };

        let global = GlobalDb::new(tx.clone(), db.clone(), principal.user().map(|u| u.user_id));
        Ok(RequestContext {
            principal,
            client,
            tenant,
            global,
            tx,
            turn,
        })
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn client(&self) -> &ClientInfo {
        &self.client
    }

    /// The signed-in user, or `UNAUTHENTICATED`.
    pub fn user(&self) -> Result<&UserPrincipal, AppError> {
        self.principal.require_user()
    }

    /// The tenant handle of the request's organization, or why there is none
    /// (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT` for a malformed header).
    pub fn tenant(&self) -> Result<&TenantDb, AppError> {
        self.tenant.as_ref().map_err(AppError::from)
    }

    pub fn global(&self) -> &GlobalDb {
        &self.global
    }

    /// The pool, for work that must run outside this request's transaction.
    pub fn database(&self) -> Database {
        self.global.database()
    }

    /// Ends the request: commits when `commit`, otherwise rolls back. Consumes the context
    /// so no handle to the transaction outlives it.
    pub async fn finish(self, commit: bool) -> Result<(), AppError> {
        let RequestContext {
            tx,
            tenant,
            global,
            turn,
            ..
        } = self;
        drop(tenant);
        let effects = global.into_effects();
        let tx = Arc::try_unwrap(tx).map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "a handle to the request transaction outlived the request"
            ))
        })?;
        let ended = if commit {
            tx.commit().await
        } else {
            tx.rollback().await
        };
        // The writer queue moves on before the effects, which write on their own.
        drop(turn);
        if commit && ended.is_ok() {
            effects.committed();
        }
        let effects = effects.run().await;
        ended?;
        effects
    }
}

/// The first statement of every PostgreSQL request, one round trip: switch to
/// `tenantgate_app`, record the user (`app.user_id`), clear the organization, make the
/// transaction read-only for queries, and read whether the user's session is still live.
/// All settings are transaction-local, so nothing survives into the pooled connection's
/// next request. Answers whether the session is live (always true for anonymous).
async fn prepare_postgres(
    tx: &DatabaseTransaction,
    user: Option<&UserPrincipal>,
    read_only: bool,
) -> Result<bool, AppError> {
    let (user_id, session_id) = match user {
        Some(user) => (Some(user.user_id), Some(user.session_id)),
        None => (None, None),
    };
    // Only queries touch the access mode: read-only may be set at any point, and
    // mutations keep the server's default.
    const PREPARE: &str = "SELECT $2::uuid IS NULL OR EXISTS (SELECT 1 FROM session \
         WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > now()) AS live, \
         set_config('role', 'tenantgate_app', true), \
         set_config('app.user_id', coalesce($1::text, ''), true), \
         set_config('app.organization_id', '', true)";
    const PREPARE_READ_ONLY: &str = "SELECT $2::uuid IS NULL OR EXISTS (SELECT 1 FROM session \
         WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > now()) AS live, \
         set_config('role', 'tenantgate_app', true), \
         set_config('app.user_id', coalesce($1::text, ''), true), \
         set_config('app.organization_id', '', true), \
         set_config('transaction_read_only', 'on', true)";
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            if read_only {
                PREPARE_READ_ONLY
            } else {
                PREPARE
            },
            [user_id.into(), session_id.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<bool>("", "live")?,
        None => false,
    })
}

async fn bind_organization(
    tx: &DatabaseTransaction,
    postgres: bool,
    user: &UserPrincipal,
    choice: &OrganizationChoice,
) -> Result<Result<(Uuid, Role, OrganizationStatus), NoTenant>, AppError> {
    let organization_id = match choice {
        OrganizationChoice::Named(id) => *id,
        OrganizationChoice::Malformed => return Ok(Err(NoTenant::MalformedHeader)),
        OrganizationChoice::Default => match user.default_organization_id {
            Some(id) => id,
            None => return Ok(Err(NoTenant::NoOrganization)),
        },
    };
    let membership = if postgres {
        bind_postgres(tx, organization_id, user.user_id).await?
    } else {
        GlobalDb::role_in(tx, organization_id, user.user_id).await?
    };
    Ok(membership
        .map(|(role, status)| (organization_id, role, status))
        .ok_or(NoTenant::NotMember))
}

/// Reads the membership (with the organization's status) and sets
/// `app.organization_id` in the same statement; the setting is only made for a row that
/// exists.
async fn bind_postgres(
    tx: &DatabaseTransaction,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(Role, OrganizationStatus)>, AppError> {
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT m.role, o.status, \
                    set_config('app.organization_id', m.organization_id::text, true) AS bound \
             FROM membership m JOIN organization o ON o.id = m.organization_id \
             WHERE m.organization_id = $1 AND m.user_id = $2",
            [organization_id.into(), user_id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let role: String = row.try_get("", "role")?;
    let status: String = row.try_get("", "status")?;
    Ok(Some((parse_role(&role)?, parse_status(&status)?)))
}

pub(super) fn parse_status(stored: &str) -> Result<OrganizationStatus, AppError> {
    use sea_orm::ActiveEnum;
    OrganizationStatus::try_from_value(&stored.to_owned()).map_err(AppError::from)
}

pub(super) fn parse_role(stored: &str) -> Result<Role, AppError> {
    use sea_orm::ActiveEnum;
    Role::try_from_value(&stored.to_owned()).map_err(AppError::from)
}
