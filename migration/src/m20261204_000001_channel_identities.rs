//! Provider identities: the phone numbers, WhatsApp phone-number ids, Retell agent ids
//! and inbound email addresses an organization owns. One identity belongs to at most one
//! organization platform-wide (a unique index across organizations), which is what lets
//! a provider's callback, naming only the identity, be routed to exactly one.

use sea_orm_migration::{prelude::*, schema::*};

use crate::security;
use crate::tenancy::{belongs_to_organization, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ChannelIdentity {
    Table,
    OrganizationId,
    Id,
    Kind,
    Value,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChannelIdentity::Table)
                    .col(uuid(ChannelIdentity::OrganizationId))
                    .col(uuid(ChannelIdentity::Id))
                    .col(string_len(ChannelIdentity::Kind, 32))
                    .col(string_len(ChannelIdentity::Value, 320))
                    .col(timestamp_with_time_zone(ChannelIdentity::CreatedAt))
                    .primary_key(&mut tenant_key(
                        ChannelIdentity::OrganizationId,
                        ChannelIdentity::Id,
                    ))
                    .foreign_key(&mut belongs_to_organization(
                        "fk_channel_identity_organization",
                        ChannelIdentity::Table,
                        ChannelIdentity::OrganizationId,
                    ))
                    .to_owned(),
            )
            .await?;
        // Platform-wide, deliberately without `organization_id`: an identity another
        // organization holds is refused (CONFLICT) without saying whose it is.
        manager
            .create_index(
                Index::create()
                    .name("uq_channel_identity_value")
                    .table(ChannelIdentity::Table)
                    .col(ChannelIdentity::Kind)
                    .col(ChannelIdentity::Value)
                    .unique()
                    .to_owned(),
            )
            .await?;
        security::protect_tenant_table(manager, "channel_identity").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ChannelIdentity::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
