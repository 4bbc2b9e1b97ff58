//! Schema assembly, guards, limits, pagination and the GraphQL-over-HTTP endpoint. The
//! fields themselves live with their capability (`sessions/`, `organizations/`,
//! `channels/`, `contacts/`, `conversations/`, `events/`, `analytics/`, …).

pub mod batching;
pub mod graphiql;
pub mod guards;
pub mod http;
pub mod introspection;
pub mod limits;
pub mod loaders;
pub mod pagination;
pub mod prework;
pub mod response;
pub mod text;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, EmptySubscription, Enum, MergedObject, Schema};

use crate::analytics::AnalyticsQuery;
use crate::api_keys::{ApiKeyMutation, ApiKeyQuery};
use crate::audit::AuditQuery;
use crate::auth::api_keys::ApiKeys;
use crate::auth::password::PasswordHasherPool;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::TokenService;
use crate::channels::{ChannelMutation, ChannelQuery, CredentialSealer};
use crate::config::QueryLimits;
use crate::contacts::{ContactMutation, ContactQuery};
use crate::conversations::{ConversationMutation, ConversationQuery};
use crate::error::AppError;
use crate::events::{EventMutation, EventQuery};
use crate::invitations::{InvitationMutation, InvitationQuery};
use crate::mail::Mailer;
use crate::members::{MemberMutation, MemberQuery};
use crate::organizations::{OrganizationMutation, OrganizationQuery};
use crate::sessions::{SessionMutation, SessionQuery};
use crate::system::SystemMutation;
use crate::tenant::RequestContext;

/// Every query field, merged from the capabilities.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    SessionQuery,
    OrganizationQuery,
    MemberQuery,
    InvitationQuery,
    ApiKeyQuery,
    ChannelQuery,
    ContactQuery,
    ConversationQuery,
    EventQuery,
    AnalyticsQuery,
    AuditQuery,
);

/// Every mutation field, merged from the capabilities. Several mutations in one request
/// run in order, in one transaction: all or nothing.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    SessionMutation,
    OrganizationMutation,
    MemberMutation,
    InvitationMutation,
    ApiKeyMutation,
    ChannelMutation,
    ContactMutation,
    ConversationMutation,
    EventMutation,
    SystemMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Services resolvers need beyond the request's own context.
pub struct Services {
    pub tokens: TokenService,
    pub passwords: PasswordHasherPool,
    pub refresh_lifetime: Duration,
    pub remember_me_lifetime: Duration,
    pub mailer: Mailer,
    pub throttle: Throttle,
    /// `signUp` mails a verification link instead of signing in (see `sessions`).
    pub require_email_verification: bool,
    /// Base of the links in emails (the admin app).
    pub app_url: String,
    pub default_seat_limit: i32,
    pub api_keys: Arc<ApiKeys>,
    /// How long a rotated key's previous secret keeps working by default.
    pub rotation_grace: Duration,
    /// Seals channel credentials with the master key.
    pub channel_credentials: CredentialSealer,
    /// What the AI agent follows where neither its channel nor its organization has
    /// instructions.
    pub default_agent_instructions: String,
}

impl Services {
    /// How long a session may go without refreshing.
    /// A link into the admin app carrying a one-time token.
    pub fn app_link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.app_url.trim_end_matches('/')
        )
    }

    pub fn session_lifetime(&self, remember_me: bool) -> Duration {
        if remember_me {
            self.remember_me_lifetime
        } else {
            self.refresh_lifetime
        }
    }
}

/// A member's role in an organization, highest first.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[graphql(remote = "entity::Role")]
pub enum Role {
    /// Everything, including billing, ownership transfer and deleting the organization.
    Owner,
    /// Members, invitations, API keys, channel configurations, settings and the audit log.
    Admin,
    /// Any contact, and analytics.
    Manager,
    /// Contact details (PII); creates contacts, conversations, messages and events.
    Member,
    /// Reads the organization, its members and CRM data without personal details.
    Viewer,
}

