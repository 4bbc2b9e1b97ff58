//! The per-request context: built once, before any resolver runs.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use uuid::Uuid;

use super::Database;
use super::database::WriterTurn;
use super::global::GlobalDb;
use super::scoped::{API_KEYS_REFUSED, Actor, Member, TenantDb};
use crate::auth::api_keys::{KeyPrincipal, Scope};
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
    /// An API key's request named an organization other than the key's.
    OtherOrganization,
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
            NoTenant::OtherOrganization => AppError::forbidden(
                "an API key acts only for its own organization: drop the X-Organization-Id header",
            ),
            NoTenant::MalformedHeader => {
                AppError::invalid("X-Organization-Id", "is not a valid organization id")
            }
        }
    }
}

/// Work to do once the request's transaction has committed (and only then).
pub type AfterCommit = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Everything a resolver may know about its request.
pub struct RequestContext {
    principal: Principal,
    client: ClientInfo,
    tenant: Result<TenantDb, NoTenant>,
    global: GlobalDb,
    tx: Arc<DatabaseTransaction>,
    turn: WriterTurn,
    after_commit: std::sync::Mutex<Vec<AfterCommit>>,
    /// Password work done before the transaction began (see `auth::prework`).
    prepared: crate::auth::prework::Prepared,
    kind: OperationKind,
}

impl RequestContext {
    /// Opens the request's transaction and binds it to the caller and organization.
    ///
    /// On PostgreSQL one statement binds the transaction: it switches to
    /// `tenantgate_app` and records the caller, transaction-locally, and sets
    /// `app.organization_id` only to an organization the caller belongs to (a person's
    /// membership, read under row-level security; an API key's own organization), so the
    /// database itself never binds a request to an organization its caller is not a
    /// member of.
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

        // A person's request on PostgreSQL is bound in one round trip, membership included.
        let mut bound = None;
        let live = match (&principal, postgres) {
            (Principal::User(user), true) => {
                let (live, membership) = bind_person(&tx, user, &choice, read_only).await?;
                bound = Some(membership);
                live
            }
            (Principal::User(user), false) => GlobalDb::session_is_live(&tx, user).await?,
            // Bound together with the organization, below.
            (Principal::ApiKey(_), true) => true,
            (Principal::Anonymous { .. } | Principal::System, true) => {
                prepare_postgres(&tx, read_only).await?;
                true
            }
            (Principal::Anonymous { .. } | Principal::System | Principal::ApiKey(_), false) => true,
        };
        if !live {
            // `bind_person` has already bound a dead session's request as anonymous.
            if postgres && bound.is_none() {
                prepare_postgres(&tx, read_only).await?;
            }
            principal = Principal::Anonymous {
                rejected: Some("your session has ended: sign in again".into()),
            };
        }

        let tenant = match &principal {
            Principal::User(user) => match bound {
                Some(membership) => membership,
                None => bind_organization(&tx, user, &choice).await?,
            }
            .map(|(organization_id, role, status)| {
                TenantDb::new(
                    tx.clone(),
                    organization_id,
                    Actor::Member(Member {
                        user_id: user.user_id,
                        role,
                    }),
                    status,
                    client.ip.clone(),
                )
            }),
            Principal::ApiKey(key) => match bind_key(&tx, postgres, key, &choice, read_only).await?
            {
                Ok(status) => Ok(TenantDb::new(
                    tx.clone(),
                    key.organization_id,
                    Actor::ApiKey {
                        key_id: key.key_id,
                        scopes: key.scopes,
                    },
                    status,
                    client.ip.clone(),
                )),
                Err(refusal) => {
                    if postgres {
                        prepare_postgres(&tx, read_only).await?;
                    }
                    if matches!(refusal, NoTenant::Unauthenticated(_)) {
                        principal = Principal::Anonymous {
                            rejected: Some(crate::auth::api_keys::REFUSED.into()),
                        };
                    }
                    Err(refusal)
                }
            },
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
            after_commit: Default::default(),
            prepared: Default::default(),
            kind,
        })
    }

    /// Hands the context the password work prepared before its transaction.
    pub fn with_prepared(mut self, prepared: crate::auth::prework::Prepared) -> Self {
        self.prepared = prepared;
        self
    }

    /// The field `response_key`'s password work: what was prepared for it, or the
    /// pool to do it now.
    pub fn password_work<'a>(
        &self,
        passwords: &'a crate::auth::password::PasswordHasherPool,
        response_key: &str,
    ) -> crate::auth::prework::PasswordWork<'a> {
        crate::auth::prework::PasswordWork::new(&self.prepared, response_key, passwords)
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

    /// The tenant handle of the request's organization for its members, or why there
    /// is none (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT` for a malformed header).
    /// API keys are refused: a field that keys may use asks for
    /// [`RequestContext::tenant_for`] with the scope it needs, so a new field is closed
    /// to keys until it says otherwise.
    pub fn tenant(&self) -> Result<&TenantDb, AppError> {
        let tenant = self.tenant.as_ref().map_err(AppError::from)?;
        match tenant.actor() {
            Actor::Member(_) => Ok(tenant),
            Actor::ApiKey { .. } => Err(AppError::forbidden(API_KEYS_REFUSED)),
        }
    }

    /// The request's tenant handle whoever acts, for the per-request data loaders only:
    /// fields authorize with [`RequestContext::tenant`] or
    /// [`RequestContext::tenant_for`] before they load.
    pub fn bound_tenant(&self) -> Option<&TenantDb> {
        self.tenant.as_ref().ok()
    }

    /// The tenant handle when the caller holds `permission` in the request's
    /// organization (its role or scope gate in [`crate::policy::RULES`]); `FORBIDDEN`
    /// naming the role or scope it lacks otherwise. The rule's row condition is the
    /// service's to check, where the row is known.
    pub fn tenant_with(
        &self,
        permission: crate::policy::Permission,
    ) -> Result<&TenantDb, AppError> {
        let tenant = self.tenant.as_ref().map_err(AppError::from)?;
        crate::policy::require(tenant.actor(), permission)?;
        Ok(tenant)
    }

    /// Runs `work` after the request's transaction commits; dropped if it rolls back.
    pub fn after_commit(&self, work: AfterCommit) {
        crate::lock(&self.after_commit).push(work);
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
            after_commit,
            kind,
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
            let after_commit = after_commit
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for work in after_commit {
                work.await;
            }
        }
        let effects = effects.run().await;
        ended.map_err(|error| match (commit, kind) {
            // The COMMIT may have reached the database before the connection broke.
            (true, OperationKind::Mutation) => AppError::from(error).at_commit(),
            _ => AppError::from(error),
        })?;
        effects
    }
}

