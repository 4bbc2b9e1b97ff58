//! The budget the operations of one request share.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};

use super::OperationShape;
use crate::config::QueryLimits;
use crate::error::AppError;

/// What the operations of one request may use together: a batch shares one budget, so
/// ten operations may not do ten times what one may.
pub struct Budget {
    limits: QueryLimits,
    batched: bool,
    spent: Mutex<Spent>,
}

#[derive(Clone, Copy, Default)]
struct Spent {
    aliases: usize,
    directives: usize,
    introspections: usize,
    complexity: usize,
    bytes: usize,
}

/// At most this many `__schema`/`__type` fields in one request: one answers everything.
pub const MAX_INTROSPECTIONS: usize = 1;

impl Budget {
    pub fn new(limits: &QueryLimits, batched: bool) -> Budget {
        Budget {
            limits: limits.clone(),
            batched,
            spent: Mutex::new(Spent::default()),
        }
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        // A panic while holding it cannot leave the counts half-written.
        self.spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn whole(&self) -> &'static str {
        if self.batched {
            "the batch (all its operations together)"
        } else {
            "the query"
        }
    }

    /// Takes what the walk measured of an operation, or refuses it (and takes nothing).
    pub fn admit(&self, shape: &OperationShape) -> Result<(), AppError> {
        let mut spent = self.spent();
        let whole = self.whole();
        let aliases = spent.aliases + shape.aliases;
        if aliases > self.limits.max_aliases {
            return Err(AppError::QueryTooComplex(format!(
                "{whole} uses {aliases} aliases; at most {} are allowed",
                self.limits.max_aliases
            )));
        }
        let directives = spent.directives + shape.directives;
        if directives > self.limits.max_directives {
            return Err(AppError::QueryTooComplex(format!(
                "{whole} uses {directives} directives; at most {} are allowed",
                self.limits.max_directives
            )));
        }
        let introspections = spent.introspections + shape.introspections;
        if introspections > MAX_INTROSPECTIONS {
            return Err(AppError::QueryTooComplex(format!(
                "{whole} selects `__schema` or `__type` {introspections} times; one \
                 introspection field answers everything"
            )));
        }
        let weight = usize::try_from(shape.introspection_weight).unwrap_or(usize::MAX);
        let complexity = spent.complexity.saturating_add(weight);
        if complexity > self.limits.max_complexity {
            return Err(AppError::QueryTooComplex(format!(
                "{whole} is too complex: its introspection can list {weight} schema elements; \
                 the complexity limit is {}",
                self.limits.max_complexity
            )));
        }
        *spent = Spent {
            aliases,
            directives,
            introspections,
            complexity,
            bytes: spent.bytes,
        };
        Ok(())
    }

    /// Takes an operation's complexity as validation computed it, or refuses it.
    pub fn charge_complexity(&self, complexity: usize) -> Result<(), AppError> {
        let mut spent = self.spent();
        let total = spent.complexity.saturating_add(complexity);
        if total > self.limits.max_complexity {
            return Err(AppError::QueryTooComplex(format!(
                "{} is too complex: complexity {total}, the limit is {}",
                self.whole(),
                self.limits.max_complexity
            )));
        }
        spent.complexity = total;
        Ok(())
    }

    /// Takes the bytes of an operation's answer, or refuses them.
    pub fn charge_bytes(&self, bytes: usize) -> Result<(), AppError> {
        let mut spent = self.spent();
        let total = spent.bytes.saturating_add(bytes);
        if total > self.limits.max_response_bytes {
            let whole = if self.batched {
                "the batch's answers together"
            } else {
                "the answer"
            };
            return Err(AppError::ResponseTooLarge(format!(
                "{whole} would take more than {} bytes: ask for fewer fields or smaller pages",
                self.limits.max_response_bytes
            )));
        }
        spent.bytes = total;
        Ok(())
    }

    /// Whether the request is a batch (its operations share this budget).
    pub fn batched(&self) -> bool {
        self.batched
    }

    pub fn complexity_spent(&self) -> usize {
        self.spent().complexity
    }
}

/// Charges each operation's validated complexity to the request's [`Budget`] (in the
/// request's data; a request without one, such as the schema reading its own size, is
/// not charged). async-graphql's own complexity limit still holds per operation.
pub struct SharedComplexity;

impl ExtensionFactory for SharedComplexity {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SharedComplexity)
    }
}

#[async_trait::async_trait]
impl Extension for SharedComplexity {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(budget) = ctx.data_opt::<Arc<Budget>>()
            && let Err(error) = budget.charge_complexity(result.complexity)
        {
            return Err(vec![
                async_graphql::Error::from(error).into_server_error(Default::default()),
            ]);
        }
        Ok(result)
    }
}
