//! The CRM core: contacts gain an external id, custom attributes and tags; conversations
//! with a contact on a channel, and their messages. Every key between these tables
//! includes `organization_id`, messages carry it directly.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_platform_tables::Organization;
use crate::security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Contact {
    Table,
    OrganizationId,
    Id,
    ExternalId,
    Attributes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Membership {
    Table,
    OrganizationId,
    UserId,
}

#[derive(DeriveIden)]
enum ContactTag {
    Table,
    OrganizationId,
    ContactId,
    Tag,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    OrganizationId,
    Id,
    ContactId,
    Channel,
    Status,
    AssigneeId,
    Summary,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
    LastMessageAt,
}

#[derive(DeriveIden)]
enum Message {
    Table,
    OrganizationId,
    Id,
    ConversationId,
    Author,
    AuthorId,
    Body,
    CreatedAt,
}

fn organization_key(
    table: impl IntoIden,
    column: impl IntoIden,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Organization::Table, Organization::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            string_len_null(Contact::ExternalId, 200).to_owned(),
            text(Contact::Attributes).default("{}").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Contact::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("uq_contact_external_id")
                    .table(Contact::Table)
                    .col(Contact::OrganizationId)
                    .col(Contact::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_created")
                    .table(Contact::Table)
                    .col(Contact::OrganizationId)
                    .col(Contact::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ContactTag::Table)
                    .col(uuid(ContactTag::OrganizationId))
                    .col(uuid(ContactTag::ContactId))
                    .col(string_len(ContactTag::Tag, 64))
                    .primary_key(
                        Index::create()
                            .col(ContactTag::OrganizationId)
                            .col(ContactTag::ContactId)
                            .col(ContactTag::Tag),
                    )
                    .foreign_key(&mut organization_key(
                        ContactTag::Table,
                        ContactTag::OrganizationId,
                        "fk_contact_tag_organization",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_tag_contact")
                            .from_tbl(ContactTag::Table)
                            .from_col(ContactTag::OrganizationId)
                            .from_col(ContactTag::ContactId)
                            .to_tbl(Contact::Table)
                            .to_col(Contact::OrganizationId)
                            .to_col(Contact::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_tag_tag")
                    .table(ContactTag::Table)
                    .col(ContactTag::OrganizationId)
                    .col(ContactTag::Tag)
                    .col(ContactTag::ContactId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversation::Table)
                    .col(uuid(Conversation::OrganizationId))
                    .col(uuid(Conversation::Id))
                    .col(uuid(Conversation::ContactId))
                    .col(string_len(Conversation::Channel, 16))
                    .col(string_len(Conversation::Status, 16))
                    .col(uuid_null(Conversation::AssigneeId))
                    .col(text_null(Conversation::Summary))
                    .col(timestamp_with_time_zone(Conversation::CreatedAt))
                    .col(timestamp_with_time_zone(Conversation::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Conversation::ClosedAt))
                    .col(timestamp_with_time_zone_null(Conversation::LastMessageAt))
                    .primary_key(
                        Index::create()
                            .col(Conversation::OrganizationId)
                            .col(Conversation::Id),
                    )
                    .foreign_key(&mut organization_key(
                        Conversation::Table,
                        Conversation::OrganizationId,
                        "fk_conversation_organization",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_contact")
                            .from_tbl(Conversation::Table)
                            .from_col(Conversation::OrganizationId)
                            .from_col(Conversation::ContactId)
                            .to_tbl(Contact::Table)
                            .to_col(Contact::OrganizationId)
                            .to_col(Contact::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // The assignee must be a member of the same organization; removing a
                    // member unassigns their conversations first.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_assignee")
                            .from_tbl(Conversation::Table)
                            .from_col(Conversation::OrganizationId)
                            .from_col(Conversation::AssigneeId)
                            .to_tbl(Membership::Table)
                            .to_col(Membership::OrganizationId)
                            .to_col(Membership::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_conversation_contact",
                vec![Conversation::ContactId, Conversation::Id],
            ),
            (
                "idx_conversation_status",
                vec![Conversation::Status, Conversation::Id],
            ),
            (
                "idx_conversation_assignee",
                vec![Conversation::AssigneeId, Conversation::Id],
            ),
            (
                "idx_conversation_last_message",
                vec![Conversation::LastMessageAt],
            ),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(Conversation::Table)
                .col(Conversation::OrganizationId);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Message::Table)
                    .col(uuid(Message::OrganizationId))
                    .col(uuid(Message::Id))
                    .col(uuid(Message::ConversationId))
                    .col(string_len(Message::Author, 16))
                    .col(uuid_null(Message::AuthorId))
                    .col(text(Message::Body))
                    .col(timestamp_with_time_zone(Message::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Message::OrganizationId)
                            .col(Message::Id),
                    )
                    .foreign_key(&mut organization_key(
                        Message::Table,
                        Message::OrganizationId,
                        "fk_message_organization",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_conversation")
                            .from_tbl(Message::Table)
                            .from_col(Message::OrganizationId)
                            .from_col(Message::ConversationId)
                            .to_tbl(Conversation::Table)
                            .to_col(Conversation::OrganizationId)
                            .to_col(Conversation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_conversation")
                    .table(Message::Table)
                    .col(Message::OrganizationId)
                    .col(Message::ConversationId)
                    .col(Message::Id)
                    .to_owned(),
            )
            .await?;
        // Analytics count messages by time.
        manager
            .create_index(
                Index::create()
                    .name("idx_message_created")
                    .table(Message::Table)
                    .col(Message::OrganizationId)
                    .col(Message::CreatedAt)
                    .to_owned(),
            )
            .await?;

        security::protect_tenant_table(manager, "contact_tag").await?;
        security::protect_tenant_table(manager, "conversation").await?;
        security::protect_tenant_table(manager, "message").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Message::Table.into_iden(),
            Conversation::Table.into_iden(),
            ContactTag::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_contact_created")
                    .table(Contact::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_contact_external_id")
                    .table(Contact::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Contact::Attributes, Contact::ExternalId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Contact::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
