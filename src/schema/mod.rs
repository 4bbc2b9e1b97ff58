//! The schema: the one module that names every capability. It merges their query and
//! mutation roots and builds the schema twice over the same types (see [`Schemas`]).

pub mod prework;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::analytics::AnalyticsQuery;
use crate::api_keys::{ApiKeyMutation, ApiKeyQuery};
use crate::audit::AuditQuery;
use crate::channel_identities::{ChannelIdentityMutation, ChannelIdentityQuery};
use crate::channels::{ChannelMutation, ChannelQuery};
use crate::config::QueryLimits;
use crate::contacts::{ContactMutation, ContactQuery};
use crate::conversations::{ConversationMutation, ConversationQuery};
use crate::error::AppError;
use crate::events::{EventMutation, EventQuery};
use crate::graphql::limits::{SCHEMA_SIZE_QUERY, SchemaSize};
use crate::graphql::{introspection, limits};
use crate::invitations::{InvitationMutation, InvitationQuery};
use crate::members::{MemberMutation, MemberQuery};
use crate::organizations::{OrganizationMutation, OrganizationQuery};
use crate::services::Services;
use crate::sessions::{SessionMutation, SessionQuery};
use crate::system::SystemMutation;
use futures_util::future::BoxFuture;

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
    ChannelIdentityQuery,
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
    ChannelIdentityMutation,
    ContactMutation,
    ConversationMutation,
    EventMutation,
    SystemMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

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
        let introspection = Arc::new(introspection::Introspection::new(measure_size));
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
        Arc::new(introspection::Introspection::new(measure_size)),
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

/// The schema's size, read by introspecting it with everything visible. It asks a schema
/// of its own, without the configured limits, so that no setting of them can keep it
/// from answering.
pub fn measure_size() -> BoxFuture<'static, Result<SchemaSize, AppError>> {
    Box::pin(async {
        let schema = Schema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            EmptySubscription,
        )
        .finish();
        let response = schema.execute(SCHEMA_SIZE_QUERY).await;
        if !response.errors.is_empty() {
            return Err(AppError::internal(anyhow::anyhow!(
                "the schema cannot introspect its size: {:?}",
                response.errors
            )));
        }
        let data = response.data.into_json().map_err(AppError::internal)?;
        SchemaSize::from_answer(&data)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unexpected schema size answer")))
    })
}
