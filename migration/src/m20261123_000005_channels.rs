//! Channel configurations (per organization and channel kind), the organization's default
//! agent instructions, and on PostgreSQL the one narrow read of a channel that works
//! without an organization: what a web chat widget shows before anyone signs in.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::Organization;
use crate::security::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChannelConfig {
    Table,
    OrganizationId,
    Kind,
    Enabled,
    Provider,
    Model,
    Instructions,
    Settings,
    CredentialsSealed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrganizationAgent {
    #[sea_orm(iden = "organization")]
    Table,
    AgentInstructions,
}

/// Reads a channel's public part (`enabled`, and of the settings only `greeting` and
/// `branding`; never instructions, provider, model, other settings or credentials)
/// inside its organization. The binding to `app.organization_id` lasts for this one
/// statement: the function restores the request's own binding before it returns (`RETURN
/// QUERY` has run its query by then), so the fields of a query that run beside it (query
/// fields run concurrently on the request's transaction) never see another
/// organization's binding. It runs with the caller's rights, so row-level security
/// applies. (A `SET app.organization_id` clause would do the restoring too, but
/// PostgreSQL lets only a superuser attach a custom setting to a function, and the
/// gateway's own role need not be one: `m20261203_000001_public_channel_read` replaces a
/// function made with that clause.)
pub(crate) const PUBLIC_READ: &str = r#"
CREATE OR REPLACE FUNCTION public_channel_config(target_organization uuid, target_kind text)
RETURNS TABLE (enabled boolean, settings text)
LANGUAGE plpgsql
AS $$
DECLARE
    bound text := coalesce(current_setting('app.organization_id', true), '');
BEGIN
    PERFORM set_config('app.organization_id', target_organization::text, true);
    RETURN QUERY
        -- Only what a widget shows leaves the function, never the other settings.
        SELECT c.enabled,
               jsonb_build_object('greeting', c.settings::jsonb -> 'greeting',
                                  'branding', c.settings::jsonb -> 'branding')::text
        FROM channel_config c
        WHERE c.organization_id = target_organization AND c.kind = target_kind;
    PERFORM set_config('app.organization_id', bound, true);
END
$$;
REVOKE ALL ON FUNCTION public_channel_config(uuid, text) FROM PUBLIC;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChannelConfig::Table)
                    .col(uuid(ChannelConfig::OrganizationId))
                    .col(string_len(ChannelConfig::Kind, 16))
                    .col(boolean(ChannelConfig::Enabled))
                    .col(string_len(ChannelConfig::Provider, 100))
                    .col(string_len(ChannelConfig::Model, 100))
                    .col(text_null(ChannelConfig::Instructions))
                    .col(text(ChannelConfig::Settings))
                    .col(binary_null(ChannelConfig::CredentialsSealed))
                    .col(timestamp_with_time_zone(ChannelConfig::CreatedAt))
                    .col(timestamp_with_time_zone(ChannelConfig::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ChannelConfig::OrganizationId)
                            .col(ChannelConfig::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_channel_config_organization")
                            .from(ChannelConfig::Table, ChannelConfig::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationAgent::Table)
                    .add_column(text_null(OrganizationAgent::AgentInstructions))
                    .to_owned(),
            )
            .await?;
        security::protect_tenant_table(manager, "channel_config").await?;
        security::postgres_only(
            manager,
            &format!(
                "{PUBLIC_READ}GRANT EXECUTE ON FUNCTION public_channel_config(uuid, text) TO {APP_ROLE};"
            ),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        security::postgres_only(
            manager,
            "DROP FUNCTION IF EXISTS public_channel_config(uuid, text);",
        )
        .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(ChannelConfig::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationAgent::Table)
                    .drop_column(OrganizationAgent::AgentInstructions)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
