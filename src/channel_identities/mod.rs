//! Provider identities: the phone numbers, WhatsApp phone-number ids, Retell agent ids
//! and inbound email addresses an organization owns, so that a provider's callback
//! (which names only the identity) reaches the organization that owns it. Each belongs
//! to at most one organization platform-wide: claiming one that another organization
//! holds is `CONFLICT`, with the same answer whoever holds it. ADMIN or higher claims and
//! releases them; they are read with the channel configurations (ADMIN, or an API key
//! with `channels:read`).

mod service;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::channels::ChannelKind as ChannelKindValue;
use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::pagination::Page;
use crate::policy::Permission as P;
use entity::{ChannelKind, IdentityKind, channel_identity};

crate::tenant::tenant_entity!(channel_identity, "channel identity", Id);

/// What kind of provider identity.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::IdentityKind")]
pub enum ChannelIdentityKind {
    /// A phone number in E.164 (`+` and 7–15 digits; spaces, dots, dashes and
    /// parentheses are dropped), for SMS and voice (Twilio).
    PhoneNumber,
    /// A WhatsApp Cloud API phone-number id (1–32 digits).
    WhatsappPhoneNumberId,
    /// A Retell agent id (1–128 of `A-Z a-z 0-9 _ -`), for AI voice calls.
    RetellAgentId,
    /// An address inbound email arrives at (stored lowercased).
    InboundEmail,
}

/// A provider identity the organization owns (reached by whoever may read channels).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ChannelIdentity {
    pub id: ID,
    pub kind: ChannelIdentityKind,
    /// Normalised: E.164 for phone numbers, lowercase for email addresses.
    pub value: String,
    pub created_at: DateTime<Utc>,
}

impl crate::graphql::plain::PageNode for ChannelIdentity {}

#[async_graphql::ComplexObject]
impl ChannelIdentity {
    /// The channels whose provider traffic this identity carries.
    async fn channels(&self) -> Vec<ChannelKindValue> {
        service::channels_of(self.kind.into())
            .iter()
            .map(|&kind: &ChannelKind| kind.into())
            .collect()
    }
}

impl From<channel_identity::Model> for ChannelIdentity {
    fn from(model: channel_identity::Model) -> Self {
        ChannelIdentity {
            id: ID(model.id.to_string()),
            kind: model.kind.into(),
            value: model.value,
            created_at: model.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct ClaimChannelIdentityInput {
    pub kind: ChannelIdentityKind,
    /// The identity as the provider shows it; normalised before it is stored.
    pub value: String,
}

#[derive(Default)]
pub struct ChannelIdentityQuery;

#[Object]
impl ChannelIdentityQuery {
    /// The provider identities the organization owns, newest first (`first` 1–100,
    /// default 20), of one `kind` when given. ADMIN or higher, or an API key with
    /// `channels:read`.
    #[graphql(
        guard = "Allow(P::ReadChannels)",
        visible = "crate::policy::visible::read_channels",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn channel_identities(
        &self,
        ctx: &Context<'_>,
        kind: Option<ChannelIdentityKind>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Page<ChannelIdentity>> {
        let db = ctx.request()?.tenant_with(P::ReadChannels)?;
        Ok(service::list(db, kind.map(IdentityKind::from), first, after).await?)
    }
}

#[derive(Default)]
pub struct ChannelIdentityMutation;

#[Object]
impl ChannelIdentityMutation {
    /// Claims a provider identity for the organization. `CONFLICT` when it is already
    /// claimed, here or by another organization (the answer does not say which); an
    /// organization holds at most 100. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn claim_channel_identity(
        &self,
        ctx: &Context<'_>,
        input: ClaimChannelIdentityInput,
    ) -> GqlResult<ChannelIdentity> {
        let db = ctx.request()?.tenant_with(P::ManageChannels)?;
        Ok(service::claim(db, input).await?.into())
    }

    /// Releases a provider identity: callbacks naming it reach no organization until it
    /// is claimed again. Answers its id. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageChannels)",
        visible = "crate::policy::visible::manage_channels"
    )]
    async fn release_channel_identity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let db = ctx.request()?.tenant_with(P::ManageChannels)?;
        Ok(service::release(db, &id).await?)
    }
}
