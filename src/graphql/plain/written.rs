//! A planned page, answered: JSON bytes when nothing failed, else the value tree
//! async-graphql's containers would have built, so that errors and the answer's repairs
//! work exactly as for a page answered field by field.

use std::future::Future;

use async_graphql::connection::CursorType;
use async_graphql::indexmap::IndexMap;
use async_graphql::{Context, Name, ServerResult, Value};
use futures_util::future::join_all;

use super::plan::{EdgePart, EdgesPlan, Keyed, NodePart, NodePlan};
use super::{PageNode, write_str};
use crate::graphql::connection::Shape;
use crate::graphql::response::{Selected, write_value};

/// The resolved fields of a page's nodes, node by node, in the plan's order.
pub(super) struct Resolved {
    values: Vec<Vec<ServerResult<Value>>>,
    /// Whether an error was reported while they were resolved: by a field itself, or
    /// below it (a nested field is reported and left out of its object).
    failed: bool,
}

impl Resolved {
    /// A page whose plan resolves no field.
    pub(super) fn nothing() -> Self {
        Resolved {
            values: Vec::new(),
            failed: false,
        }
    }

    fn of(&self, index: usize) -> &[ServerResult<Value>] {
        self.values.get(index).map_or(&[][..], Vec::as_slice)
    }

