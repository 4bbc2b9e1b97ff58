//! Control characters are refused at the edge, in every string a request carries: the
//! literals of the document and the variables, JSON values and object keys included.
//! PostgreSQL cannot store U+0000 at all (it answered such input with an internal error,
//! and a stored JSON setting with one broke the organization's public widget for good),
//! and no other C0 control belongs in a name, a message or a setting. Tab, line feed and
//! carriage return stay allowed: free text keeps its lines, whatever system wrote them.
//! Checking here, once per request, makes SQLite and PostgreSQL answer alike.

use async_graphql::Value;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet,
};

/// The parser's value of an argument (it may hold variables).
type Argument = async_graphql_value::Value;

use crate::error::AppError;

/// Whether `c` is refused in text.
fn refused(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `text` holds no refused control character: what any stored text satisfies, so
/// also what a cursor, which carries stored text past the checks here, must satisfy.
pub fn is_text(text: &str) -> bool {
    !text.chars().any(refused)
}

fn check_str(path: &str, text: &str) -> Result<(), AppError> {
    if text.chars().any(refused) {
        return Err(AppError::invalid(
            path,
            "must not contain control characters (U+0000 to U+001F, except tab and line breaks)",
        ));
    }
    Ok(())
}

/// Checks the request's variables (a JSON object).
pub fn check_variables(variables: &serde_json::Value) -> Result<(), AppError> {
    fn walk(path: &str, value: &serde_json::Value) -> Result<(), AppError> {
        match value {
            serde_json::Value::String(text) => check_str(path, text),
            serde_json::Value::Array(items) => items.iter().try_for_each(|item| walk(path, item)),
            serde_json::Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_str(&inner, key)?;
                walk(&inner, item)
            }),
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
                Ok(())
            }
        }
    }
    walk("", variables)
}

/// Checks every literal of the document: arguments, directive arguments and variable
/// defaults, in every operation and fragment (used or not).
pub fn check_document(document: &ExecutableDocument) -> Result<(), AppError> {
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    for operation in operations {
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value {
                value(variable.node.name.node.as_str(), &default.node)?;
            }
        }
        directives(&operation.node.directives)?;
        selection_set(&operation.node.selection_set.node)?;
    }
    for fragment in document.fragments.values() {
        directives(&fragment.node.directives)?;
        selection_set(&fragment.node.selection_set.node)?;
    }
    Ok(())
}

fn selection_set(set: &SelectionSet) -> Result<(), AppError> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => self::field(&field.node)?,
            Selection::InlineFragment(fragment) => {
                directives(&fragment.node.directives)?;
                selection_set(&fragment.node.selection_set.node)?;
            }
            Selection::FragmentSpread(spread) => directives(&spread.node.directives)?,
        }
    }
    Ok(())
}

fn field(field: &Field) -> Result<(), AppError> {
    for (name, argument) in &field.arguments {
        value(name.node.as_str(), &constant(&argument.node))?;
    }
    directives(&field.directives)?;
    selection_set(&field.selection_set.node)
}

fn directives(directives: &[Positioned<Directive>]) -> Result<(), AppError> {
    for directive in directives {
        for (name, argument) in &directive.node.arguments {
            value(name.node.as_str(), &constant(&argument.node))?;
        }
    }
    Ok(())
}

/// An argument of the document as a constant; its variables (checked on their own)
/// stand as `null`.
fn constant(argument: &Argument) -> Value {
    argument
        .clone()
        .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null))
        .unwrap_or(Value::Null)
}

fn value(path: &str, value: &Value) -> Result<(), AppError> {
    match value {
        Value::String(text) => check_str(path, text),
        Value::List(items) => items.iter().try_for_each(|item| self::value(path, item)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            let inner = format!("{path}.{key}");
            check_str(&inner, key.as_str())?;
            self::value(&inner, item)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_tabs_and_line_breaks_are_text() {
        assert!(check_variables(&serde_json::json!({ "b": "one\ttwo\r\nthree" })).is_ok());
        for bad in ["nul\u{0}", "bell\u{7}", "esc\u{1b}"] {
            assert!(check_variables(&serde_json::json!({ "i": { "x": [bad] } })).is_err());
        }
        assert!(check_variables(&serde_json::json!({ "i": { "k\u{0}": 1 } })).is_err());
        let document =
            async_graphql::parser::parse_query("query Q($d: String = \"a\\u0000\") { a }")
                .expect("parses");
        assert!(check_document(&document).is_err());
        let document =
            async_graphql::parser::parse_query("{ a(x: { y: [\"fine\", \"\\u0001\"] }) }")
                .expect("parses");
        assert!(check_document(&document).is_err());
        let document = async_graphql::parser::parse_query("{ a(x: \"fine\\n\") }").expect("parses");
        assert!(check_document(&document).is_ok());
    }
}
