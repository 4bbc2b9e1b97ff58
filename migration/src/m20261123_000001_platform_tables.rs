//! Platform tables: users, organizations, sessions, refresh tokens, signing keys.

use sea_orm_migration::{prelude::*, schema::*};

use crate::security::{self, CURRENT_ORGANIZATION};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum User {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Organization {
    Table,
    Id,
    Name,
    Slug,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    UserId,
    RememberMe,
    UserAgent,
    ClientIp,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Id,
    SessionId,
    TokenHash,
    CreatedAt,
    RotatedAt,
}

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Id,
    Algorithm,
    PrivateKeyEncrypted,
    PublicKey,
    CreatedAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        security::ensure_app_role(manager).await?;

        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .col(uuid(User::Id).primary_key())
                    .col(string_len_uniq(User::Email, 320))
                    .col(string_len(User::Name, 200))
                    .col(string(User::PasswordHash))
                    .col(timestamp_with_time_zone(User::CreatedAt))
                    .col(timestamp_with_time_zone(User::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Organization::Table)
                    .col(uuid(Organization::Id).primary_key())
                    .col(string_len(Organization::Name, 200))
                    .col(string_len_uniq(Organization::Slug, 64))
                    .col(timestamp_with_time_zone(Organization::CreatedAt))
                    .col(timestamp_with_time_zone(Organization::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .col(uuid(Session::Id).primary_key())
                    .col(uuid(Session::UserId))
                    .col(boolean(Session::RememberMe))
                    .col(string_len_null(Session::UserAgent, 512))
                    .col(string_len_null(Session::ClientIp, 64))
                    .col(timestamp_with_time_zone(Session::CreatedAt))
                    .col(timestamp_with_time_zone(Session::LastUsedAt))
                    .col(timestamp_with_time_zone(Session::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Session::RevokedAt))
                    .col(string_len_null(Session::RevokedReason, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_user")
                            .from(Session::Table, Session::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_user")
                    .table(Session::Table)
                    .col(Session::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshToken::Table)
                    .col(uuid(RefreshToken::Id).primary_key())
                    .col(uuid(RefreshToken::SessionId))
                    .col(binary_len_uniq(RefreshToken::TokenHash, 32))
                    .col(timestamp_with_time_zone(RefreshToken::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshToken::RotatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_token_session")
                            .from(RefreshToken::Table, RefreshToken::SessionId)
                            .to(Session::Table, Session::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_token_session")
                    .table(RefreshToken::Table)
                    .col(RefreshToken::SessionId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKey::Table)
                    .col(string_len(SigningKey::Id, 64).primary_key())
                    .col(string_len(SigningKey::Algorithm, 16))
                    .col(binary(SigningKey::PrivateKeyEncrypted))
                    .col(binary(SigningKey::PublicKey))
                    .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                    .to_owned(),
            )
            .await?;

        for table in ["user", "session", "refresh_token", "signing_key"] {
            security::grant_platform_table(manager, table).await?;
        }
        // The organization table is the tenants' directory: anyone may look a slug up or
        // create an organization, but only a request bound to an organization may change
        // or delete it, and only that one.
        security::grant_platform_table(manager, "organization").await?;
        security::postgres_only(
            manager,
            &format!(
                r#"ALTER TABLE organization ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization FORCE ROW LEVEL SECURITY;
CREATE POLICY directory_read ON organization FOR SELECT USING (true);
CREATE POLICY directory_create ON organization FOR INSERT WITH CHECK (true);
CREATE POLICY tenant_update ON organization FOR UPDATE
    USING (id = {CURRENT_ORGANIZATION}) WITH CHECK (id = {CURRENT_ORGANIZATION});
CREATE POLICY tenant_delete ON organization FOR DELETE USING (id = {CURRENT_ORGANIZATION});"#
            ),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKey::Table.into_iden(),
            RefreshToken::Table.into_iden(),
            Session::Table.into_iden(),
            Organization::Table.into_iden(),
            User::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
