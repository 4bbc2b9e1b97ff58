//! An `ID` written out only when a client selects it.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, ID, OutputType, Positioned, ServerResult, Value};
use uuid::Uuid;

/// A row's UUID shown as the GraphQL `ID` scalar (registered as async-graphql's `ID`, so
/// the schema is the same), formatted when the answer is written rather than when the
/// row is loaded: a node of a page carries several ids, and a client rarely selects them
/// all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id(pub Uuid);

impl OutputType for Id {
    fn type_name() -> Cow<'static, str> {
        <ID as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <ID as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::String(self.0.to_string()))
    }
}
