//! Least privilege for the request role (PostgreSQL): `tenantgate_app` keeps DML on every
//! table it writes, but no longer reads what a request has no business holding.
//!
//! - `signing_key`: nothing at all. The keys are loaded at start-up and written at
//!   rotation on the owner's connection, never inside a request.
//! - `audit_log`: append-only (INSERT and SELECT). Nothing deletes audit rows but the
//!   cascade of an organization's deletion, and referential actions run with the rights
//!   of the table's owner.
//! - Secret columns (the argon2 hashes of passwords, the SHA-256 of refresh, reset and
//!   email verification tokens): still writable, not readable, not even in a `WHERE`.
//!   The paths that need them call one of the `SECURITY DEFINER` functions below, each
//!   answering one row for one key it is given.
//!
//! On SQLite there is no role and nothing to do.

use sea_orm_migration::prelude::*;

use crate::security::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, the columns the request role may read)`: every column but the secret ones.
const READABLE_COLUMNS: [(&str, &str); 4] = [
    ("user", "id, email, name, created_at, updated_at"),
    ("refresh_token", "id, session_id, created_at, rotated_at"),
    (
        "password_reset",
        "id, user_id, created_at, expires_at, used_at",
    ),
    (
        "pending_sign_up",
        "id, email, name, organization_name, organization_slug, remember_me, created_at, expires_at",
    ),
];

/// The doors to the secret columns. Each runs as the owner with its `search_path`
/// pinned, and answers only the row(s) of the key it is given: the hash of a token the
/// caller holds (so the row's own `token_hash` tells the caller nothing new), or the
/// password hash of one user, for the log-in and password-change checks.
const FUNCTIONS: &str = r#"
CREATE FUNCTION tenantgate_password_hash(target_user uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT u.password_hash FROM public."user" u WHERE u.id = target_user $$;

CREATE FUNCTION tenantgate_refresh_token(presented_hash bytea)
RETURNS SETOF public.refresh_token
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT * FROM public.refresh_token t WHERE t.token_hash = presented_hash $$;

CREATE FUNCTION tenantgate_password_reset(presented_hash bytea)
RETURNS SETOF public.password_reset
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT * FROM public.password_reset r WHERE r.token_hash = presented_hash $$;

CREATE FUNCTION tenantgate_pending_sign_up(presented_hash bytea)
RETURNS SETOF public.pending_sign_up
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT * FROM public.pending_sign_up p WHERE p.token_hash = presented_hash $$;
"#;

const FUNCTION_SIGNATURES: [&str; 4] = [
    "tenantgate_password_hash(uuid)",
    "tenantgate_refresh_token(bytea)",
    "tenantgate_password_reset(bytea)",
    "tenantgate_pending_sign_up(bytea)",
];

fn up_sql() -> String {
    let mut sql = format!(
        "REVOKE ALL ON signing_key FROM {APP_ROLE};\n\
         REVOKE UPDATE, DELETE ON audit_log FROM {APP_ROLE};\n"
    );
    for (table, columns) in READABLE_COLUMNS {
        sql.push_str(&format!(
            "REVOKE SELECT ON \"{table}\" FROM {APP_ROLE};\n\
             GRANT SELECT ({columns}) ON \"{table}\" TO {APP_ROLE};\n"
        ));
    }
    sql.push_str(FUNCTIONS);
    for function in FUNCTION_SIGNATURES {
        sql.push_str(&format!(
            "REVOKE ALL ON FUNCTION {function} FROM PUBLIC;\n\
             GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE};\n"
        ));
    }
    sql
}

fn down_sql() -> String {
    let mut sql = String::new();
    for function in FUNCTION_SIGNATURES {
        sql.push_str(&format!("DROP FUNCTION IF EXISTS {function};\n"));
    }
    for (table, columns) in READABLE_COLUMNS {
        sql.push_str(&format!(
            "REVOKE SELECT ({columns}) ON \"{table}\" FROM {APP_ROLE};\n\
             GRANT SELECT ON \"{table}\" TO {APP_ROLE};\n"
        ));
    }
    sql.push_str(&format!(
        "GRANT UPDATE, DELETE ON audit_log TO {APP_ROLE};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON signing_key TO {APP_ROLE};\n"
    ));
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        security::postgres_only(manager, &up_sql()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        security::postgres_only(manager, &down_sql()).await
    }
}
