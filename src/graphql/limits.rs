//! Checks on a query before it runs, beyond what async-graphql offers: bracket nesting
//! before parsing (the parser recurses), an alias cap, a directive cap, a depth cap for
//! ordinary fields, its own cap for introspection, and a refusal of circular
//! introspection (`types { fields { type { fields …`).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};

use crate::config::QueryLimits;
use crate::error::AppError;

/// Selections walked at most (fragments expanded); past this a query is too complex no
/// matter what else it does (fragment bombs).
const MAX_VISITS: usize = 10_000;

/// Introspection fields that expand a type into its members; twice on one path is the
/// shape of a circular introspection query.
const TYPE_EXPANDING: &[&str] = &["fields", "inputFields", "interfaces", "possibleTypes"];

/// Refuses documents nested deeper than `max` brackets, without parsing them. Strings
/// and comments do not count.
pub fn check_nesting(query: &str, max: usize) -> Result<(), AppError> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // A comment ends at a line terminator: `\n`, `\r\n` or a lone `\r`.
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' && bytes[i] != b'\r'
                {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(AppError::QueryTooComplex(format!(
                        "the query is nested deeper than {max} brackets"
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The operation a request will run, by its name (or the only one).
pub fn select_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<&'a OperationDefinition, AppError> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Ok(&operation.node),
        (DocumentOperations::Single(_), Some(name)) => Err(AppError::bad_input(
            "operationName",
            format!("the document has no operation named `{name}`"),
        )),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(name)
            .map(|operation| &operation.node)
            .ok_or_else(|| {
                AppError::bad_input(
                    "operationName",
                    format!("the document has no operation named `{name}`"),
                )
            }),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| &operation.node)
            .ok_or_else(|| AppError::bad_input("query", "the document has no operation")),
        (DocumentOperations::Multiple(_), None) => Err(AppError::bad_input(
            "operationName",
            "the document has several operations: name the one to run",
        )),
    }
}

pub fn is_mutation(operation: &OperationDefinition) -> bool {
    operation.ty == OperationType::Mutation
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a QueryLimits,
    aliases: usize,
    directives: usize,
    visits: usize,
    fragment_path: Vec<&'a str>,
    introspects: bool,
}

/// What the walk learned about an operation that passed the limits.
pub struct OperationShape {
    /// It selects `__schema` or `__type` somewhere (`__typename` does not count).
    pub introspects: bool,
}

/// Checks the operation that will run against the limits.
pub fn check_operation(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    limits: &QueryLimits,
) -> Result<OperationShape, AppError> {
    let mut walk = Walk {
        document,
        limits,
        aliases: 0,
        directives: operation.directives.len(),
        visits: 0,
        fragment_path: Vec::new(),
        introspects: false,
    };
    walk.selection_set(&operation.selection_set.node, 0, None)?;
    if walk.aliases > limits.max_aliases {
        return Err(AppError::QueryTooComplex(format!(
            "the query uses {} aliases; at most {} are allowed",
            walk.aliases, limits.max_aliases
        )));
    }
    if walk.directives > limits.max_directives {
        return Err(AppError::QueryTooComplex(format!(
            "the query uses {} directives; at most {} are allowed",
            walk.directives, limits.max_directives
        )));
    }
    Ok(OperationShape {
        introspects: walk.introspects,
    })
}

/// Where a selection sits inside introspection: how many type-expanding fields are on
/// its path.
#[derive(Clone, Copy)]
struct Introspection {
    expansions: usize,
}

impl<'a> Walk<'a> {
    fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        depth: usize,
        introspection: Option<Introspection>,
    ) -> Result<(), AppError> {
        for item in &set.items {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return Err(AppError::QueryTooComplex(
                    "the query selects too many fields once its fragments are expanded".into(),
                ));
            }
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.directives += field.directives.len();
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    let name = field.name.node.as_str();
                    let depth = depth + 1;
                    let introspection = match introspection {
                        Some(mut inside) => {
                            if TYPE_EXPANDING.contains(&name) {
                                inside.expansions += 1;
                                if inside.expansions > 1 {
                                    return Err(AppError::QueryTooComplex(
                                        "circular introspection queries are not allowed".into(),
                                    ));
                                }
                            }
                            Some(inside)
                        }
                        None if name == "__schema" || name == "__type" => {
                            self.introspects = true;
                            Some(Introspection { expansions: 0 })
                        }
                        None => None,
                    };
                    let (max, what) = match introspection {
                        Some(_) => (self.limits.max_introspection_depth, "introspection"),
                        None => (self.limits.max_depth, "the query"),
                    };
                    if depth > max {
                        return Err(AppError::QueryTooComplex(format!(
                            "{what} is nested deeper than {max} fields"
                        )));
                    }
                    self.selection_set(&field.selection_set.node, depth, introspection)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.directives += fragment.node.directives.len();
                    self.selection_set(&fragment.node.selection_set.node, depth, introspection)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.directives += spread.node.directives.len();
                    let name = spread.node.fragment_name.node.as_str();
                    // A cycle is reported by validation; here it just stops the walk.
                    if self.fragment_path.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    self.directives += fragment.node.directives.len();
                    self.fragment_path.push(name);
                    self.selection_set(&fragment.node.selection_set.node, depth, introspection)?;
                    self.fragment_path.pop();
                }
            }
        }
        Ok(())
    }
}

