//! `public_channel_config` without its `SET app.organization_id` clause: PostgreSQL lets
//! only a superuser attach a custom setting to a function, so a gateway whose own role is
//! an ordinary owner (as deployed) could not create it. The function now restores the
//! request's binding itself (see `m20261123_000005_channels::PUBLIC_READ`); this replaces
//! the version an earlier install made. `CREATE OR REPLACE` keeps its grants but not its
//! settings, which `RESET ALL` clears.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m20261123_000005_channels::PUBLIC_READ;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let connection = manager.get_connection();
            connection.execute_unprepared(PUBLIC_READ).await?;
            connection
                .execute_unprepared("ALTER FUNCTION public_channel_config(uuid, text) RESET ALL;")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The function without the clause does the same; nothing to undo.
        Ok(())
    }
}
