//! The database session's binding: the statements that switch a request's transaction
//! to `tenantgate_app` and set `app.user_id` and `app.organization_id` for row-level
//! security. Every such statement of a request's set-up lives here.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use uuid::Uuid;

use super::GlobalDb;
use super::context::{NoTenant, OrganizationChoice};
use crate::error::{AppError, AppResult};
use crate::identity::{KeyPrincipal, UserPrincipal};
use entity::{OrganizationStatus, Role};

/// The set-up statement of a request that acts for nobody on PostgreSQL (anonymous, the
/// system principal, a dead session, a refused key), one round trip: switch to
/// `tenantgate_app` with no user and no organization, read-only for queries. All settings
/// are transaction-local, so nothing survives into the pooled connection's next request.
pub(super) async fn prepare_postgres(
    tx: &DatabaseTransaction,
    read_only: bool,
) -> Result<(), AppError> {
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

/// Binds an API key's request to the key's organization (an `X-Organization-Id` header
/// naming another one is refused) and reads the organization's status; a key whose
/// organization is gone is refused like any invalid key. On PostgreSQL this is the
/// request's first and only set-up statement: role, no user, the organization, and
/// read-only for queries, set only if the organization exists. When it answers an
/// error the caller still has to prepare the transaction.
pub(super) async fn bind_key(
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
            crate::identity::KEY_REFUSED.into(),
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
pub(super) async fn bind_organization(
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
pub(super) async fn bind_person(
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

fn parse_status(stored: &str) -> Result<OrganizationStatus, AppError> {
    use sea_orm::ActiveEnum;
    OrganizationStatus::try_from_value(&stored.to_owned()).map_err(AppError::from)
}

fn parse_role(stored: &str) -> Result<Role, AppError> {
    use sea_orm::ActiveEnum;
    Role::try_from_value(&stored.to_owned()).map_err(AppError::from)
}

/// PostgreSQL: binds a transaction of its own (a cold API key's look-up) to
/// `organization_id` as nobody, read-only.
pub(super) async fn bind_key_lookup(
    tx: &DatabaseTransaction,
    organization_id: Uuid,
) -> AppResult<()> {
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('role', 'tenantgate_app', true), \
         set_config('app.user_id', '', true), \
         set_config('app.organization_id', $1, true), \
         set_config('transaction_read_only', 'on', true)",
        [organization_id.to_string().into()],
    ))
    .await?;
    Ok(())
}

/// PostgreSQL: switches a transaction of the gateway's own (an autonomous write, a
/// system job) to `tenantgate_app`, bound to nobody.
pub(super) async fn act_as_gateway(tx: &DatabaseTransaction) -> AppResult<()> {
    tx.execute_unprepared("SELECT set_config('role', 'tenantgate_app', true)")
        .await?;
    Ok(())
}

/// PostgreSQL: binds the transaction to an organization (`""`: to none), for a system
/// job's organization or to restore a request's own binding.
pub(super) async fn bind_organization_id(
    tx: &DatabaseTransaction,
    organization: &str,
) -> AppResult<()> {
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.organization_id', $1, true)",
        [organization.to_owned().into()],
    ))
    .await?;
    Ok(())
}

/// PostgreSQL: binds the transaction to `organization_id` and returns the binding it
/// replaces (see `GlobalDb::enter_organization`).
pub(super) async fn swap_organization(
    tx: &DatabaseTransaction,
    organization_id: Uuid,
) -> AppResult<Option<String>> {
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(current_setting('app.organization_id', true), '') AS previous, \
             set_config('app.organization_id', $1, true)",
            [organization_id.to_string().into()],
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get::<String>("", "previous"))
        .transpose()?)
}

/// PostgreSQL: records that the transaction now acts for `user_id` (after a sign-in
/// proved it), so row-level security shows them their own memberships.
pub(super) async fn act_as_user(tx: &DatabaseTransaction, user_id: Uuid) -> AppResult<()> {
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.user_id', $1, true)",
        [user_id.to_string().into()],
    ))
    .await?;
    Ok(())
}