    fn take(&mut self, index: usize) -> Vec<ServerResult<Value>> {
        self.values
            .get_mut(index)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// Resolves every node's other fields with `resolve`, the page's nodes together.
pub(super) async fn resolve_all<'n, Node, C, Resolve, Fut>(
    ctx: &Context<'_>,
    edges: &'n [(C, Node)],
    resolve: Resolve,
) -> Resolved
where
    Resolve: Fn(usize, &'n Node) -> Fut,
    Fut: Future<Output = Vec<ServerResult<Value>>>,
{
    let before = errors_so_far(ctx);
    let values = join_all(
        edges
            .iter()
            .enumerate()
            .map(|(index, (_, node))| resolve(index, node)),
    )
    .await;
    // Another field of the operation may have reported an error meanwhile: the page is
    // then answered as a tree too, which is only slower.
    let failed = errors_so_far(ctx) != before || values.iter().flatten().any(Result::is_err);
    Resolved { values, failed }
}

/// How many errors the operation has reported so far. async-graphql keeps them in its
/// query environment (public, though left out of its documentation), and nothing else
/// tells whether a field reported an error below itself.
fn errors_so_far(ctx: &Context<'_>) -> usize {
    ctx.query_env
        .errors
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
}

/// The selections of a plan's resolved fields (of `shape`), in its order, for writing
/// their values.
fn selections<'d>(ctx: &Context<'d>, plan: &NodePlan, shape: &Shape<'d>) -> Vec<Selected<'d>> {
    plan.resolved
        .iter()
        .filter_map(|position| shape.fields.get(*position))
        .map(|field| Selected::root(&field.node.selection_set.node, &ctx.query_env.fragments))
        .collect()
}

impl NodePlan {
    fn write<Node: PageNode>(
        &self,
        node: &Node,
        values: &[ServerResult<Value>],
        selected: &[Selected<'_>],
        out: &mut Vec<u8>,
    ) {
        let mut resolved = values.iter().zip(selected);
        out.push(b'{');
        for Keyed { prefix, part, .. } in &self.parts {
            out.extend_from_slice(prefix);
            match part {
                NodePart::Typename => write_str(out, &self.type_name),
                NodePart::Plain(name) => {
                    // Every node answers as the first did (`PageNode::write_field`).
                    if !node.write_field(name, out) {
                        out.extend_from_slice(b"null");
                    }
                }
                NodePart::Resolved => match resolved.next() {
                    Some((Ok(value), selected)) => write_value(out, value, selected),
                    // A page with a failed field is answered as a tree instead.
                    _ => out.extend_from_slice(b"null"),
                },
            }
        }
        out.push(b'}');
    }

    /// The node as async-graphql's containers answer it: a failed field reported and
    /// left out, `null` when nothing is left. A plain field is its JSON bytes.
    fn tree<Node: PageNode>(
        &self,
        ctx: &Context<'_>,
        node: &Node,
        values: Vec<ServerResult<Value>>,
    ) -> Value {
        let mut values = values.into_iter();
        let mut object = IndexMap::with_capacity(self.parts.len());
        for Keyed { key, part, .. } in &self.parts {
            let value = match part {
                NodePart::Typename => Value::String(self.type_name.clone()),
                NodePart::Plain(name) => {
                    let mut out = Vec::new();
                    if !node.write_field(name, &mut out) {
                        out.extend_from_slice(b"null");
                    }
                    Value::Binary(out.into())
                }
                NodePart::Resolved => match values.next() {
                    Some(Ok(value)) => value,
                    Some(Err(error)) => {
                        ctx.add_error(error);
                        continue;
                    }
                    None => continue,
                },
            };
            object.insert(Name::new(key), value);
        }
        if object.is_empty() {
            Value::Null
        } else {
            Value::Object(object)
        }
    }
}

/// The page's edges; `node` is the shape and plan of their `node` field.
pub(super) fn edges<Node: PageNode, C: CursorType>(
    ctx: &Context<'_>,
    edge_name: &str,
    plan: &EdgesPlan,
    node: Option<(&Shape<'_>, &NodePlan)>,
    edges: &[(C, Node)],
    mut resolved: Resolved,
) -> Value {
    if resolved.failed {
        let edges = edges.iter().enumerate().map(|(index, (cursor, row))| {
            let mut object = IndexMap::with_capacity(plan.parts.len());
            for Keyed { key, part, .. } in &plan.parts {
                let value = match (part, node) {
                    (EdgePart::Typename, _) => Value::String(edge_name.to_owned()),
                    (EdgePart::Cursor, _) => Value::String(cursor.encode_cursor()),
                    (EdgePart::Node, Some((_, node_plan))) => {
                        node_plan.tree(ctx, row, resolved.take(index))
                    }
                    (EdgePart::Node, None) => Value::Null,
                };
                object.insert(Name::new(key), value);
            }
            Value::Object(object)
        });
        return Value::List(edges.collect());
    }
    let selected = node
        .map(|(shape, node_plan)| selections(ctx, node_plan, shape))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(plan.sizes.reserve(edges.len()));
    out.push(b'[');
    for (index, (cursor, row)) in edges.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for Keyed { prefix, part, .. } in &plan.parts {
            out.extend_from_slice(prefix);
            match (part, node) {
                (EdgePart::Typename, _) => write_str(&mut out, edge_name),
                (EdgePart::Cursor, _) => write_str(&mut out, &cursor.encode_cursor()),
                (EdgePart::Node, Some((_, node_plan))) => {
                    node_plan.write(row, resolved.of(index), &selected, &mut out)
                }
                (EdgePart::Node, None) => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
    out.push(b']');
    plan.sizes.took(out.len(), edges.len());
    Value::Binary(out.into())
}

/// The page's nodes.
pub(super) fn nodes<Node: PageNode, C>(
    ctx: &Context<'_>,
    plan: &NodePlan,
    shape: &Shape<'_>,
    edges: &[(C, Node)],
    mut resolved: Resolved,
) -> Value {
    if resolved.failed {
        let nodes = edges
            .iter()
            .enumerate()
            .map(|(index, (_, node))| plan.tree(ctx, node, resolved.take(index)));
        return Value::List(nodes.collect());
    }
    let selected = selections(ctx, plan, shape);
    let mut out = Vec::with_capacity(plan.sizes.reserve(edges.len()));
    out.push(b'[');
    for (index, (_, node)) in edges.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        plan.write(node, resolved.of(index), &selected, &mut out);
    }
    out.push(b']');
    plan.sizes.took(out.len(), edges.len());
    Value::Binary(out.into())
}
