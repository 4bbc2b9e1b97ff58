//! Introspection answers, cached. They depend only on the schema, the query (text,
//! operation name, variables) and on what the caller may see (see `policy::visible`):
//! so they are kept by exactly that, and a client that introspects on every page load
//! costs a look-up. Also the schema's size, which weighs introspection in the budget.

use std::sync::Arc;

use async_graphql::Variables;
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use super::limits::SchemaSize;
use crate::error::AppError;
use crate::identity::Principal;

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
    measure: Measure,
    answers: moka::future::Cache<Key, Answer>,
}

/// Measures the schema's size (see `schema::measure_size`): the toolkit does not know
/// the schema it serves.
pub type Measure = fn() -> BoxFuture<'static, Result<SchemaSize, AppError>>;

impl Introspection {
    pub fn new(measure: Measure) -> Self {
        Introspection {
            size: OnceCell::new(),
            measure,
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
    /// The schema's size, measured once.
    pub async fn size(&self) -> Result<SchemaSize, AppError> {
        self.size.get_or_try_init(self.measure).await.copied()
    }

    pub async fn get(&self, key: &Key) -> Option<Answer> {
        self.answers.get(key).await
    }

    pub async fn keep(&self, key: Key, answer: Answer) {
        self.answers.insert(key, answer).await;
    }
}
