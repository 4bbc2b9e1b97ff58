//! An operation's answer, written once, straight to JSON bytes, with every object's
//! fields in the order the operation selected them.
//!
//! async-graphql resolves a selection's fields concurrently and keeps each object's
//! fields in the order they finished, so a field that waited on a loader (a contact's
//! `owner`) could come after one selected below it; the GraphQL spec wants selection
//! order. Writing the answer walks the operation's selections beside the value (fields,
//! fragment spreads and inline fragments, merged by response key as execution merges
//! them) and writes each object's keys in that order. Type conditions are not needed: a
//! field of a fragment that did not apply is simply absent from the object.

use std::cell::OnceCell;
use std::collections::HashMap;

use async_graphql::parser::types::{FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, Value};
use serde::Serialize;

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// The selections that produced one position of the answer (several when fields with the
/// same response key merge), and, once computed, the order of their response keys.
pub struct Selected<'d> {
    sets: Vec<&'d SelectionSet>,
    fragments: &'d Fragments,
    order: OnceCell<Vec<(&'d str, Selected<'d>)>>,
}

impl<'d> Selected<'d> {
    /// The selections of an operation's root.
    pub fn root(set: &'d SelectionSet, fragments: &'d Fragments) -> Self {
        Selected {
            sets: vec![set],
            fragments,
            order: OnceCell::new(),
        }
    }

    fn order(&self) -> &[(&'d str, Selected<'d>)] {
        self.order.get_or_init(|| {
            let mut order = Vec::new();
            let mut spread = Vec::new();
            for set in &self.sets {
                self.collect(set, &mut order, &mut spread);
            }
            order
        })
    }

    /// Adds the response keys of `set` not seen yet, and the sub-selections of every
    /// field to its key. `spread` holds the fragments being expanded (validation refuses
    /// cycles; this only keeps a bad document from looping).
    fn collect(
        &self,
        set: &'d SelectionSet,
        order: &mut Vec<(&'d str, Selected<'d>)>,
        spread: &mut Vec<&'d str>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.as_str();
                    let child = &field.node.selection_set.node;
                    match order.iter_mut().find(|(seen, _)| *seen == key) {
                        Some((_, selected)) => selected.sets.push(child),
                        None => order.push((
                            key,
                            Selected {
                                sets: vec![child],
                                fragments: self.fragments,
                                order: OnceCell::new(),
                            },
                        )),
                    }
                }
                Selection::FragmentSpread(fragment) => {
                    let name = fragment.node.fragment_name.node.as_str();
                    if spread.contains(&name) {
                        continue;
                    }
                    if let Some(definition) = self.fragments.get(name) {
                        spread.push(name);
                        self.collect(&definition.node.selection_set.node, order, spread);
                        spread.pop();
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.collect(&fragment.node.selection_set.node, order, spread);
                }
            }
        }
    }
}

/// Writes `value` as JSON with its selection's field order. A hand-written walk rather
/// than a `Serialize` impl: a page written ahead (`graphql::plain`, a [`Value::Binary`])
/// goes in as it stands, where serde could take it only after parsing it again.
pub(super) fn write_value(out: &mut Vec<u8>, value: &Value, selected: &Selected<'_>) {
    match value {
        Value::Object(fields) => {
            let order = selected.order();
            out.push(b'{');
            let mut first = true;
            let mut entry =
                |out: &mut Vec<u8>, key: &str, value: &Value, selected: &Selected<'_>| {
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    super::plain::write_str(out, key);
                    out.push(b':');
                    write_value(out, value, selected);
                };
            // An object resolved field by field in selection order (every node of a
            // page: `graphql::connection`) is written as it stands, with no look-up.
            let in_order = fields.len() == order.len()
                && fields
                    .keys()
                    .zip(order)
                    .all(|(key, (selected, _))| key.as_str() == *selected);
            if in_order {
                for ((key, value), (_, selected)) in fields.iter().zip(order) {
                    entry(out, key, value, selected);
                }
            } else {
                let mut written = 0;
                for (key, selected) in order {
                    if let Some(value) = fields.get(*key) {
                        entry(out, key, value, selected);
                        written += 1;
                    }
                }
                // Keys no selection names (none are expected) keep their place at the end.
                if written < fields.len() {
                    let unselected = Selected {
                        sets: Vec::new(),
                        fragments: selected.fragments,
                        order: OnceCell::new(),
                    };
                    for (key, value) in fields {
                        if !order.iter().any(|(seen, _)| *seen == key.as_str()) {
                            entry(out, key, value, &unselected);
                        }
                    }
                }
            }
            out.push(b'}');
        }
        Value::List(items) => {
            out.push(b'[');
            for (index, value) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, value, selected);
            }
            out.push(b']');
        }
        // A page written ahead, already in selection order.
        Value::Binary(written) => out.extend_from_slice(written),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_json(out, number),
        Value::String(text) => super::plain::write_str(out, text),
        Value::Enum(name) => super::plain::write_str(out, name),
    }
}

/// Writes a number with serde (as async-graphql would): writing to a `Vec` cannot fail.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The parts of an executed operation's answer.
pub struct Answer<'a, 'd> {
    /// `None` when the operation failed before execution (the answer has no `data`).
    pub data: Option<&'a Value>,
    pub selected: &'a Selected<'d>,
    pub errors: &'a [ServerError],
}

/// Writes `answer` as JSON.
pub fn to_bytes(answer: &Answer<'_, '_>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(4096);
    out.push(b'{');
    if let Some(value) = answer.data {
        out.extend_from_slice(b"\"data\":");
        write_value(&mut out, value, answer.selected);
    }
    if !answer.errors.is_empty() {
        if answer.data.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"errors\":");
        serde_json::to_writer(&mut out, answer.errors)?;
    }
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let document = async_graphql::parser::parse_query(query).expect("query");
        let (_, operation) = document.operations.iter().next().expect("operation");
        let selected = Selected::root(&operation.node.selection_set.node, &document.fragments);
        let value = Value::from_json(data).expect("value");
        let answer = Answer {
            data: Some(&value),
            selected: &selected,
            errors: &[],
        };
        String::from_utf8(to_bytes(&answer).expect("json")).expect("utf-8")
    }

    #[test]
    fn fields_come_in_selection_order_whatever_order_they_finished_in() {
        let text = ordered(
            "{ contacts { edges { node { id name tags owner { name } } } } }",
            serde_json::json!({ "contacts": { "edges": [
                { "node": { "owner": { "name": "Ann" }, "tags": [], "id": "1", "name": "A" } },
                { "node": { "tags": ["vip"], "name": "B", "owner": null, "id": "2" } },
            ] } }),
        );
        assert_eq!(
            text,
            r#"{"data":{"contacts":{"edges":[{"node":{"id":"1","name":"A","tags":[],"owner":{"name":"Ann"}}},{"node":{"id":"2","name":"B","tags":["vip"],"owner":null}}]}}}"#
        );
    }

    #[test]
    fn fragments_and_aliases_merge_by_response_key_in_first_seen_order() {
        let text = ordered(
            "query { me { ...Names b: id ... on User { a: name email } name } }
             fragment Names on User { name email }",
            serde_json::json!({ "me": { "a": "x", "b": "1", "email": "e", "name": "n" } }),
        );
        assert_eq!(
            text,
            r#"{"data":{"me":{"name":"n","email":"e","b":"1","a":"x"}}}"#
        );
    }
}
