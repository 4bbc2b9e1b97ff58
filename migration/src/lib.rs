//! Database migrations for tenantgate, named by date, each with `up` and `down`.
//!
//! Tables are created with portable SeaQuery builders so SQLite and PostgreSQL get the
//! same shape. On PostgreSQL the migrations also create the non-privileged role
//! `tenantgate_app`, grant it DML on the tables requests use (reading no secret column and
//! changing no audit row), and put row-level security on every tenant table (see
//! [`security`]).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_platform_tables;
mod m20261123_000002_tenant_tables;
mod m20261123_000003_teams;
mod m20261123_000004_api_keys;
mod m20261123_000005_channels;
mod m20261123_000006_conversations;
mod m20261123_000007_events;
mod m20261124_000001_pending_sign_ups;
mod m20261201_000001_keep_an_owner;
mod m20261202_000001_least_privilege;
mod m20261203_000001_public_channel_read;
mod m20261204_000001_channel_identities;
pub mod security;
pub mod tenancy;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_platform_tables::Migration),
            Box::new(m20261123_000002_tenant_tables::Migration),
            Box::new(m20261123_000003_teams::Migration),
            Box::new(m20261123_000004_api_keys::Migration),
            Box::new(m20261123_000005_channels::Migration),
            Box::new(m20261123_000006_conversations::Migration),
            Box::new(m20261123_000007_events::Migration),
            Box::new(m20261124_000001_pending_sign_ups::Migration),
            Box::new(m20261201_000001_keep_an_owner::Migration),
            Box::new(m20261202_000001_least_privilege::Migration),
            Box::new(m20261203_000001_public_channel_read::Migration),
            Box::new(m20261204_000001_channel_identities::Migration),
        ]
    }
}