/// The introspection query of graphql-js, as GraphiQL and code generators send it; the
/// introspection depth cap is sized to admit it.
pub const STANDARD_INTROSPECTION_QUERY: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), AppError> {
        let limits = QueryLimits::default();
        check_nesting(query, limits.max_parser_depth)?;
        let document = async_graphql::parser::parse_query(query)
            .map_err(|e| AppError::bad_input("query", e.to_string()))?;
        let operation = select_operation(&document, None)?;
        check_operation(&document, operation, &limits).map(|_| ())
    }

    fn nested(depth: usize) -> String {
        format!(
            "{{{}{}}}",
            "a { ".repeat(depth - 1) + "b",
            " }".repeat(depth - 1)
        )
    }

    #[test]
    fn depth_is_capped_for_ordinary_fields() {
        assert!(check(&nested(12)).is_ok());
        assert!(matches!(
            check(&nested(13)),
            Err(AppError::QueryTooComplex(_))
        ));
    }

    #[test]
    fn brackets_are_counted_before_parsing_but_not_inside_strings() {
        let deep = format!("{}{}", "{".repeat(40), "}".repeat(40));
        assert!(matches!(
            check_nesting(&deep, 32),
            Err(AppError::QueryTooComplex(_))
        ));
        let quoted = format!("{{ a(s: \"{}\") }}", "{".repeat(100));
        assert!(check_nesting(&quoted, 32).is_ok());
        let commented = format!("# {}\n{{ a }}", "[".repeat(100));
        assert!(check_nesting(&commented, 32).is_ok());
        // A lone carriage return ends a comment too: what follows it is counted.
        let hidden = format!("# x\r{}{}", "{".repeat(40), "}".repeat(40));
        assert!(matches!(
            check_nesting(&hidden, 32),
            Err(AppError::QueryTooComplex(_))
        ));
    }

    #[test]
    fn aliases_are_capped_across_fragments() {
        let fields: String = (0..30).map(|i| format!("a{i}: b ")).collect();
        let query = format!("{{ ...F x: c {{ ...F }} }} fragment F on Q {{ {fields} }}");
        assert!(matches!(check(&query), Err(AppError::QueryTooComplex(_))));
        let few: String = (0..50).map(|i| format!("a{i}: b ")).collect();
        assert!(check(&format!("{{ {few} }}")).is_ok());
    }

    #[test]
    fn directives_are_capped() {
        let many: String = (0..51)
            .map(|i| format!("a{i}: b @skip(if: false) "))
            .collect();
        let limits = QueryLimits {
            max_aliases: 100,
            ..QueryLimits::default()
        };
        let document = async_graphql::parser::parse_query(format!("{{ {many} }}")).expect("parses");
        let operation = select_operation(&document, None).expect("one operation");
        assert!(check_operation(&document, operation, &limits).is_err());
    }

    #[test]
    fn circular_introspection_is_refused_but_the_standard_query_passes() {
        let circular = "{ __schema { types { fields { type { fields { name } } } } } }";
        assert!(matches!(check(circular), Err(AppError::QueryTooComplex(_))));
        assert!(check(super::STANDARD_INTROSPECTION_QUERY).is_ok());
    }

    #[test]
    fn operations_are_selected_by_name() {
        let document =
            async_graphql::parser::parse_query("query A { a } mutation B { b }").expect("parses");
        assert!(select_operation(&document, None).is_err());
        assert!(select_operation(&document, Some("B")).is_ok_and(is_mutation));
        assert!(select_operation(&document, Some("C")).is_err());
    }
}
