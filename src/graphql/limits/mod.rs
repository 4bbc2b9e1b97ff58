//! Checks on a query before it runs, beyond what async-graphql offers: bracket nesting
//! before parsing (the parser recurses), an alias cap, a directive cap, a depth cap for
//! ordinary fields, its own cap for introspection, a refusal of circular introspection
//! (`types { fields { type { fields …`), one introspection field per request, weighed by
//! the schema elements it can list. The operations of a batch share one [`Budget`]: its
//! caps hold for the request, not for each operation.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};

use crate::config::QueryLimits;
use crate::error::AppError;

mod budget;
mod size;

pub use budget::{Budget, MAX_INTROSPECTIONS, SharedComplexity};
pub use size::{Members, SCHEMA_SIZE_QUERY, SchemaSize};
use size::{Meta, single};

/// Selections walked at most (fragments expanded); past this a query is too complex no
/// matter what else it does (fragment bombs).
const MAX_VISITS: usize = 10_000;

/// Introspection fields that expand a type into its members; twice on one path is the
/// shape of a circular introspection query.
const TYPE_EXPANDING: &[&str] = &["fields", "inputFields", "interfaces", "possibleTypes"];

/// Refuses documents nested deeper than `max` brackets, or naming more introspection
/// fields than a request may run, without parsing them. Strings and comments do not
/// count.
pub fn check_nesting(query: &str, max: usize) -> Result<(), AppError> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut introspections = 0usize;
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
            // Names starting with `__` are reserved for introspection, so every
            // `__schema` or `__type` outside strings and comments is an introspection
            // field (a fragment may repeat one, which the walk after parsing counts;
            // fields of one name merge, so the walk may count fewer). Far more than a
            // request may run is refused before the parser runs: parsing is the work an
            // amplifying query wants done.
            b'_' if (i == 0 || !is_name_byte(bytes[i - 1]))
                && (name_at(bytes, i, b"__schema") || name_at(bytes, i, b"__type")) =>
            {
                introspections += 1;
                if introspections > MAX_INTROSPECTION_NAMES {
                    return Err(AppError::QueryTooComplex(format!(
                        "at most {MAX_INTROSPECTIONS} introspection field (`__schema` or `__type`) per request"
                    )));
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

/// `__schema` and `__type` written at most this often in one document before parsing.
const MAX_INTROSPECTION_NAMES: usize = 4;

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Whether the name at `i` is exactly `name`.
fn name_at(bytes: &[u8], i: usize, name: &[u8]) -> bool {
    bytes[i..].starts_with(name) && bytes.get(i + name.len()).is_none_or(|b| !is_name_byte(*b))
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
    size: &'a SchemaSize,
    aliases: usize,
    directives: usize,
    visits: usize,
    fragment_path: Vec<&'a str>,
    /// Response keys of the `__schema`/`__type` fields: one key is one introspection.
    introspection_keys: HashSet<&'a str>,
    introspection_weight: u64,
    /// A root field that is neither introspection nor `__typename`.
    selects_data: bool,
    /// Some selection set selects one response key twice.
    repeats_keys: bool,
}

/// What the walk learned about an operation that passed the checks of its own shape.
#[derive(Clone, Copy, Debug, Default)]
pub struct OperationShape {
    /// It selects `__schema` or `__type` somewhere (`__typename` does not count).
    pub introspects: bool,
    /// Its root fields are all `__schema`, `__type` or `__typename`.
    pub introspection_only: bool,
    /// `__schema`/`__type` fields by response key (aliases each count).
    pub introspections: usize,
    /// The schema elements its introspection can list (see [`SchemaSize`]).
    pub introspection_weight: u64,
    pub aliases: usize,
    pub directives: usize,
    /// Some selection set selects one response key twice (directly, or through
    /// fragments): its values are merged, so pages are not written ahead
    /// (`graphql::plain`).
    pub repeats_keys: bool,
}

/// Walks the operation that will run: refuses what is too deep, circular introspection
/// and fragment bombs, and measures what the request's [`Budget`] limits.
pub fn check_operation(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    limits: &QueryLimits,
    size: &SchemaSize,
) -> Result<OperationShape, AppError> {
    let mut walk = Walk {
        document,
        limits,
        size,
        aliases: 0,
        directives: operation.directives.len(),
        visits: 0,
        fragment_path: Vec::new(),
        introspection_keys: HashSet::new(),
        introspection_weight: 0,
        selects_data: false,
        repeats_keys: false,
    };
    walk.selection_set(&operation.selection_set.node, 0, None, &mut Vec::new())?;
    let introspections = walk.introspection_keys.len();
    Ok(OperationShape {
        introspects: introspections > 0,
        introspection_only: introspections > 0 && !walk.selects_data,
        introspections,
        introspection_weight: walk.introspection_weight,
        aliases: walk.aliases,
        directives: walk.directives,
        repeats_keys: walk.repeats_keys,
    })
}

/// Where a selection sits inside introspection.
#[derive(Clone, Copy)]
struct Introspection {
    /// Type-expanding fields on its path.
    expansions: usize,
    /// The objects it is selected on.
    on: Meta,
    /// How many of them the answer can hold at most.
    instances: u64,
    /// They are distinct schema elements (each type once, as `__schema.types` lists
    /// them), so their members add up to at most the schema's totals.
    distinct: bool,
}

impl Introspection {
    fn root(name: &str) -> Introspection {
        Introspection {
            expansions: 0,
            on: if name == "__schema" {
                Meta::Schema
            } else {
                Meta::Type
            },
            instances: 1,
            distinct: true,
        }
    }

    /// The selection under `name`, and the objects the answer can hold for it (single
    /// objects count nothing: the depth cap bounds their chains).
    fn child(self, size: &SchemaSize, name: &str) -> (Introspection, u64) {
        match size.list(self.on, name) {
            Some((on, members, distinct_members)) => {
                let most = self.instances.saturating_mul(members.most);
                let instances = if self.distinct {
                    most.min(members.total)
                } else {
                    most
                };
                let child = Introspection {
                    on,
                    instances,
                    distinct: self.distinct && distinct_members,
                    ..self
                };
                (child, instances)
            }
            None => (
                Introspection {
                    on: single(self.on, name),
                    distinct: false,
                    ..self
                },
                0,
            ),
        }
    }
}

impl<'a> Walk<'a> {
    /// `keys` are the response keys already selected on the same objects (fragments
    /// spread into a set add to its keys).
    fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        depth: usize,
        introspection: Option<Introspection>,
        keys: &mut Vec<&'a str>,
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
                    let key = field.response_key().node.as_str();
                    if keys.contains(&key) {
                        self.repeats_keys = true;
                    } else {
                        keys.push(key);
                    }
                    self.directives += field.directives.len();
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    let name = field.name.node.as_str();
                    let depth = depth + 1;
                    let introspection = match introspection {
                        Some(inside) => {
                            let (mut inside, listed) = inside.child(self.size, name);
                            self.introspection_weight =
                                self.introspection_weight.saturating_add(listed);
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
                            let key = field.alias.as_ref().unwrap_or(&field.name);
                            self.introspection_keys.insert(key.node.as_str());
                            self.introspection_weight = self.introspection_weight.saturating_add(1);
                            Some(Introspection::root(name))
                        }
                        None => {
                            if depth == 1 && name != "__typename" {
                                self.selects_data = true;
                            }
                            None
                        }
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
                    self.selection_set(
                        &field.selection_set.node,
                        depth,
                        introspection,
                        &mut Vec::new(),
                    )?;
                }
                Selection::InlineFragment(fragment) => {
                    self.directives += fragment.node.directives.len();
                    self.selection_set(
                        &fragment.node.selection_set.node,
                        depth,
                        introspection,
                        keys,
                    )?;
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
                    self.selection_set(
                        &fragment.node.selection_set.node,
                        depth,
                        introspection,
                        keys,
                    )?;
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
mod tests;
