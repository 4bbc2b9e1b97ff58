//! A conversation with a contact on one channel. Tenant table.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub contact_id: Uuid,
    pub channel: crate::ChannelKind,
    /// `open` or `closed`.
    pub status: String,
    /// The member handling it, if any.
    pub assignee_id: Option<Uuid>,
    pub summary: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    pub last_message_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
