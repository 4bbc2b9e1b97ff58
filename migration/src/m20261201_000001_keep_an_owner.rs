//! The database itself refuses an organization without an owner (PostgreSQL): the
//! membership changes that could remove the last OWNER are checked by a deferred
//! constraint trigger at commit, after every change of the transaction (a transfer of
//! ownership demotes one owner after promoting another). The mutations check first and
//! answer `CONFLICT`; this is the wall behind them. On SQLite a single writer at a time
//! and the same checks keep the rule.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION tenantgate_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM organization WHERE id = OLD.organization_id)
     AND NOT EXISTS (
       SELECT 1 FROM membership
       WHERE organization_id = OLD.organization_id AND role = 'owner'
     ) THEN
    RAISE EXCEPTION 'organization % would have no owner', OLD.organization_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER membership_keeps_an_owner
  AFTER UPDATE OF role OR DELETE ON membership
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION tenantgate_keep_an_owner();
"#;

const DOWN: &str = r#"
DROP TRIGGER IF EXISTS membership_keeps_an_owner ON membership;
DROP FUNCTION IF EXISTS tenantgate_keep_an_owner();
"#;

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
