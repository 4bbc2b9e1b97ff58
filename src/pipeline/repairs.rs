//! Repairs of async-graphql's answer before it is written: the GraphQL spec's `null`
//! for failed fields, and the cap on the number of errors.

use std::collections::HashSet;

use async_graphql::Value;

use crate::error::AppError;
use crate::tenant::OperationKind;

/// Keeps the first `max` errors and replaces the rest by one that says how many were
/// left out.
pub(super) fn cap_errors(errors: &mut Vec<async_graphql::ServerError>, max: usize) {
    if errors.len() <= max {
        return;
    }
    let left_out = errors.len() - max;
    errors.truncate(max);
    let error = async_graphql::Error::from(AppError::ResponseTooLarge(format!(
        "{left_out} more errors were left out of this answer (at most {max} are sent)"
    )));
    let mut error = error.into_server_error(Default::default());
    crate::error::annotate(&mut error, "");
    errors.push(error);
}

/// The root fields an operation selects directly: response key (alias or name), and
/// whether the field is nullable.
pub(super) fn root_fields(
    operation: &async_graphql::parser::types::OperationDefinition,
    kind: OperationKind,
    nullable: &HashSet<String>,
) -> Vec<(String, bool)> {
    use async_graphql::parser::types::Selection;
    let root = match kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
    };
    operation
        .selection_set
        .node
        .items
        .iter()
        .filter_map(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let key = field.alias.as_ref().unwrap_or(&field.name).node.to_string();
                let is_nullable = nullable.contains(&format!("{root}.{}", field.name.node));
                Some((key, is_nullable))
            }
            _ => None,
        })
        .collect()
}

/// async-graphql drops a root field that failed; the GraphQL spec wants `null` under its
/// key when the field is nullable, and `data: null` when it is not.
pub(super) fn restore_null_root_fields(
    response: &mut async_graphql::Response,
    fields: &[(String, bool)],
) {
    let failed: Vec<&str> = response
        .errors
        .iter()
        .filter_map(|error| match error.path.as_slice() {
            [async_graphql::PathSegment::Field(key)] => Some(key.as_str()),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    if fields
        .iter()
        .any(|(key, nullable)| !nullable && failed.contains(&key.as_str()))
    {
        response.data = Value::Null;
        return;
    }
    if response.data == Value::Null {
        response.data = Value::Object(Default::default());
    }
    if let Value::Object(map) = &mut response.data {
        for (key, _) in fields {
            if failed.contains(&key.as_str()) {
                map.entry(async_graphql::Name::new(key))
                    .or_insert(Value::Null);
            }
        }
    }
}

/// Below the root, a failed field is dropped by async-graphql too; put `null` back under
/// its key when its parent object is there (the guarded fields are all nullable).
pub(super) fn restore_null_nested_fields(response: &mut async_graphql::Response) {
    use async_graphql::PathSegment;
    let paths: Vec<Vec<PathSegment>> = response
        .errors
        .iter()
        .filter(|error| error.path.len() > 1)
        .map(|error| error.path.clone())
        .collect();
    for path in paths {
        let Some((PathSegment::Field(last), parents)) = path.split_last() else {
            continue;
        };
        let mut current = Some(&mut response.data);
        for segment in parents {
            current = match (segment, current) {
                (PathSegment::Field(name), Some(Value::Object(map))) => map.get_mut(name.as_str()),
                (PathSegment::Index(index), Some(Value::List(items))) => items.get_mut(*index),
                _ => None,
            };
        }
        if let Some(Value::Object(map)) = current {
            map.entry(async_graphql::Name::new(last))
                .or_insert(Value::Null);
        }
    }
}
