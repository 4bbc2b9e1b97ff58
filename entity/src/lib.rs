//! SeaORM models of tenantgate's tables, one file per table.
//!
//! Tables with an `organization_id` column are tenant tables: their primary key
//! starts with `organization_id` and they are only ever queried through
//! `tenantgate::tenant::TenantDb`. The others (`user`, `organization`, `session`,
//! `refresh_token`, `signing_key`, `pending_sign_up`, …) are platform tables that belong to no single
//! organization.

pub mod api_key;
pub mod audit_log;
pub mod channel_config;
pub mod channel_identity;
pub mod contact;
pub mod contact_tag;
pub mod conversation;
pub mod event;
pub mod invitation;
pub mod membership;
pub mod message;
pub mod organization;
pub mod outbox;
pub mod password_reset;
pub mod pending_sign_up;
pub mod refresh_token;
pub mod role;
pub mod session;
pub mod signing_key;
pub mod user;

pub use channel_config::ChannelKind;
pub use channel_identity::IdentityKind;
pub use conversation::ConversationStatus;
pub use event::EventKind;
pub use message::MessageAuthor;
pub use organization::OrganizationStatus;
pub use role::Role;
