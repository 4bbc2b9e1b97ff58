//! The per-request context: built once, before any resolver runs.

use std::sync::Arc;

use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::Database;
use super::binding::{bind_key, bind_organization, bind_person, prepare_postgres};
use super::database::WriterTurn;
use super::global::GlobalDb;
use super::scoped::TenantDb;
use crate::error::AppError;
use crate::identity::{API_KEYS_REFUSED, Actor, Member};
use crate::identity::{Principal, UserPrincipal};

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

/// Where the request came from, for sessions and the audit log.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Why the request has no organization; clonable so every resolver can report it.
#[derive(Clone, Debug)]
pub(super) enum NoTenant {
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
    /// Password work done before the transaction began (see `passwords::prework`).
    prepared: crate::passwords::prework::Prepared,
    kind: OperationKind,
    /// PostgreSQL itself refuses every write of this transaction
    /// (`transaction_read_only`, set by the binding statement).
    read_only_in_database: bool,
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
                            rejected: Some(crate::identity::KEY_REFUSED.into()),
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
            read_only_in_database: postgres && read_only,
        })
    }

    /// Hands the context the password work prepared before its transaction.
    pub fn with_prepared(mut self, prepared: crate::passwords::prework::Prepared) -> Self {
        self.prepared = prepared;
        self
    }

    /// The field `response_key`'s password work: what was prepared for it, or the
    /// pool to do it now.
    pub fn password_work<'a>(
        &self,
        passwords: &'a crate::passwords::PasswordHasherPool,
        response_key: &str,
    ) -> crate::passwords::prework::PasswordWork<'a> {
        crate::passwords::prework::PasswordWork::new(&self.prepared, response_key, passwords)
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
    /// `RequestContext::tenant_with` with the permission it needs, so a new field is closed
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
    /// `RequestContext::tenant_with` before they load.
    pub fn bound_tenant(&self) -> Option<&TenantDb> {
        self.tenant.as_ref().ok()
    }

    /// The request's tenant handle whoever acts, or why there is none. For
    /// `RequestContext::tenant_with` (in `policy`), which checks the permission first.
    pub(crate) fn tenant_unchecked(&self) -> Result<&TenantDb, AppError> {
        self.tenant.as_ref().map_err(AppError::from)
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
            read_only_in_database,
            ..
        } = self;
        drop(tenant);
        let effects = global.into_effects();
        let tx = Arc::try_unwrap(tx).map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "a handle to the request transaction outlived the request"
            ))
        })?;
        let ended = if commit && read_only_in_database {
            // Nothing was written, so there is nothing to commit: dropping the
            // transaction queues its ROLLBACK on the connection, where it goes out
            // together with the pool's check as the connection returns, instead of
            // costing the answer a round trip of its own.
            drop(tx);
            Ok(())
        } else if commit {
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
