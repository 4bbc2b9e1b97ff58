//! API keys: admins create, list, rotate and revoke their organization's keys; partners'
//! servers call with `x-api-key` (see `auth::api_keys` for the format, the verifier and
//! its cache). A key's secret is answered once, by `createApiKey` or `rotateApiKey`.

mod service;

pub use service::revoke_created_by;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::pagination::Page;
use crate::identity::Scopes;
use crate::policy::Permission as P;
use entity::api_key;

/// What an API key may do. No scope reaches members, invitations, API keys, sessions,
/// the audit log or the organization's settings.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::identity::Scope")]
pub enum ApiKeyScope {
    /// `contacts:read`: list and read contacts, without their personal data.
    ContactsRead,
    /// `contacts:read_pii`: personal data: contacts' email, phone and attributes,
    /// message bodies and conversation summaries (with the scope that reaches them);
    /// searching and matching contacts by email; setting a contact's email.
    ContactsReadPii,
    /// `contacts:write`: create, update and delete contacts (answers hold their ids;
    /// reading them back needs `CONTACTS_READ`).
    ContactsWrite,
    /// `conversations:read`: read conversations and their messages (bodies with
    /// `CONTACTS_READ_PII`).
    ConversationsRead,
    /// `conversations:write`: start conversations, post messages, close conversations.
    ConversationsWrite,
    /// `events:write`: track events.
    EventsWrite,
    /// `analytics:read`: read analytics.
    AnalyticsRead,
    /// `channels:read`: read channel configurations (never their credentials) and provider
    /// identities.
    ChannelsRead,
}

/// Where a key stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyStatus {
    /// Works (until `expiresAt`, if set).
    Active,
    /// Past `expiresAt`.
    Expired,
    /// Revoked: never works again.
    Revoked,
}

/// One of the organization's API keys. The secret itself is never shown here.
#[derive(SimpleObject, Clone)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    /// The first characters of the current secret, to recognise it.
    pub prefix: String,
    pub scopes: Vec<ApiKeyScope>,
    pub status: ApiKeyStatus,
    /// The member who created it, if they are still a user.
    pub created_by: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When a request last used it; written behind, so it may lag by seconds.
    pub last_used_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation keeps working.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl crate::graphql::plain::PageNode for ApiKey {}

impl From<api_key::Model> for ApiKey {
    fn from(model: api_key::Model) -> Self {
        let now = Utc::now();
        ApiKey {
            id: ID(model.id.to_string()),
            status: service::status_of(&model, now),
            prefix: model.prefix,
            scopes: Scopes::from_stored(&model.scopes)
                .iter()
                .map(ApiKeyScope::from)
                .collect(),
            created_by: model.created_by.map(|id| ID(id.to_string())),
            created_at: model.created_at,
            expires_at: model.expires_at,
            last_used_at: model.last_used_at,
            rotated_at: model.rotated_at,
            previous_secret_expires_at: model
                .previous_expires_at
                .filter(|until| *until > now && model.revoked_at.is_none()),
            revoked_at: model.revoked_at,
            name: model.name,
        }
    }
}

/// A key with its secret: the only time the secret is shown. Store it now.
#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    pub api_key: ApiKey,
    /// The key to send as `x-api-key`.
    pub secret: String,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1–100 characters, e.g. the partner's name.
    pub name: String,
    /// At least one.
    pub scopes: Vec<ApiKeyScope>,
    /// When the key stops working; must be in the future. Omitted: never.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The organization's API keys, newest first. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageApiKeys)",
        visible = "crate::policy::visible::manage_api_keys",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        status: Option<ApiKeyStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Page<ApiKey>> {
        Ok(service::list(ctx.request()?.tenant()?, status, first, after).await?)
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key and answers its secret, once. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageApiKeys)",
        visible = "crate::policy::visible::manage_api_keys"
    )]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> GqlResult<ApiKeyPayload> {
        Ok(service::create(ctx.request()?.tenant()?, input).await?)
    }

    /// Gives a key a new secret, answered once. The previous secret keeps working for
    /// `gracePeriodSeconds` (0 to 604800; default set by the operator, normally 0) so
    /// the partner can deploy the new one. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageApiKeys)",
        visible = "crate::policy::visible::manage_api_keys"
    )]
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        grace_period_seconds: Option<i32>,
    ) -> GqlResult<ApiKeyPayload> {
        Ok(service::rotate(ctx.request()?, ctx.services()?, &id, grace_period_seconds).await?)
    }

    /// Revokes a key: its next request is refused, on every node. Allowed while the
    /// organization is read-only. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ManageApiKeys)",
        visible = "crate::policy::visible::manage_api_keys"
    )]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiKey> {
        Ok(service::revoke(ctx.request()?, ctx.services()?, &id)
            .await?
            .into())
    }
}
