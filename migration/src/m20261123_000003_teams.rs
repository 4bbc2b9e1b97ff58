//! Teams: organization lifecycle and seats, contact notes, invitations, the audit log, the
//! mail outbox and password resets.

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::{Organization, User};
use crate::security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrganizationLifecycle {
    #[sea_orm(iden = "organization")]
    Table,
    Status,
    Plan,
    SeatLimit,
}

#[derive(DeriveIden)]
enum ContactNotes {
    #[sea_orm(iden = "contact")]
    Table,
    Notes,
}

#[derive(DeriveIden)]
enum Invitation {
    Table,
    OrganizationId,
    Id,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    OrganizationId,
    Id,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Summary,
    ClientIp,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Recipient,
    Subject,
    BodySealed,
    Kind,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    SentAt,
    LastError,
}

#[derive(DeriveIden)]
enum PasswordReset {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            string_len(OrganizationLifecycle::Status, 16)
                .default("trial")
                .to_owned(),
            string_len(OrganizationLifecycle::Plan, 32)
                .default("free")
                .to_owned(),
            integer(OrganizationLifecycle::SeatLimit)
                .default(10)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrganizationLifecycle::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ContactNotes::Table)
                    .add_column(text_null(ContactNotes::Notes))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Invitation::Table)
                    .col(uuid(Invitation::OrganizationId))
                    .col(uuid(Invitation::Id))
                    .col(string_len(Invitation::Email, 320))
                    .col(string_len(Invitation::Role, 16))
                    .col(binary_len_uniq(Invitation::TokenHash, 32))
                    .col(uuid_null(Invitation::InvitedBy))
                    .col(timestamp_with_time_zone(Invitation::CreatedAt))
                    .col(timestamp_with_time_zone(Invitation::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitation::AcceptedAt))
                    .col(uuid_null(Invitation::AcceptedBy))
                    .col(timestamp_with_time_zone_null(Invitation::RevokedAt))
                    .primary_key(
                        Index::create()
                            .col(Invitation::OrganizationId)
                            .col(Invitation::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitation_organization")
                            .from(Invitation::Table, Invitation::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitation_inviter")
                            .from(Invitation::Table, Invitation::InvitedBy)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // One open invitation per email and organization (same syntax on both databases).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_invitation_open_email ON invitation (organization_id, email) \
                 WHERE accepted_at IS NULL AND revoked_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::OrganizationId))
                    .col(uuid(AuditLog::Id))
                    .col(uuid_null(AuditLog::ActorId))
                    .col(string_len(AuditLog::Action, 64))
                    .col(string_len(AuditLog::TargetType, 32))
                    .col(string_len_null(AuditLog::TargetId, 64))
                    .col(text(AuditLog::Summary))
                    .col(string_len_null(AuditLog::ClientIp, 64))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(AuditLog::OrganizationId)
                            .col(AuditLog::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_log_organization")
                            .from(AuditLog::Table, AuditLog::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(uuid(Outbox::Id).primary_key())
                    .col(string_len(Outbox::Recipient, 320))
                    .col(string_len(Outbox::Subject, 200))
                    .col(binary(Outbox::BodySealed))
                    .col(string_len(Outbox::Kind, 32))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .col(text_null(Outbox::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::SentAt)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordReset::Table)
                    .col(uuid(PasswordReset::Id).primary_key())
                    .col(uuid(PasswordReset::UserId))
                    .col(binary_len_uniq(PasswordReset::TokenHash, 32))
                    .col(timestamp_with_time_zone(PasswordReset::CreatedAt))
                    .col(timestamp_with_time_zone(PasswordReset::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasswordReset::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_reset_user")
                            .from(PasswordReset::Table, PasswordReset::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        security::protect_tenant_table(manager, "invitation").await?;
        security::protect_tenant_table(manager, "audit_log").await?;
        security::grant_platform_table(manager, "outbox").await?;
        security::grant_platform_table(manager, "password_reset").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PasswordReset::Table.into_iden(),
            Outbox::Table.into_iden(),
            AuditLog::Table.into_iden(),
            Invitation::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ContactNotes::Table)
                    .drop_column(ContactNotes::Notes)
                    .to_owned(),
            )
            .await?;
        for column in [
            OrganizationLifecycle::SeatLimit,
            OrganizationLifecycle::Plan,
            OrganizationLifecycle::Status,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrganizationLifecycle::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
