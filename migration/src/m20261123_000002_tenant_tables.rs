//! The first tenant tables: memberships and contacts. Primary keys start with
//! `organization_id`, and so does every foreign key between tenant tables, so no row can
//! reference another organization's row.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::{Organization, User};
use crate::security::{self, CURRENT_USER};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Membership {
    Table,
    OrganizationId,
    UserId,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    OrganizationId,
    Id,
    Name,
    Email,
    Phone,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Membership::Table)
                    .col(uuid(Membership::OrganizationId))
                    .col(uuid(Membership::UserId))
                    .col(string_len(Membership::Role, 16))
                    .col(timestamp_with_time_zone(Membership::CreatedAt))
                    .col(timestamp_with_time_zone(Membership::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Membership::OrganizationId)
                            .col(Membership::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_organization")
                            .from(Membership::Table, Membership::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_user")
                            .from(Membership::Table, Membership::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_membership_user")
                    .table(Membership::Table)
                    .col(Membership::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contact::Table)
                    .col(uuid(Contact::OrganizationId))
                    .col(uuid(Contact::Id))
                    .col(string_len(Contact::Name, 200))
                    .col(string_len_null(Contact::Email, 320))
                    .col(string_len_null(Contact::Phone, 32))
                    .col(uuid_null(Contact::OwnerId))
                    .col(timestamp_with_time_zone(Contact::CreatedAt))
                    .col(timestamp_with_time_zone(Contact::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Contact::OrganizationId)
                            .col(Contact::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_organization")
                            .from(Contact::Table, Contact::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // The owner must be a member of the same organization.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_owner")
                            .from_tbl(Contact::Table)
                            .from_col(Contact::OrganizationId)
                            .from_col(Contact::OwnerId)
                            .to_tbl(Membership::Table)
                            .to_col(Membership::OrganizationId)
                            .to_col(Membership::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_contact_email")
                    .table(Contact::Table)
                    .col(Contact::OrganizationId)
                    .col(Contact::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_name")
                    .table(Contact::Table)
                    .col(Contact::OrganizationId)
                    .col(Contact::Name)
                    .to_owned(),
            )
            .await?;

        security::protect_tenant_table(manager, "membership").await?;
        // A signed-in user may read their own memberships in every organization (to list
        // and switch organizations); writes stay pinned to the request's organization.
        security::postgres_only(
            manager,
            &format!(
                "CREATE POLICY own_memberships ON membership FOR SELECT USING (user_id = {CURRENT_USER});"
            ),
        )
        .await?;
        security::protect_tenant_table(manager, "contact").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Contact::Table).if_exists().to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Membership::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
