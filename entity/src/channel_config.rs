//! How one channel of an organization is set up: its AI provider and model, the agent's
//! instructions, its settings and its (sealed) credentials. Tenant table, one row per
//! organization and channel kind.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_config")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: ChannelKind,
    pub enabled: bool,
    /// Who runs the agent, e.g. `openai`.
    pub provider: String,
    /// The provider's model, e.g. `gpt-4o-mini`.
    pub model: String,
    /// The agent's instructions for this channel; `None` falls back to the organization's.
    pub instructions: Option<String>,
    /// A JSON object, as text (the web chat's `greeting` and `branding` among others).
    pub settings: String,
    /// The provider credentials (a JSON object) sealed with the master key, bound to the
    /// organization and kind (ciphertext only); never readable through the API.
    pub credentials_sealed: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// Where an organization talks to people. Stored as lowercase text so both databases
/// read it alike.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ChannelKind {
    #[sea_orm(string_value = "web_chat")]
    WebChat,
    #[sea_orm(string_value = "whatsapp")]
    Whatsapp,
    #[sea_orm(string_value = "sms")]
    Sms,
    #[sea_orm(string_value = "voice")]
    Voice,
    #[sea_orm(string_value = "email")]
    Email,
}
