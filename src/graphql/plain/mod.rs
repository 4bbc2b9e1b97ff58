//! Pages of plain nodes, written straight to JSON.
//!
//! A dashboard row carries a page of messages: five edges and five nodes of three plain
//! fields each, more than half the objects of the row. Answered field by field, each of
//! them is a map of its own, a context, a guard check and a copied string per field,
//! all built to be written once and dropped. When every field a page selects of its
//! nodes is plain (a value of the row: no arguments, nothing loaded, nothing that can
//! fail), the page checks the type's own guards once, by resolving its first node
//! through the type, and then writes every edge and node straight to JSON bytes, in
//! selection order. Anything else (another field, an operation that selects a response
//! key twice, a guard that refuses, an empty page) is answered field by field, as
//! before.
//!
//! The bytes travel to the answer writer as a [`Value::Binary`] (no field of tenantgate
//! has a binary type, so nothing else makes one), which copies them into the answer as
//! they stand (`graphql::response`).

use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::resolver_utils::EnumType;
use async_graphql::{ContainerType, Context, ContextSelectionSet, Positioned, Value};
use chrono::{DateTime, Utc};

use super::connection::Shape;
use super::id::Id;

/// Put in an operation's data when pages may be written ahead: no selection set of the
/// operation selects one response key twice (`limits::OperationShape::repeats_keys`).
/// Two selections of one key are merged value by value, and bytes written ahead cannot
/// be merged, so such an operation answers every page field by field.
pub struct WriteAhead;

/// Whether a page of `Node`s at `ctx` may be written ahead. Every response key of the
/// operation is then selected once, so a plan needs no check of its own for repeats.
fn may_write<Node: PageNode>(ctx: &Context<'_>) -> bool {
    Node::PLAIN && ctx.data_opt::<WriteAhead>().is_some()
}

/// A type whose objects a page holds. A type answers [`PageNode::write_field`] only for
/// fields whose guards depend on the request alone, never on the row: a page checks
/// them once, on its first node, and writes the others unchecked.
pub trait PageNode: ContainerType {
    /// Whether [`PageNode::write_field`] answers any field (pages of other types do not
    /// try).
    const PLAIN: bool = false;