/// The set-up statement of a request that acts for nobody on PostgreSQL (anonymous, the
/// system principal, a dead session, a refused key), one round trip: switch to
/// `tenantgate_app` with no user and no organization, read-only for queries. All settings
/// are transaction-local, so nothing survives into the pooled connection's next request.
async fn prepare_postgres(tx: &DatabaseTransaction, read_only: bool) -> Result<(), AppError> {
    // Only queries touch the access mode: read-only may be set at any point, and
    // mutations keep the server's default.
    const PREPARE: &str = "SELECT set_config('role', 'tenantgate_app', true), \
         set_config('app.user_id', '', true), \
         set_config('app.organization_id', '', true)";
    const PREPARE_READ_ONLY: &str = "SELECT set_config('role', 'tenantgate_app', true), \
         set_config('app.user_id', '', true), \
         set_config('app.organization_id', '', true), \
         set_config('transaction_read_only', 'on', true)";
    tx.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        if read_only {
            PREPARE_READ_ONLY
        } else {
            PREPARE
        },
    ))
    .await?;
    Ok(())
}

/// `FORBIDDEN` naming the scope an API key lacks.
pub fn missing_scope(scope: Scope) -> AppError {
    AppError::forbidden(format!("this API key lacks the `{}` scope", scope.as_str()))
}

/// Binds an API key's request to the key's organization (an `X-Organization-Id` header
/// naming another one is refused) and reads the organization's status; a key whose
/// organization is gone is refused like any invalid key. On PostgreSQL this is the
/// request's first and only set-up statement: role, no user, the organization, and
/// read-only for queries, set only if the organization exists. When it answers an
/// error the caller still has to prepare the transaction.
async fn bind_key(
    tx: &DatabaseTransaction,
    postgres: bool,
    key: &KeyPrincipal,
    choice: &OrganizationChoice,
    read_only: bool,
) -> Result<Result<OrganizationStatus, NoTenant>, AppError> {
    match choice {
        OrganizationChoice::Default => {}
        OrganizationChoice::Named(id) if *id == key.organization_id => {}
        OrganizationChoice::Named(_) => return Ok(Err(NoTenant::OtherOrganization)),
        OrganizationChoice::Malformed => return Ok(Err(NoTenant::MalformedHeader)),
    }
    let status = if postgres {
        const BIND: &str = "SELECT o.status, set_config('role', 'tenantgate_app', true), \
             set_config('app.user_id', '', true), \
             set_config('app.organization_id', o.id::text, true) \
             FROM organization o WHERE o.id = $1";
        const BIND_READ_ONLY: &str = "SELECT o.status, set_config('role', 'tenantgate_app', true), \
             set_config('app.user_id', '', true), \
             set_config('app.organization_id', o.id::text, true), \
             set_config('transaction_read_only', 'on', true) \
             FROM organization o WHERE o.id = $1";
        let row = tx
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                if read_only { BIND_READ_ONLY } else { BIND },
                [key.organization_id.into()],
            ))
            .await?;
        match row {
            Some(row) => Some(parse_status(&row.try_get::<String>("", "status")?)?),
            None => None,
        }
    } else {
        use sea_orm::EntityTrait;
        entity::organization::Entity::find_by_id(key.organization_id)
            .one(tx)
            .await?
            .map(|organization| organization.status)
    };
    Ok(match status {
        Some(status) => Ok(status),
        None => Err(NoTenant::Unauthenticated(
            crate::auth::api_keys::REFUSED.into(),
        )),
    })
}

