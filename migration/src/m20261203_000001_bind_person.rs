//! One round trip to bind a person's request on PostgreSQL: `tenantgate_bind_person`
//! checks the session, switches to `tenantgate_app`, records the user and, only when the
//! session is live and the user is a member, binds the organization. It runs the same
//! steps in the same order as the two statements it replaces: the session is read as the
//! gateway's own role (the request role may not read sessions), the membership as
//! `tenantgate_app` under row-level security (`own_memberships`), after `app.user_id` is
//! set. A plain (invoker's rights) function, so `SET ROLE` inside it holds for the rest
//! of the transaction; every setting is transaction-local. Tables are schema-qualified
//! instead of a `SET search_path` clause, which would scope the function's settings.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE FUNCTION tenantgate_bind_person(
  person uuid, presented_session uuid, chosen uuid, read_only boolean,
  OUT live boolean, OUT member_role text, OUT organization_status text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  live := EXISTS (
    SELECT 1 FROM public.session s
    WHERE s.id = presented_session AND s.user_id = person
      AND s.revoked_at IS NULL AND s.expires_at > now());
  PERFORM pg_catalog.set_config('role', 'tenantgate_app', true);
  PERFORM pg_catalog.set_config('app.user_id', CASE WHEN live THEN person::text ELSE '' END, true);
  PERFORM pg_catalog.set_config('app.organization_id', '', true);
  IF read_only THEN
    PERFORM pg_catalog.set_config('transaction_read_only', 'on', true);
  END IF;
  IF live AND chosen IS NOT NULL THEN
    SELECT m.role, o.status INTO member_role, organization_status
    FROM public.membership m JOIN public.organization o ON o.id = m.organization_id
    WHERE m.organization_id = chosen AND m.user_id = person;
    IF FOUND THEN
      PERFORM pg_catalog.set_config('app.organization_id', chosen::text, true);
    END IF;
  END IF;
END
$$;
REVOKE ALL ON FUNCTION tenantgate_bind_person(uuid, uuid, uuid, boolean) FROM PUBLIC;
"#;

const DOWN: &str = "DROP FUNCTION IF EXISTS tenantgate_bind_person(uuid, uuid, uuid, boolean);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(UP).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(DOWN).await?;
        }
        Ok(())
    }
}
