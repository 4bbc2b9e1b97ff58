//! Channels: how each of an organization's channels (web chat, WhatsApp, SMS, voice,
//! email) is set up for its AI agent. Admins configure them; partners' keys with
//! `channels:read` read them; a web chat widget reads the public part (greeting,
//! branding) without signing in. Credentials are write-only: sealed with the master key,
//! never answered, never logged, never audited.

mod credentials;
mod service;

use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::pagination::Page;
use crate::policy::Permission as P;

pub use credentials::{CredentialSealer, Credentials};

/// Where an organization talks to people; each has at most one configuration.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::ChannelKind")]
pub enum ChannelKind {
    /// The chat widget on the organization's website.
    WebChat,
    Whatsapp,
    Sms,
    /// Phone calls.
    Voice,
    Email,
}

/// Which level the agent's effective instructions come from.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionSource {
    /// The channel's own `instructions`.
    Channel,
    /// The organization's default (`updateAgentInstructions`).
    Organization,
    /// The gateway's default, set by the operator.
    System,
}

/// The instructions the AI agent actually follows, and where they come from: the
/// channel's own, else the organization's default, else the gateway's default.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct EffectiveInstructions {
    pub text: String,
    pub source: InstructionSource,
}

/// How one channel is set up. Its credentials are write-only: `hasCredentials` says
/// whether there are any, and nothing ever answers them.
#[derive(SimpleObject)]
pub struct ChannelConfig {
    pub kind: ChannelKind,
    /// Whether the agent answers on this channel.
    pub enabled: bool,
    /// Who runs the agent, e.g. `openai`.
    pub provider: String,
    /// The provider's model, e.g. `gpt-4o-mini`.
    pub model: String,
    /// This channel's own instructions; `null` falls back to the organization's default.
    pub instructions: Option<String>,
    /// Free-form settings (a JSON object). The web chat widget reads `greeting` (a
    /// string) and `branding` (an object) from here, through `publicChannelConfig`.
    pub settings: Json<serde_json::Value>,
    /// Whether credentials are set (`setChannelCredentials`).
    pub has_credentials: bool,
    /// What the agent follows on this channel, and from which level.
    pub effective_instructions: EffectiveInstructions,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl crate::graphql::plain::PageNode for ChannelConfig {}

/// What anyone may know of a channel: what a web chat widget needs before anyone signs
/// in. Never instructions, provider, model, other settings or credentials.
#[derive(SimpleObject)]
pub struct PublicChannelConfig {
    pub kind: ChannelKind,
    /// Whether the agent answers on this channel; a widget stays hidden when not.
    pub enabled: bool,
    /// The channel's `settings.greeting`, if set.
    pub greeting: Option<String>,
    /// The channel's `settings.branding` (colors, logo, …), if set.
    pub branding: Option<Json<serde_json::Value>>,
}

/// A channel's whole configuration: it replaces what was there (credentials stay; change
/// them with `setChannelCredentials`).
#[derive(InputObject)]
pub struct UpsertChannelConfigInput {
    pub enabled: bool,
    /// 1–100 characters.
    pub provider: String,
    /// 1–100 characters.
    pub model: String,
    /// At most 20,000 characters; `null` or empty uses the organization's default.
    pub instructions: Option<String>,
    /// A JSON object of at most 16 KiB; `greeting` must be a string of at most 500
    /// characters and `branding` an object. Omitted: `{}`.
    pub settings: Option<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct ChannelQuery;

#[Object]
impl ChannelQuery {
    /// The organization's channel configurations, in the order of `ChannelKind`. ADMIN or
    /// higher, or an API key with `channels:read`.
    #[graphql(
        guard = "Allow(P::ReadChannels)",
        visible = "crate::policy::visible::read_channels",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn channel_configs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Page<ChannelConfig, service::KindCursor>> {
        let system = &ctx.services()?.default_agent_instructions;
        let db = ctx.request()?.tenant_with(P::ReadChannels)?;
        Ok(service::list(db, system, first, after).await?)
    }

