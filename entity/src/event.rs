//! Something a contact or visitor did, tracked by a member or a partner's key. Tenant
//! table; rows are inserted, read and counted, and deleted only by their contact's
//! deletion or by the organization's retention (`ENFORCE_RETENTION`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: EventKind,
    /// What happened, in the tracker's words (required for `custom` events).
    pub name: Option<String>,
    /// The contact it happened to, if known; deleting the contact deletes their events.
    pub contact_id: Option<Uuid>,
    /// A JSON object, stored as text.
    pub properties: String,
    /// When it happened (given by the tracker, or when it was tracked).
    pub occurred_at: DateTimeUtc,
    /// When it was tracked.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// The kinds of events. Stored as lowercase text so both databases read it alike.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum EventKind {
    #[sea_orm(string_value = "page_view")]
    PageView,
    #[sea_orm(string_value = "article_view")]
    ArticleView,
    #[sea_orm(string_value = "mention")]
    Mention,
    #[sea_orm(string_value = "click")]
    Click,
    #[sea_orm(string_value = "custom")]
    Custom,
}