/// A person's membership in the organization they chose, or why there is none.
type Membership = Result<(Uuid, Role, OrganizationStatus), NoTenant>;

/// The organization a person's request asks for, or why it names none.
fn chosen_organization(
    user: &UserPrincipal,
    choice: &OrganizationChoice,
) -> Result<Uuid, NoTenant> {
    match choice {
        OrganizationChoice::Named(id) => Ok(*id),
        OrganizationChoice::Malformed => Err(NoTenant::MalformedHeader),
        OrganizationChoice::Default => user.default_organization_id.ok_or(NoTenant::NoOrganization),
    }
}

/// SQLite: reads the membership (with the organization's status).
async fn bind_organization(
    tx: &DatabaseTransaction,
    user: &UserPrincipal,
    choice: &OrganizationChoice,
) -> Result<Membership, AppError> {
    let organization_id = match chosen_organization(user, choice) {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(refusal)),
    };
    Ok(GlobalDb::role_in(tx, organization_id, user.user_id)
        .await?
        .map(|(role, status)| (organization_id, role, status))
        .ok_or(NoTenant::NotMember))
}

/// PostgreSQL: the first and only set-up statement of a person's request, one round
/// trip. The subquery `b` runs first (a subquery that calls `set_config` is never merged
/// into the query around it, and the membership is read laterally, per row of `b`): it
/// reads whether the session is live, switches to `tenantgate_app` and records the
/// user. Then the membership is read, for a live session only, where row-level security
/// (`own_memberships`, for a gateway role that is subject to it) already sees the user;
/// and `app.organization_id` is set only to an organization the row says the user
/// belongs to. A dead session's request is left bound as nobody. Read-only for queries.
async fn bind_person(
    tx: &DatabaseTransaction,
    user: &UserPrincipal,
    choice: &OrganizationChoice,
    read_only: bool,
) -> Result<(bool, Membership), AppError> {
    const BIND: &str = "SELECT b.live, mo.role AS member_role, mo.status AS organization_status, \
             set_config('app.organization_id', coalesce(mo.organization_id::text, ''), true) AS bound";
    const READ_ONLY: &str = ", set_config('transaction_read_only', 'on', true) AS read_only";
    const FROM: &str = " FROM (SELECT s.live, \
                 set_config('role', 'tenantgate_app', true) AS role_set, \
                 set_config('app.user_id', CASE WHEN s.live THEN $1::text ELSE '' END, true) AS user_set \
             FROM (SELECT EXISTS (SELECT 1 FROM session WHERE id = $2 AND user_id = $1 \
                   AND revoked_at IS NULL AND expires_at > now()) AS live) s) b \
         LEFT JOIN LATERAL (SELECT m.organization_id, m.role::text AS role, o.status::text AS status \
             FROM membership m JOIN organization o ON o.id = m.organization_id \
             WHERE b.live AND m.organization_id = $3 AND m.user_id = $1) mo ON true";
    static STATEMENTS: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let [writable, read_only_statement] =
        STATEMENTS.get_or_init(|| [format!("{BIND}{FROM}"), format!("{BIND}{READ_ONLY}{FROM}")]);
    let chosen = chosen_organization(user, choice);
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            if read_only {
                read_only_statement.as_str()
            } else {
                writable.as_str()
            },
            [
                user.user_id.into(),
                user.session_id.into(),
                chosen.as_ref().ok().copied().into(),
            ],
        ))
        .await?;
    let Some(row) = row else {
        return Ok((false, Err(NoTenant::NotMember)));
    };
    let live: bool = row.try_get("", "live")?;
    let role: Option<String> = row.try_get("", "member_role")?;
    let status: Option<String> = row.try_get("", "organization_status")?;
    let membership = match (chosen, role, status) {
        (Err(refusal), _, _) => Err(refusal),
        (Ok(id), Some(role), Some(status)) => Ok((id, parse_role(&role)?, parse_status(&status)?)),
        (Ok(_), _, _) => Err(NoTenant::NotMember),
    };
    Ok((live, membership))
}

pub(super) fn parse_status(stored: &str) -> Result<OrganizationStatus, AppError> {
    use sea_orm::ActiveEnum;
    OrganizationStatus::try_from_value(&stored.to_owned()).map_err(AppError::from)
}

pub(super) fn parse_role(stored: &str) -> Result<Role, AppError> {
    use sea_orm::ActiveEnum;
    Role::try_from_value(&stored.to_owned()).map_err(AppError::from)
}
