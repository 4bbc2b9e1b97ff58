//! Events: what contacts and visitors did (page views, clicks, mentions, custom events),
//! tracked by members and partners' keys and counted by analytics; and how long each
//! organization keeps them (`organization.event_retention_days`, enforced by the
//! `ENFORCE_RETENTION` system job).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::Organization;
use crate::security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrganizationRetention {
    #[sea_orm(iden = "organization")]
    Table,
    EventRetentionDays,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    OrganizationId,
    Id,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    OrganizationId,
    CreatedAt,
    ContactId,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    OrganizationId,
    Id,
    Kind,
    Name,
    ContactId,
    Properties,
    OccurredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationRetention::Table)
                    .add_column(
                        integer(OrganizationRetention::EventRetentionDays)
                            .default(365)
                            .to_owned(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Event::Table)
                    .col(uuid(Event::OrganizationId))
                    .col(uuid(Event::Id))
                    .col(string_len(Event::Kind, 16))
                    .col(string_len_null(Event::Name, 64))
                    .col(uuid_null(Event::ContactId))
                    .col(text(Event::Properties))
                    .col(timestamp_with_time_zone(Event::OccurredAt))
                    .col(timestamp_with_time_zone(Event::CreatedAt))
                    .primary_key(Index::create().col(Event::OrganizationId).col(Event::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_organization")
                            .from(Event::Table, Event::OrganizationId)
                            .to(Organization::Table, Organization::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A contact's events are theirs: deleting the contact deletes them.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_contact")
                            .from_tbl(Event::Table)
                            .from_col(Event::OrganizationId)
                            .from_col(Event::ContactId)
                            .to_tbl(Contact::Table)
                            .to_col(Contact::OrganizationId)
                            .to_col(Contact::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The list pages newest first by (occurred_at, id), optionally narrowed to one
        // type or one contact; analytics count by time, by type and by contact. Each
        // index ends in `id` so a page's keyset continues inside the index.
        for (name, columns) in [
            ("idx_event_occurred", vec![Event::OccurredAt, Event::Id]),
            (
                "idx_event_kind_occurred",
                vec![Event::Kind, Event::OccurredAt, Event::Id],
            ),
            (
                "idx_event_contact_occurred",
                vec![Event::ContactId, Event::OccurredAt, Event::Id],
            ),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(Event::Table)
                .col(Event::OrganizationId);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Analytics count the conversations started in a period and who started them.
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_started")
                    .table(Conversation::Table)
                    .col(Conversation::OrganizationId)
                    .col(Conversation::CreatedAt)
                    .col(Conversation::ContactId)
                    .to_owned(),
            )
            .await?;

        security::protect_tenant_table(manager, "event").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_conversation_started")
                    .table(Conversation::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Event::Table).if_exists().to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationRetention::Table)
                    .drop_column(OrganizationRetention::EventRetentionDays)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
