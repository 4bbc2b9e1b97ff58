//! API keys for partners' servers, and the audit log's record of a key that acted.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::{Organization, User};
use crate::security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    OrganizationId,
    Id,
    Name,
    Prefix,
    SecretHash,
    PreviousSecretHash,
    PreviousExpiresAt,
    Scopes,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLogActorKey {
    #[sea_orm(iden = "audit_log")]
    Table,
    ApiKeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKey::Table)
                    .col(uuid(ApiKey::OrganizationId))
                    .col(uuid(ApiKey::Id))
                    .col(string_len(ApiKey::Name, 100))
                    .col(string_len(ApiKey::Prefix, 32))
                    .col(binary_len_uniq(ApiKey::SecretHash, 32))
                    .col(binary_len_null(ApiKey::PreviousSecretHash, 32).unique_key())
                    .col(timestamp_with_time_zone_null(ApiKey::PreviousExpiresAt))
                    .col(string_len(ApiKey::Scopes, 512))
                    .col(uuid_null(ApiKey::CreatedBy))
                    .col(timestamp_with_time_zone(ApiKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKey::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKey::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKey::RotatedAt))
                    .col(timestamp_with_time_zone_null(ApiKey::RevokedAt))
                    .primary_key(Index::create().col(ApiKey::OrganizationId).col(ApiKey::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_key_organization")
                            .from(ApiKey::Table, ApiKey::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_key_creator")
                            .from(ApiKey::Table, ApiKey::CreatedBy)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLogActorKey::Table)
                    .add_column(uuid_null(AuditLogActorKey::ApiKeyId))
                    .to_owned(),
            )
            .await?;
        security::protect_tenant_table(manager, "api_key").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLogActorKey::Table)
                    .drop_column(AuditLogActorKey::ApiKeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKey::Table).if_exists().to_owned())
            .await?;
        Ok(())
    }
}
