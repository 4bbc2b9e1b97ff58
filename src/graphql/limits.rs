//! Checks on a query before it runs, beyond what async-graphql offers: bracket nesting
//! before parsing (the parser recurses), an alias cap, a directive cap, a depth cap for
//! ordinary fields, its own cap for introspection, a refusal of circular introspection
//! (`types { fields { type { fields …`), one introspection field per request, weighed by
//! the schema elements it can list. The operations of a batch share one [`Budget`]: its
//! caps hold for the request, not for each operation.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_graphql::ServerError;
use async_graphql::ValidationResult;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
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
    };
    walk.selection_set(&operation.selection_set.node, 0, None)?;
    let introspections = walk.introspection_keys.len();
    Ok(OperationShape {
        introspects: introspections > 0,
        introspection_only: introspections > 0 && !walk.selects_data,
        introspections,
        introspection_weight: walk.introspection_weight,
        aliases: walk.aliases,
        directives: walk.directives,
    })
}

/// How big the schema's introspection can get: how many types, and for each kind of
/// member, how many there are in all and how many one parent has at most. Read once from
/// the schema itself, everything visible (the most any caller can see).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaSize {
    pub types: u64,
    pub directives: u64,
    pub fields: Members,
    pub field_args: Members,
    pub input_fields: Members,
    pub enum_values: Members,
    pub interfaces: Members,
    pub possible_types: Members,
    pub directive_args: Members,
}

/// One kind of member of the schema (fields of types, arguments of fields, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// In the whole schema.
    pub total: u64,
    /// On one parent at most.
    pub most: u64,
}

/// The introspection query [`SchemaSize::from_answer`] reads.
pub const SCHEMA_SIZE_QUERY: &str = "{ __schema { \
    types { fields(includeDeprecated: true) { args { name } } inputFields { name } \
    interfaces { name } possibleTypes { name } enumValues(includeDeprecated: true) { name } } \
    directives { args { name } } } }";

impl SchemaSize {
    /// Reads the `data` of [`SCHEMA_SIZE_QUERY`]; `None` when it is not of that shape.
    pub fn from_answer(data: &serde_json::Value) -> Option<SchemaSize> {
        fn members<'a>(parents: impl Iterator<Item = &'a serde_json::Value>, key: &str) -> Members {
            let mut members = Members::default();
            for parent in parents {
                let count = parent[key].as_array().map_or(0, |list| list.len() as u64);
                members.total += count;
                members.most = members.most.max(count);
            }
            members
        }
        let schema = &data["__schema"];
        let types = schema["types"].as_array()?;
        let directives = schema["directives"].as_array()?;
        let fields = || {
            types
                .iter()
                .filter_map(|t| t["fields"].as_array())
                .flatten()
        };
        Some(SchemaSize {
            types: types.len() as u64,
            directives: directives.len() as u64,
            fields: members(types.iter(), "fields"),
            field_args: members(fields(), "args"),
            input_fields: members(types.iter(), "inputFields"),
            enum_values: members(types.iter(), "enumValues"),
            interfaces: members(types.iter(), "interfaces"),
            possible_types: members(types.iter(), "possibleTypes"),
            directive_args: members(directives.iter(), "args"),
        })
    }

    /// What a list field of introspection holds, by the object it is selected on.
    fn list(&self, parent: Meta, name: &str) -> Option<(Meta, Members, bool)> {
        let all = |n: u64| Members { total: n, most: n };
        // The third value: whether the members of distinct parents are distinct (a type
        // lists its own fields; its interfaces are other types, met again elsewhere).
        Some(match (parent, name) {
            (Meta::Schema, "types") => (Meta::Type, all(self.types), true),
            (Meta::Schema, "directives") => (Meta::Directive, all(self.directives), true),
            (Meta::Type, "fields") => (Meta::Field, self.fields, true),
            (Meta::Type, "inputFields") => (Meta::InputValue, self.input_fields, true),
            (Meta::Type, "enumValues") => (Meta::EnumValue, self.enum_values, true),
            (Meta::Type, "interfaces") => (Meta::Type, self.interfaces, false),
            (Meta::Type, "possibleTypes") => (Meta::Type, self.possible_types, false),
            (Meta::Field, "args") => (Meta::InputValue, self.field_args, true),
            (Meta::Directive, "args") => (Meta::InputValue, self.directive_args, true),
            _ => return None,
        })
    }
}

/// The introspection object a selection is made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meta {
    Schema,
    Type,
    Field,
    InputValue,
    EnumValue,
    Directive,
    /// A scalar, or a field the schema does not have (validation reports it).
    Leaf,
}

