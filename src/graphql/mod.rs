//! The toolkit the capabilities build their fields with: guards, loaders and batching,
//! pagination, limits, text checks, the documents already read, introspection and the
//! answer writer. It names no capability; the schema is assembled in `schema`.

pub mod batching;
pub mod connection;
pub mod documents;
pub mod guards;
pub mod id;
pub mod introspection;
pub mod limits;
pub mod loaders;
pub mod pagination;
pub mod plain;
pub mod response;
pub mod text;

use std::sync::Arc;

use async_graphql::Context;

use crate::error::AppError;
use crate::services::Services;
use crate::tenant::RequestContext;

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