    /// Writes this object's field `name` as JSON and answers `true`, or answers `false`
    /// (writing nothing) when the field is not plain.
    fn write_field(&self, _name: &str, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// A value written as JSON exactly as its GraphQL type answers it.
pub trait Plain {
    fn write(&self, out: &mut Vec<u8>);
}

impl Plain for String {
    fn write(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl Plain for Id {
    fn write(&self, out: &mut Vec<u8>) {
        let mut buffer = uuid::Uuid::encode_buffer();
        write_str(out, self.0.hyphenated().encode_lower(&mut buffer));
    }
}

impl Plain for DateTime<Utc> {
    /// What async-graphql's `DateTime<Utc>` scalar answers (`to_rfc3339`: seconds with
    /// 3, 6 or 9 decimals as needed, `+00:00`), written without formatting machinery:
    /// a page of messages has a time per row. Years outside 0–9999 and leap seconds go
    /// through chrono itself.
    fn write(&self, out: &mut Vec<u8>) {
        use chrono::{Datelike, Timelike};
        let (year, nanos) = (self.year(), self.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            write_str(out, &self.to_rfc3339());
            return;
        }
        let digits = |out: &mut Vec<u8>, value: u32, width: u32| {
            for place in (0..width).rev() {
                out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
            }
        };
        out.push(b'"');
        digits(out, year.unsigned_abs(), 4);
        out.push(b'-');
        digits(out, self.month(), 2);
        out.push(b'-');
        digits(out, self.day(), 2);
        out.push(b'T');
        digits(out, self.hour(), 2);
        out.push(b':');
        digits(out, self.minute(), 2);
        out.push(b':');
        digits(out, self.second(), 2);
        if nanos != 0 {
            out.push(b'.');
            if nanos % 1_000_000 == 0 {
                digits(out, nanos / 1_000_000, 3);
            } else if nanos % 1_000 == 0 {
                digits(out, nanos / 1_000, 6);
            } else {
                digits(out, nanos, 9);
            }
        }
        out.extend_from_slice(b"+00:00\"");
    }
}

impl<T: Plain> Plain for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Some(value) => value.write(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// Writes an enum value under its GraphQL name.
pub fn write_enum<E: EnumType + PartialEq>(value: &E, out: &mut Vec<u8>) {
    match E::items().iter().find(|item| item.value == *value) {
        Some(item) => write_str(out, item.name),
        // Every value of a derived enum is among its items.
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it. Most strings of an
/// answer need no escape: that is told in one pass without an early exit (which the
/// compiler vectorises), and they are copied whole.
pub(super) fn write_str(out: &mut Vec<u8>, text: &str) {
    let escapes = text.bytes().fold(false, |any, byte| {
        any | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    if escapes {
        // Writing a string to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// One response key of an edge.
enum EdgePart<'a> {
    Typename,
    Cursor,
    Node(NodePlan<'a>),
}

/// A node's selected fields, in selection order: each one's name, and what is written
/// before its value (a comma but for the first, and its response key), worked out once
/// for the page.
struct NodePlan<'a> {
    type_name: &'a str,
    fields: Vec<(Vec<u8>, &'a str)>,
}

impl<'a> NodePlan<'a> {
    /// The plan of `shape` for nodes like `first`, if every field is plain and the
    /// type's guards let the request read them.
    async fn of<Node: PageNode>(
        ctx: &ContextSelectionSet<'_>,
        first: &Node,
        shape: &'a Shape<'a>,
    ) -> Option<NodePlan<'a>> {
        if first.introspection_type_name() != shape.type_name {
            return None;
        }
        let mut fields = Vec::with_capacity(shape.fields.len());
        let mut scratch = Vec::new();
        for field in &shape.fields {
            let key = field.node.response_key().node.as_str();
            let name = field.node.name.node.as_str();
            if name != "__typename" {
                scratch.clear();
                if !first.write_field(name, &mut scratch) {
                    return None;
                }
                // The type's own resolver, with its guards: refused, or failing, the
                // page is answered field by field and reports it there.
                if first.resolve_field(&ctx.with_field(field)).await.is_err() {
                    return None;
                }
            }
            fields.push((prefix(fields.is_empty(), key), name));
        }
        Some(NodePlan {
            type_name: &shape.type_name,
            fields,
        })
    }

    fn write<Node: PageNode>(&self, node: &Node, out: &mut Vec<u8>) -> bool {
        out.push(b'{');
        for (prefix, name) in &self.fields {
            out.extend_from_slice(prefix);
            if *name == "__typename" {
                write_str(out, self.type_name);
            } else if !node.write_field(name, out) {
                return false;
            }
        }
        out.push(b'}');
        true
    }
}

/// What goes before a field's value in its object: a comma (but for the first field)
/// and its response key.
fn prefix(first: bool, key: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(key.len() + 4);
    if !first {
        prefix.push(b',');
    }
    write_str(&mut prefix, key);
    prefix.push(b':');
    prefix
}

/// A page's `edges`, written whole, when every field it selects is plain: `ctx` is the
/// `edges` field's, `set` its selection, `edge_fields` and `node_shapes` what the page
/// worked out for it.
pub(super) async fn edges<'a, Node: PageNode, C: async_graphql::connection::CursorType>(
    ctx: &Context<'_>,
    set: &Positioned<SelectionSet>,
    edge_name: &str,
    edge_fields: &[&'a Positioned<Field>],
    node_shapes: &'a [Option<Shape<'a>>],
    edges: &[(C, Node)],
) -> Option<Value> {
    if !may_write::<Node>(ctx) {
        return None;
    }
    let (_, first) = edges.first()?;
    let mut parts = Vec::with_capacity(edge_fields.len());
    for (field, shape) in edge_fields.iter().zip(node_shapes) {
        let key = field.node.response_key().node.as_str();
        let part = match (field.node.name.node.as_str(), shape) {
            ("__typename", _) => EdgePart::Typename,
            ("cursor", _) => EdgePart::Cursor,
            ("node", Some(shape)) => {
                let ctx_first = ctx.with_index(0);
                let ctx_edge = ctx_first.with_selection_set(set);
                let ctx_field = ctx_edge.with_field(field);
                let ctx_node = ctx_field.with_selection_set(&field.node.selection_set);
                EdgePart::Node(NodePlan::of(&ctx_node, first, shape).await?)
            }
            _ => return None,
        };
        parts.push((prefix(parts.is_empty(), key), part));
    }
    let mut out = Vec::with_capacity(edges.len() * 128);
    out.push(b'[');
    for (index, (cursor, node)) in edges.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (prefix, part) in &parts {
            out.extend_from_slice(prefix);
            match part {
                EdgePart::Typename => write_str(&mut out, edge_name),
                EdgePart::Cursor => write_str(&mut out, &cursor.encode_cursor()),
                EdgePart::Node(plan) => {
                    if !plan.write(node, &mut out) {
                        return None;
                    }
                }
            }
        }
        out.push(b'}');
    }
    out.push(b']');
    Some(Value::Binary(out.into()))
}

/// A page's `nodes`, written whole, when every field it selects is plain: `ctx` is the
/// `nodes` field's.
pub(super) async fn nodes<'a, Node: PageNode, C>(
    ctx: &Context<'_>,
    shape: &'a Shape<'a>,
    edges: &[(C, Node)],
) -> Option<Value> {
    if !may_write::<Node>(ctx) {
        return None;
    }
    let (_, first) = edges.first()?;
    let ctx_first = ctx.with_index(0);
    let ctx_node = ctx_first.with_selection_set(&ctx.item.node.selection_set);
    let plan = NodePlan::of(&ctx_node, first, shape).await?;
    let mut out = Vec::with_capacity(edges.len() * 96);
    out.push(b'[');
    for (index, (_, node)) in edges.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        if !plan.write(node, &mut out) {
            return None;
        }
    }
    out.push(b']');
    Some(Value::Binary(out.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: &impl Plain) -> String {
        let mut out = Vec::new();
        value.write(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "line\nfeed\ttab\r\u{1}\u{1f}\u{7f}\u{2028}",
            "é 日本 🙂 </script>",
        ] {
            let expected = serde_json::to_string(text).expect("json");
            assert_eq!(written(&text.to_owned()), expected, "{text:?}");
        }
    }

    #[test]
    fn times_are_written_as_the_scalar_answers_them() {
        use chrono::TimeZone;
        let base = Utc.with_ymd_and_hms(2026, 12, 2, 9, 5, 7).unwrap();
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 30, 12, 0, 0).unwrap(),
        ];
        for nanos in [
            1,
            10,
            999,
            1_000,
            120_000,
            999_999,
            1_000_000,
            7_000_000,
            123_456_789,
            999_999_999,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for time in times {
            let expected = serde_json::to_string(&time.to_rfc3339()).expect("json");
            assert_eq!(written(&time), expected);
        }
    }
}