/// The schema, built twice over the same types and state.
pub struct Schemas {
    /// For a single operation without introspection: its complexity is the whole
    /// request's, so async-graphql's own per-operation limit is the budget and no
    /// extension is needed. (With any extension registered, async-graphql sends every
    /// field through an instrumented path: a registry look-up, a boxed future and, for
    /// list items, two formatted type names per value.)
    pub lean: AppSchema,
    /// For batches and introspection: charges each operation's validated complexity to
    /// the request's shared budget ([`limits::SharedComplexity`]), which a cached
    /// introspection answer is charged again on every hit.
    pub metered: AppSchema,
}

impl Schemas {
    pub fn new(limits: &QueryLimits, dev: bool, services: Arc<Services>) -> Self {
        let introspection = Arc::new(introspection::Introspection::default());
        Schemas {
            lean: schema(
                limits,
                dev,
                Some(services.clone()),
                None,
                introspection.clone(),
            ),
            metered: schema(
                limits,
                dev,
                Some(services),
                Some(limits::SharedComplexity),
                introspection,
            ),
        }
    }
}

/// Builds the (metered) schema with the configured limits, without services: to print
/// its SDL or read its size.
pub fn build_schema(limits: &QueryLimits, dev: bool, services: Option<Arc<Services>>) -> AppSchema {
    schema(
        limits,
        dev,
        services,
        Some(limits::SharedComplexity),
        Arc::new(introspection::Introspection::default()),
    )
}

fn schema(
    limits: &QueryLimits,
    dev: bool,
    services: Option<Arc<Services>>,
    metering: Option<limits::SharedComplexity>,
    introspection: Arc<introspection::Introspection>,
) -> AppSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    // The cheaper, more specific checks run first in `limits`; these are the backstop.
    .limit_depth(limits.max_depth.max(limits.max_introspection_depth))
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_parser_depth)
    .limit_directives(limits.max_directives)
    .data(introspection);
    // A batch's operations share one complexity budget (`limits::Budget`).
    if let Some(metering) = metering {
        builder = builder.extension(metering);
    }
    if !dev {
        builder = builder.disable_suggestions();
    }
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The root fields whose type is nullable, as `Query.contact` / `Mutation.x`: an error in
/// one leaves `null` under its key in `data` (the GraphQL spec), where async-graphql
/// would drop the key.
pub fn nullable_root_fields() -> std::collections::HashSet<String> {
    use async_graphql::OutputType;
    use async_graphql::registry::{MetaType, Registry};
    let mut registry = Registry::default();
    QueryRoot::create_type_info(&mut registry);
    MutationRoot::create_type_info(&mut registry);
    let mut nullable = std::collections::HashSet::new();
    for (root, name) in [("Query", "Query"), ("Mutation", "Mutation")] {
        if let Some(MetaType::Object { fields, .. }) = registry.types.get(name) {
            for field in fields.values() {
                if !field.ty.ends_with('!') {
                    nullable.insert(format!("{root}.{}", field.name));
                }
            }
        }
    }
    nullable
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(&QueryLimits::default(), false, None).sdl()
}

/// Accessors every resolver uses.
/// The field's key in the answer (its alias, or its name): what tells two selections of
/// one mutation apart.
pub fn response_key<'a>(ctx: &'a Context<'_>) -> &'a str {
    ctx.item.node.response_key().node.as_str()
}

pub trait ContextExt {
    /// The request's context (principal, organization, transaction).
    fn request(&self) -> Result<&RequestContext, AppError>;
    /// Process-wide services.
    fn services(&self) -> Result<&Services, AppError>;
    /// The request's data loaders (authorize first: see `graphql::loaders`).
    fn loaders(&self) -> Result<&loaders::Loaders, AppError>;
}

impl ContextExt for Context<'_> {
    fn request(&self) -> Result<&RequestContext, AppError> {
        self.data_opt::<Arc<RequestContext>>()
            .map(Arc::as_ref)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("request context missing")))
    }

    fn services(&self) -> Result<&Services, AppError> {
        self.data_opt::<Arc<Services>>()
            .map(Arc::as_ref)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("services missing")))
    }

    fn loaders(&self) -> Result<&loaders::Loaders, AppError> {
        self.data_opt::<loaders::Loaders>()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("loaders missing")))
    }
}