    /// One channel's configuration; `NOT_FOUND` when this channel is not configured.
    /// ADMIN or higher, or an API key with `channels:read`.
    #[graphql(
        guard = "Allow(P::ReadChannels)",
        visible = "crate::policy::visible::read_channels"
    )]
    async fn channel_config(
        &self,
        ctx: &Context<'_>,
        kind: ChannelKind,
    ) -> GqlResult<Option<ChannelConfig>> {
        let system = &ctx.services()?.default_agent_instructions;
        let db = ctx.request()?.tenant_with(P::ReadChannels)?;
        Ok(Some(service::get(db, system, kind.into()).await?))
    }

    /// The organization's default instructions for its agent (what channels without
    /// their own follow), or the gateway's default when the organization has none.
    /// ADMIN or higher, or an API key with `channels:read`.
    #[graphql(
        guard = "Allow(P::ReadChannels)",
        visible = "crate::policy::visible::read_channels"
    )]
    async fn agent_instructions(&self, ctx: &Context<'_>) -> GqlResult<EffectiveInstructions> {
        let system = &ctx.services()?.default_agent_instructions;
        let db = ctx.request()?.tenant_with(P::ReadChannels)?;
        Ok(service::organization_default(db, system).await?)
    }

    /// What a web chat widget shows, by the organization's slug; open to anyone, public
    /// fields only. `null` when the organization or the channel does not exist.
    async fn public_channel_config(
        &self,
        ctx: &Context<'_>,
        organization_slug: String,
        kind: ChannelKind,
    ) -> GqlResult<Option<PublicChannelConfig>> {
        Ok(service::public(ctx.request()?.global(), &organization_slug, kind.into()).await?)
    }
}

#[derive(Default)]
pub struct ChannelMutation;

#[Object]
impl ChannelMutation {
    /// Creates or replaces a channel's configuration (its credentials stay). ADMIN or
    /// higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn upsert_channel_config(
        &self,
        ctx: &Context<'_>,
        kind: ChannelKind,
        input: UpsertChannelConfigInput,
    ) -> GqlResult<ChannelConfig> {
        let system = &ctx.services()?.default_agent_instructions;
        let db = ctx.request()?.tenant()?;
        Ok(service::upsert(db, system, kind.into(), input).await?)
    }

    /// Sets a configured channel's credentials (a JSON object of at most 16 KiB), or
    /// clears them with `null`. They are sealed and never answered: the answer says
    /// `hasCredentials`. `NOT_FOUND` when the channel is not configured. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn set_channel_credentials(
        &self,
        ctx: &Context<'_>,
        kind: ChannelKind,
        credentials: MaybeUndefined<Json<serde_json::Value>>,
    ) -> GqlResult<ChannelConfig> {
        let services = ctx.services()?;
        let db = ctx.request()?.tenant()?;
        Ok(service::set_credentials(
            db,
            &CredentialSealer::new(services.master_key.clone()),
            &services.default_agent_instructions,
            kind.into(),
            credentials,
        )
        .await?)
    }

    /// Deletes a channel's configuration, credentials included, and answers its kind.
    /// `NOT_FOUND` when the channel is not configured. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn delete_channel_config(
        &self,
        ctx: &Context<'_>,
        kind: ChannelKind,
    ) -> GqlResult<ChannelKind> {
        service::delete(ctx.request()?.tenant()?, kind.into()).await?;
        Ok(kind)
    }

    /// Sets the organization's default instructions for its agent (at most 20,000
    /// characters), followed by every channel without its own; `null` or empty clears
    /// them, and the gateway's default applies. Answers the organization's effective
    /// default. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn update_agent_instructions(
        &self,
        ctx: &Context<'_>,
        instructions: Option<String>,
    ) -> GqlResult<EffectiveInstructions> {
        let system = &ctx.services()?.default_agent_instructions;
        let db = ctx.request()?.tenant()?;
        Ok(service::update_agent_instructions(db, system, instructions).await?)
    }
}
