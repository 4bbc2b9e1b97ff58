//! A message of a conversation. Tenant table: it carries `organization_id` itself, and its
//! key to the conversation includes it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub author: MessageAuthor,
    /// The member who wrote it, for `agent` messages.
    pub author_id: Option<Uuid>,
    pub body: String,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// Who wrote a message. Stored as lowercase text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum MessageAuthor {
    /// The contact.
    #[sea_orm(string_value = "contact")]
    Contact,
    /// A member of the organization.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// The organization's AI agent.
    #[sea_orm(string_value = "ai")]
    Ai,
}
