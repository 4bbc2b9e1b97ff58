//! The committed SDL is the schema the code builds.

#[test]
fn committed_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let built = tenantgate::schema::sdl();
    assert!(
        committed == built,
        "schema.graphql differs from the schema the code builds; review the API change and \
         regenerate it with `cargo run -- schema > schema.graphql`"
    );
}
