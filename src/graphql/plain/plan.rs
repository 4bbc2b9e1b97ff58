//! What a page writes of its edges and nodes, worked out from its first node once per
//! field of the operation, and kept for every other page under that field.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, Positioned, ServerResult, Value};

use super::{PageNode, write_str};
use crate::graphql::connection::Shape;

/// A part of an object under its response key, with what is written before its value
/// (a comma but for the first, and the key).
pub(super) struct Keyed<Part> {
    pub(super) key: String,
    pub(super) prefix: Vec<u8>,
    pub(super) part: Part,
}

impl<Part> Keyed<Part> {
    /// `part` under `key`, the first of its object when `first`.
    fn new(first: bool, key: &str, part: Part) -> Self {
        let mut prefix = Vec::with_capacity(key.len() + 4);
        if !first {
            prefix.push(b',');
        }
        write_str(&mut prefix, key);
        prefix.push(b':');
        Keyed {
            key: key.to_owned(),
            prefix,
            part,
        }
    }
}

/// One response key of a node.
pub(super) enum NodePart {
    Typename,
    /// A value of the row, written by the type ([`PageNode::write_field`]) under this
    /// field name.
    Plain(String),
    /// Any other field, resolved by the type for every node (its position in the
    /// node's selection is in [`NodePlan::resolved`]).
    Resolved,
}

/// A node's selected fields, in selection order.
pub(super) struct NodePlan {
    pub(super) type_name: String,
    pub(super) parts: Vec<Keyed<NodePart>>,
    /// The positions of the resolved fields in the node's selection, in order.
    pub(super) resolved: Vec<usize>,
    /// What the pages written so far took.
    pub(super) sizes: Sizes,
}

/// The bytes the items of the pages written so far under one field took, on average,
/// so that the next page reserves its answer at once rather than growing it (and
/// copying it) as its nested pages are written in.
#[derive(Default)]
pub(super) struct Sizes {
    bytes: AtomicUsize,
    items: AtomicUsize,
}

/// The most a page reserves ahead, whatever the pages before it took: a page larger
/// than this grows as it is written.
const MOST_RESERVED: usize = 256 * 1024;

impl Sizes {
    /// The bytes to reserve for a page of `items` items.
    pub(super) fn reserve(&self, items: usize) -> usize {
        let (bytes, seen) = (
            self.bytes.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
        );
        let each = bytes.checked_div(seen).unwrap_or(128);
        items
            .saturating_mul(each + each / 8)
            .saturating_add(2)
            .min(MOST_RESERVED)
    }

    /// Notes that a page of `items` items took `bytes`.
    pub(super) fn took(&self, bytes: usize, items: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
    }
}

impl NodePlan {
    /// The plan of `shape` for nodes like `first`, if the type's guards let the request
    /// read every plain field it selects. `ctx` is the first node's.
    pub(super) async fn of<Node: PageNode>(
        ctx: &ContextSelectionSet<'_>,
        first: &Node,
        shape: &Shape<'_>,
    ) -> Option<NodePlan> {
        if first.introspection_type_name() != shape.type_name {
            return None;
        }
        let mut parts = Vec::with_capacity(shape.fields.len());
        let mut resolved = Vec::new();
        let mut scratch = Vec::new();
        for (position, field) in shape.fields.iter().enumerate() {
            let key = field.node.response_key().node.as_str();
            let name = field.node.name.node.as_str();
            scratch.clear();
            let part = if name == "__typename" {
                NodePart::Typename
            } else if first.write_field(name, &mut scratch) {
                // The type's own resolver, with its guards: refused, or failing, the
                // page is answered field by field and reports it there.
                if first.resolve_field(&ctx.with_field(field)).await.is_err() {
                    return None;
                }
                NodePart::Plain(name.to_owned())
            } else {
                resolved.push(position);
                NodePart::Resolved
            };
            parts.push(Keyed::new(parts.is_empty(), key, part));
        }
        Some(NodePlan {
            type_name: shape.type_name.to_string(),
            parts,
            resolved,
            sizes: Sizes::default(),
        })
    }

    /// Resolves the other fields of `node` (of `shape`) through its type, together;
    /// `ctx` is the node's. A failed field's error carries its path.
    pub(super) async fn resolve<Node: PageNode>(
        &self,
        ctx: &ContextSelectionSet<'_>,
        shape: &Shape<'_>,
        node: &Node,
    ) -> Vec<ServerResult<Value>> {
        let fields = self
            .resolved
            .iter()
            .filter_map(|position| shape.fields.get(*position));
        futures_util::future::join_all(fields.map(|field| async move {
            let ctx_field = ctx.with_field(field);
            match node.resolve_field(&ctx_field).await {
                Ok(value) => Ok(value.unwrap_or_default()),
                Err(error) if error.path.is_empty() => Err(ctx_field.set_error_path(error)),
                Err(error) => Err(error),
            }
        }))
        .await
    }
}

/// One response key of an edge.
pub(super) enum EdgePart {
    Typename,
    Cursor,
    Node,
}

/// An edge's selected fields, in selection order, and its node's plan.
pub(super) struct EdgesPlan {
    pub(super) parts: Vec<Keyed<EdgePart>>,
    /// The position of `node` in the edge's selection, and its plan.
    pub(super) node: Option<(usize, NodePlan)>,
    pub(super) sizes: Sizes,
}

impl EdgesPlan {
    /// The plan of an edge selecting `edge_fields`, whose `node` fields select
    /// `node_shapes`, for edges like the first; `ctx_first` is the first edge's.
    pub(super) async fn of<Node: PageNode>(
        ctx_first: &ContextSelectionSet<'_>,
        edge_fields: &[&Positioned<Field>],
        node_shapes: &[Option<Shape<'_>>],
        first: &Node,
    ) -> Option<EdgesPlan> {
        let mut parts = Vec::with_capacity(edge_fields.len());
        let mut node = None;
        for (position, (field, shape)) in edge_fields.iter().zip(node_shapes).enumerate() {
            let part = match (field.node.name.node.as_str(), shape) {
                ("__typename", _) => EdgePart::Typename,
                ("cursor", _) => EdgePart::Cursor,
                // One `node` per edge: its fields are resolved per edge, under that key.
                ("node", Some(shape)) if node.is_none() => {
                    let ctx_field = ctx_first.with_field(field);
                    let ctx_node = ctx_field.with_selection_set(&field.node.selection_set);
                    node = Some((position, NodePlan::of(&ctx_node, first, shape).await?));
                    EdgePart::Node
                }
                _ => return None,
            };
            let key = field.node.response_key().node.as_str();
            parts.push(Keyed::new(parts.is_empty(), key, part));
        }
        Some(EdgesPlan {
            parts,
            node,
            sizes: Sizes::default(),
        })
    }
}
