//! The limits refuse what they should and admit what clients send.

use super::*;

/// The size of the schema the gateway builds, everything visible.
fn size() -> SchemaSize {
    static SIZE: std::sync::OnceLock<SchemaSize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(crate::schema::measure_size())
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
    let one =
        "# __schema\n{ __typename my__type: x s(v: \"__schema\") __schema { queryType { name } } }";
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
        shape("{ __schema { queryType { name } } me { id } }").is_ok_and(|s| !s.introspection_only)
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

#[test]
fn a_response_key_selected_twice_is_told_wherever_it_is() {
    let repeats = |query: &str| shape(query).expect("shape").repeats_keys;
    assert!(!repeats("{ a { b c } d { b c } e: a { b } }"));
    assert!(!repeats("query { a { ...F } } fragment F on T { b c }"));
    assert!(repeats("{ a { b } a { c } }"));
    assert!(repeats("{ x { y: b y: b } }"));
    assert!(repeats("{ a { b ... on T { b } } }"));
    assert!(repeats(
        "query { m { ...F } } fragment F on T { n { k } ... on T { n { j } } }"
    ));
    assert!(repeats("query { ...F a } fragment F on Query { a }"));
}