/// The single objects an introspection object links to.
fn single(parent: Meta, name: &str) -> Meta {
    match (parent, name) {
        (Meta::Schema, "queryType" | "mutationType" | "subscriptionType")
        | (Meta::Type, "ofType")
        | (Meta::Field | Meta::InputValue, "type") => Meta::Type,
        _ => Meta::Leaf,
    }
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

    /// The size of the schema the gateway builds, everything visible.
    fn size() -> SchemaSize {
        static SIZE: std::sync::OnceLock<SchemaSize> = std::sync::OnceLock::new();
        *SIZE.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            runtime
                .block_on(crate::graphql::introspection::Introspection::default().size())
                .expect("the schema reads its size")
        })
    }

    fn shape(query: &str) -> Result<OperationShape, AppError> {
        let limits = QueryLimits::default();
        check_nesting(query, limits.max_parser_depth)?;
        let document = async_graphql::parser::parse_query(query)
            .map_err(|e| AppError::bad_input("query", e.to_string()))?;
        let operation = select_operation(&document, None)?;
        check_operation(&document, operation, &limits, &size())
    }

    /// Checks `query` alone, as a request of one operation.
    fn check(query: &str) -> Result<(), AppError> {
        Budget::new(&QueryLimits::default(), false).admit(&shape(query)?)
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
        // Introspection fields are counted before parsing; `__typename`, names that only
        // contain the word, strings and comments are not.
        let aliased: String = (0..5)
            .map(|i| format!("a{i}: __schema {{ queryType {{ name }} }} "))
            .collect();
        assert!(matches!(
            check_nesting(&format!("{{ {aliased} }}"), 32),
            Err(AppError::QueryTooComplex(_))
        ));
        let one = "# __schema\n{ __typename my__type: x s(v: \"__schema\") __schema { queryType { name } } }";
        assert!(check_nesting(one, 32).is_ok());
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
        let shape = check_operation(&document, operation, &limits, &size()).expect("walks");
        assert!(Budget::new(&limits, false).admit(&shape).is_err());
    }

    #[test]
    fn one_introspection_field_per_request_aliases_included() {
        assert!(check("{ __schema { queryType { name } } __typename }").is_ok());
        // One response key: GraphQL merges the two into one field.
        assert!(check("{ __schema { queryType { name } } __schema { types { name } } }").is_ok());
        for twice in [
            "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }",
            "{ __schema { queryType { name } } __type(name: \"Query\") { name } }",
            "{ a: __type(name: \"Query\") { name } b: __type(name: \"Contact\") { name } }",
            "{ ...F a: __schema { queryType { name } } } fragment F on Query { __schema { queryType { name } } }",
        ] {
            assert!(
                matches!(check(twice), Err(AppError::QueryTooComplex(_))),
                "{twice}"
            );
        }
    }

    #[test]
    fn introspection_weighs_the_schema_elements_it_can_list() {
        let size = size();
        assert!(size.types > 50 && size.fields.total > 300, "{size:?}");
        let weight = |query: &str| shape(query).expect("passes the walk").introspection_weight;
        assert_eq!(weight("{ __type(name: \"Contact\") { name } }"), 1);
        assert_eq!(
            weight("{ __type(name: \"Contact\") { fields { name } } }"),
            1 + size.fields.most
        );
        assert_eq!(weight("{ __schema { types { name } } }"), 1 + size.types);
        // The shape of the amplification: once, it weighs all fields and all arguments.
        assert_eq!(
            weight("{ __schema { types { fields { args { name } } } } }"),
            1 + size.types + size.fields.total + size.field_args.total
        );
        // Field types repeat: their enum values are not bounded by the schema's total.
        assert_eq!(
            weight("{ __schema { types { fields { type { enumValues { name } } } } } }"),
            1 + size.types + size.fields.total + size.fields.total * size.enum_values.most
        );
        // The standard query lists everything once, and leaves room for a page of data.
        let standard = weight(STANDARD_INTROSPECTION_QUERY);
        assert!(standard > size.types + size.fields.total + size.field_args.total);
        let limit = QueryLimits::default().max_complexity as u64;
        assert!(
            standard <= limit / 2,
            "the standard introspection query weighs {standard}: raise the default \
             complexity limit with the schema, or clients cannot introspect"
        );
        assert!(check(STANDARD_INTROSPECTION_QUERY).is_ok());
        assert!(shape(STANDARD_INTROSPECTION_QUERY).is_ok_and(|s| s.introspection_only));
        assert!(
            shape("{ __schema { queryType { name } } me { id } }")
                .is_ok_and(|s| !s.introspection_only)
        );
    }

    #[test]
    fn a_batch_shares_one_budget() {
        let limits = QueryLimits::default();
        let thirty: String = (0..30).map(|i| format!("a{i}: __typename ")).collect();
        let thirty = shape(&format!("{{ {thirty} }}")).expect("walks");
        let alone = Budget::new(&limits, false);
        assert!(alone.admit(&thirty).is_ok());
        let batch = Budget::new(&limits, true);
        assert!(batch.admit(&thirty).is_ok());
        assert!(
            matches!(batch.admit(&thirty), Err(AppError::QueryTooComplex(m)) if m.contains("batch"))
        );
        let schema = shape("{ __schema { queryType { name } } }").expect("walks");
        let batch = Budget::new(&limits, true);
        assert!(batch.admit(&schema).is_ok());
        assert!(batch.admit(&schema).is_err());
        let batch = Budget::new(&limits, true);
        assert!(batch.charge_complexity(limits.max_complexity - 1).is_ok());
        assert!(batch.charge_complexity(2).is_err());
        assert!(batch.charge_bytes(limits.max_response_bytes).is_ok());
        assert!(matches!(
            batch.charge_bytes(1),
            Err(AppError::ResponseTooLarge(_))
        ));
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
