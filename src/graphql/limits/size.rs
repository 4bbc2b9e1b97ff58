//! How big the schema's introspection can get, read from the schema itself.

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
    pub(super) fn list(&self, parent: Meta, name: &str) -> Option<(Meta, Members, bool)> {
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
pub(super) enum Meta {
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
pub(super) fn single(parent: Meta, name: &str) -> Meta {
    match (parent, name) {
        (Meta::Schema, "queryType" | "mutationType" | "subscriptionType")
        | (Meta::Type, "ofType")
        | (Meta::Field | Meta::InputValue, "type") => Meta::Type,
        _ => Meta::Leaf,
    }
}
