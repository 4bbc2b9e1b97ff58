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
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

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

/// A value written with its selection's field order.
struct Ordered<'a, 'd> {
    value: &'a Value,
    selected: &'a Selected<'d>,
}

impl Serialize for Ordered<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(fields) => {
                let order = self.selected.order();
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                // An object resolved field by field in selection order (every node of a
                // page: `graphql::connection`) is written as it stands, with no look-up.
                let in_order = fields.len() == order.len()
                    && fields
                        .keys()
                        .zip(order)
                        .all(|(key, (selected, _))| key.as_str() == *selected);
                if in_order {
                    for ((key, value), (_, selected)) in fields.iter().zip(order) {
                        map.serialize_entry(key.as_str(), &Ordered { value, selected })?;
                    }
                    return map.end();
                }
                let mut written = 0;
                for (key, selected) in order {
                    if let Some(value) = fields.get(*key) {
                        map.serialize_entry(key, &Ordered { value, selected })?;
                        written += 1;
                    }
                }
                // Keys no selection names (none are expected) keep their place at the end.
                if written < fields.len() {
                    let unselected = Selected {
                        sets: Vec::new(),
                        fragments: self.selected.fragments,
                        order: OnceCell::new(),
                    };
                    for (key, value) in fields {
                        if !order.iter().any(|(seen, _)| *seen == key.as_str()) {
                            let value = Ordered {
                                value,
                                selected: &unselected,
                            };
                            map.serialize_entry(key.as_str(), &value)?;
                        }
                    }
                }
                map.end()
            }
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&Ordered {
                        value,
                        selected: self.selected,
                    })?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// The parts of an executed operation's answer.
pub struct Answer<'a, 'd> {
    /// `None` when the operation failed before execution (the answer has no `data`).
    pub data: Option<&'a Value>,
    pub selected: &'a Selected<'d>,
    pub errors: &'a [ServerError],
}

impl Serialize for Answer<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(value) = self.data {
            map.serialize_entry(
                "data",
                &Ordered {
                    value,
                    selected: self.selected,
                },
            )?;
        }
        if !self.errors.is_empty() {
            map.serialize_entry("errors", self.errors)?;
        }
        map.end()
    }
}

/// Writes `answer` as JSON.
pub fn to_bytes(answer: &Answer<'_, '_>) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = Vec::with_capacity(4096);
    serde_json::to_writer(&mut bytes, answer)?;
    Ok(bytes)
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
