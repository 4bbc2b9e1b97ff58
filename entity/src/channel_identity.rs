//! A provider identity an organization owns: a phone number, a WhatsApp Cloud API
//! phone-number id, a Retell agent id, an inbound email address. Tenant table; each
//! identity belongs to at most one organization platform-wide (a unique index on
//! `(kind, value)`), so a provider's callback, which names only the identity, routes to
//! one organization.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_identity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: IdentityKind,
    /// Normalised: E.164 for phone numbers, lowercase for email addresses.
    pub value: String,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

/// What kind of provider identity. Stored as lowercase text.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum IdentityKind {
    /// A phone number (Twilio), for SMS and voice.
    #[sea_orm(string_value = "phone_number")]
    PhoneNumber,
    /// A WhatsApp Cloud API phone-number id.
    #[sea_orm(string_value = "whatsapp_phone_number_id")]
    WhatsappPhoneNumberId,
    /// A Retell agent id, for AI voice calls.
    #[sea_orm(string_value = "retell_agent_id")]
    RetellAgentId,
    /// An address inbound email arrives at.
    #[sea_orm(string_value = "inbound_email")]
    InboundEmail,
}
