//! Introspection answers, cached. They depend only on the schema, the query (text,
//! operation name, variables) and on what the caller may see (see `policy::visible`):
//! so they are kept by exactly that, and a client that introspects on every page load
//! costs a look-up. Also the schema's size, which weighs introspection in the budget.

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, Variables};
use tokio::sync::OnceCell;

use super::limits::{SCHEMA_SIZE_QUERY, SchemaSize};
use super::{MutationRoot, QueryRoot};
use crate::auth::Principal;
use crate::error::AppError;

/// Bytes of answers kept at most (answers and their keys, weighed by length).
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What decides the answer to an introspection query.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Key {
    audience: crate::policy::visible::Audience,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl Key {
    pub fn new(
        principal: &Principal,
        query: &str,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Key {
        Key {
            audience: crate::policy::visible::audience(principal),
            query: query.to_owned(),
            operation_name: operation_name.map(str::to_owned),
            variables: variables.to_string(),
        }
    }

    fn bytes(&self) -> usize {
        self.query.len()
            + self.operation_name.as_ref().map_or(0, String::len)
            + self.variables.len()
    }
}

/// A cached answer: the body as written, its size, and the complexity validation gave
/// its query (charged again on every hit, as if it ran).
#[derive(Clone)]
pub struct Answer {
    pub body: Arc<Vec<u8>>,
    pub bytes: usize,
    pub complexity: usize,
}

/// Kept with the schema (in its data), so it lives exactly as long.
pub struct Introspection {
    size: OnceCell<SchemaSize>,
    answers: moka::future::Cache<Key, Answer>,
}

impl Default for Introspection {
    fn default() -> Self {
        Introspection {
            size: OnceCell::new(),
            answers: moka::future::Cache::builder()
                .max_capacity(CACHE_BYTES)
                .weigher(|key: &Key, answer: &Answer| {
                    u32::try_from(key.bytes() + answer.bytes).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

impl Introspection {
    /// The schema's size, read once by introspecting it with everything visible. It asks
    /// a schema of its own, without the configured limits, so that no setting of them can
    /// keep it from answering.
    pub async fn size(&self) -> Result<SchemaSize, AppError> {
        self.size
            .get_or_try_init(|| async {
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
                SchemaSize::from_answer(&data).ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("unexpected schema size answer"))
                })
            })
            .await
            .copied()
    }

    pub async fn get(&self, key: &Key) -> Option<Answer> {
        self.answers.get(key).await
    }

    pub async fn keep(&self, key: Key, answer: Answer) {
        self.answers.insert(key, answer).await;
    }
}
