//! PostgreSQL's third wall: the `tenantgate_app` role and row-level security.
//!
//! Every request transaction switches to `tenantgate_app` (no ownership, no superuser,
//! no `BYPASSRLS`, DML grants only), so the policies below apply even when
//! `DATABASE_URL` names a superuser. On SQLite these functions do nothing.
//!
//! DML on every table is the start, not the end: `m20261202_000001_least_privilege`
//! takes away what requests must not read or change (the signing keys, the secret
//! columns, changes to the audit log). A new table or column that holds a secret needs the
//! same treatment there, or in a migration of its own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// The role every request runs as on PostgreSQL.
pub const APP_ROLE: &str = "tenantgate_app";

/// The expression that reads the request's organization. After a commit a
/// transaction-local setting reads as `''`, hence `nullif`.
pub const CURRENT_ORGANIZATION: &str =
    "nullif(current_setting('app.organization_id', true), '')::uuid";

/// The expression that reads the request's signed-in user, if any.
pub const CURRENT_USER: &str = "nullif(current_setting('app.user_id', true), '')::uuid";

fn is_postgres(manager: &SchemaManager<'_>) -> bool {
    manager.get_database_backend() == DbBackend::Postgres
}

async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(sql)
        .await
        .map(|_| ())
}

/// Creates `tenantgate_app` if the cluster does not have it yet. Roles are cluster-wide,
/// so concurrent migrations of several databases may race here; losing the race is fine.
pub async fn ensure_app_role(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    run(
        manager,
        &format!(
            r#"DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- A non-superuser connection must be a member of the role to switch to it.
    IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
    END IF;
END
$$"#
        ),
    )
    .await?;
    run(
        manager,
        &format!("GRANT USAGE ON SCHEMA public TO {APP_ROLE}"),
    )
    .await
}

/// Grants the request role DML on a table that belongs to no single organization.
pub async fn grant_platform_table(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    run(
        manager,
        &format!(r#"GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO {APP_ROLE}"#),
    )
    .await
}

/// Puts a tenant table (one with an `organization_id` column) behind row-level security:
/// ENABLE + FORCE, and one policy whose USING and WITH CHECK both pin the row to the
/// request's organization. A request with no organization sees no rows at all.
pub async fn protect_tenant_table(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    grant_platform_table(manager, table).await?;
    run(
        manager,
        &format!(
            r#"ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "{table}"
    USING (organization_id = {CURRENT_ORGANIZATION})
    WITH CHECK (organization_id = {CURRENT_ORGANIZATION});"#
        ),
    )
    .await
}

/// Runs SQL only on PostgreSQL (policies beyond the standard one).
pub async fn postgres_only(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if is_postgres(manager) {
        run(manager, sql).await
    } else {
        Ok(())
    }
}
