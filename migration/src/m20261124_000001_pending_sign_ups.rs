//! Pending sign-ups: with email verification on, `signUp` stores what the person chose
//! here and mails a link; the user and the organization exist only once `verifyEmail`
//! presents the link's token. A platform table (it belongs to no organization yet).

use sea_orm_migration::{prelude::*, schema::*};

use crate::security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingSignUp {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    OrganizationName,
    OrganizationSlug,
    RememberMe,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PendingSignUp::Table)
                    .col(uuid(PendingSignUp::Id).primary_key())
                    // Not unique: anyone may start a sign-up for any address, and the
                    // owner of the mailbox picks which link to follow.
                    .col(string_len(PendingSignUp::Email, 320))
                    .col(string_len(PendingSignUp::Name, 200))
                    .col(string(PendingSignUp::PasswordHash))
                    .col(string_len(PendingSignUp::OrganizationName, 200))
                    .col(string_len(PendingSignUp::OrganizationSlug, 64))
                    .col(boolean(PendingSignUp::RememberMe))
                    .col(binary_len_uniq(PendingSignUp::TokenHash, 32))
                    .col(timestamp_with_time_zone(PendingSignUp::CreatedAt))
                    .col(timestamp_with_time_zone(PendingSignUp::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // Verifying one sign-up deletes the others for the same address.
        manager
            .create_index(
                Index::create()
                    .name("idx_pending_sign_up_email")
                    .table(PendingSignUp::Table)
                    .col(PendingSignUp::Email)
                    .to_owned(),
            )
            .await?;
        security::grant_platform_table(manager, "pending_sign_up").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PendingSignUp::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
