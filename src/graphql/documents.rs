//! Operations already read. Clients send the same few documents over and over (the
//! SPA's queries, a partner's sync), and reading one (async-graphql's parser, then the
//! checks of its literals and of its shape against the limits) was about a twentieth of
//! a small query's CPU. What is kept depends only on the text, the operation's name, the
//! limits and the schema, which are fixed while the server runs; what depends on the
//! caller (may they introspect, the batch's budget) or on the variables (password work)
//! is still decided for every request. Only documents that passed are kept: a refused
//! one is read, and refused, again each time.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

use super::limits::{self, OperationShape, SchemaSize};
use crate::config::QueryLimits;
use crate::error::AppError;

/// What reading an operation found.
pub struct Read {
    pub document: ExecutableDocument,
    /// The shape of the operation the name picks (see [`limits::check_operation`]).
    pub shape: OperationShape,
}

impl Read {
    fn new(
        query: &str,
        operation_name: Option<&str>,
        limits: &QueryLimits,
        schema_size: &SchemaSize,
    ) -> Result<Self, AppError> {
        limits::check_nesting(query, limits.max_parser_depth)?;
        let document = async_graphql::parser::parse_query(query).map_err(|error| {
            AppError::bad_input("query", async_graphql::ServerError::from(error).message)
        })?;
        super::text::check_document(&document)?;
        let selected = limits::select_operation(&document, operation_name)?;
        let shape = limits::check_operation(&document, selected, limits, schema_size)?;
        Ok(Read { document, shape })
    }
}

/// Operations read, by text and operation name.
pub struct Documents {
    read: moka::future::Cache<(String, Option<String>), Arc<Read>>,
}

/// Room for the kept documents, counted as the length of their text: a parsed document
/// takes ten to thirty times its text, so this keeps a few tens of MiB at most, a
/// thousand typical operations.
const KEPT_TEXT: u64 = 1024 * 1024;
/// A document longer than this is read every time (nobody repeats a huge one often
/// enough to matter, and it would push many small ones out).
const LONGEST_KEPT: usize = 16 * 1024;

impl Default for Documents {
    fn default() -> Self {
        Documents {
            read: moka::future::Cache::builder()
                .max_capacity(KEPT_TEXT)
                .weigher(|(query, name): &(String, Option<String>), _: &Arc<Read>| {
                    u32::try_from(query.len() + name.as_ref().map_or(0, String::len))
                        .unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

impl Documents {
    /// The operation read from `query`: what was kept, or read now (checking its
    /// nesting, literals and shape against `limits`).
    pub async fn read(
        &self,
        query: &str,
        operation_name: Option<&str>,
        limits: &QueryLimits,
        schema_size: &SchemaSize,
    ) -> Result<Arc<Read>, AppError> {
        let fresh = || Read::new(query, operation_name, limits, schema_size).map(Arc::new);
        if query.len() > LONGEST_KEPT {
            return fresh();
        }
        let key = (query.to_owned(), operation_name.map(str::to_owned));
        if let Some(read) = self.read.get(&key).await {
            return Ok(read);
        }
        let read = fresh()?;
        self.read.insert(key, read.clone()).await;
        Ok(read)
    }
}
