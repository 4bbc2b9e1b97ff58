//! Pages whose nodes are written straight to JSON.
//!
//! A dashboard row is a contact, its latest conversation and five messages: eight
//! objects, most of whose fields are values of their rows. Answered field by field,
//! every one of those values is a resolver call, a guard check, a `Value` and an entry
//! in a map of its own, all built to be written once and dropped. So a page whose node
//! type can write its plain fields (a value of the row: no arguments, nothing loaded,
//! and guards that read the request alone, never the row) answers them itself:
//!
//! - the type's guards for those fields are checked once, by resolving them on the
//!   page's first node through the type, and what the page writes (its plan) is kept
//!   for every other page of the operation under the same field (a dashboard has a
//!   page of conversations and one of messages per contact);
//! - every other field (`tags`, `owner`, a nested page) is still resolved by the type's
//!   own `resolve_field`, with its guards, for every node, the page's nodes together,
//!   so their loaders batch across the page;
//! - then every edge and node is written straight to JSON bytes, in selection order,
//!   the resolved values with their selections' field order (`graphql::response`).
//!
//! A failed or refused field is answered as before: a plain field refused on the first
//! node sends the whole page field by field; when resolving the other fields reports an
//! error, the page is answered as a value tree (`written`), so the failed field
//! is left out and reported where it failed, and the answer's repairs find it
//! (`pipeline::repairs`). An operation that selects a response key twice answers every
//! page field by field (see [`WriteAhead`]).
//!
//! The bytes travel to the answer writer as a [`Value::Binary`] (no field of tenantgate
//! has a binary type, so nothing else makes one), which copies them into the answer as
//! they stand.

mod plan;
mod values;
mod written;

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql::{ContainerType, Context, Positioned, Value};

use self::plan::{EdgesPlan, NodePlan};
pub(super) use values::write_str;
pub use values::{Plain, write_enum};

use super::batching::HashMap;
use super::connection::Shape;

/// Put in an operation's data when pages may be written ahead: no selection set of the
/// operation selects one response key twice (`limits::OperationShape::repeats_keys`).
/// Two selections of one key are merged value by value, and bytes written ahead cannot
/// be merged, so such an operation answers every page field by field.
///
/// It keeps the plans of the operation's pages, by the address of their `edges` or
/// `nodes` field in the operation's document: every page under one field selects the
/// same, of nodes of one type, whose plain fields' guards read the request alone. A
/// plan that cannot be made (a guard refused) is kept as `None`.
#[derive(Default)]
pub struct WriteAhead {
    edges: Mutex<HashMap<usize, Option<Arc<EdgesPlan>>>>,
    nodes: Mutex<HashMap<usize, Option<Arc<NodePlan>>>>,
}

/// The key of a page's field in [`WriteAhead`]: the document outlives the operation.
fn field_key(field: &Positioned<Field>) -> usize {
    std::ptr::from_ref(field).addr()
}

/// Looks up a plan, or makes and keeps it. Making one resolves the first node's plain
/// fields (a future as large as the node type's resolver, with every page it nests):
/// boxed, so that only the first page under a field carries it, and not every page and
/// every object above it.
async fn planned<'f, Plan>(
    plans: &Mutex<HashMap<usize, Option<Arc<Plan>>>>,
    key: usize,
    make: impl FnOnce() -> Pin<Box<dyn Future<Output = Option<Plan>> + Send + 'f>>,
) -> Option<Arc<Plan>> {
    let known = plans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(plan) = known {
        return plan;
    }
    let plan = make().await.map(Arc::new);
    plans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, plan.clone());
    plan
}

/// The operation's plans, when a page of `Node`s at `ctx` may be written ahead. Every
/// response key of the operation is then selected once, so a plan needs no check of its
/// own for repeats.
fn may_write<'c, Node: PageNode>(ctx: &Context<'c>) -> Option<&'c WriteAhead> {
    if Node::PLAIN {
        ctx.data_opt::<WriteAhead>()
    } else {
        None
    }
}

/// A type whose objects a page holds. A type answers [`PageNode::write_field`] only for
/// fields whose guards depend on the request alone, never on the row: a page checks
/// them once, on its first node, and writes the others unchecked.
pub trait PageNode: ContainerType {
    /// Whether [`PageNode::write_field`] answers any field (pages of other types do not
    /// try). Only an object type sets it: every value of the Rust type is an object of
    /// one GraphQL type.
    const PLAIN: bool = false;

    /// Writes this object's field `name` as JSON and answers `true`, or answers `false`
    /// (writing nothing) when the field is not plain. The answer depends on `name`
    /// alone, never on the object.
    fn write_field(&self, _name: &str, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// A page's `edges`, written whole: `ctx` is the `edges` field's, `set` its selection,
/// `edge_fields` and `node_shapes` what the page worked out for it. `None` when the
/// page is answered field by field.
pub(super) async fn edges<Node: PageNode, C: async_graphql::connection::CursorType>(
    ctx: &Context<'_>,
    set: &Positioned<SelectionSet>,
    edge_name: &str,
    edge_fields: &[&Positioned<Field>],
    node_shapes: &[Option<Shape<'_>>],
    edges: &[(C, Node)],
) -> Option<Value> {
    let plans = may_write::<Node>(ctx)?;
    let (_, first) = edges.first()?;
    let plan = planned(&plans.edges, field_key(ctx.item), || {
        Box::pin(async move {
            let ctx_first = ctx.with_index(0);
            let ctx_edge = ctx_first.with_selection_set(set);
            EdgesPlan::of(&ctx_edge, edge_fields, node_shapes, first).await
        })
    })
    .await?;
    let node = plan.node.as_ref().and_then(|(position, plan)| {
        let field = edge_fields.get(*position)?;
        let shape = node_shapes.get(*position)?.as_ref()?;
        Some((*field, shape, plan))
    });
    // One field of a document answers nodes of one type; should another type ever come
    // under it (a fragment on an interface), that page is answered field by field.
    if node.is_some_and(|(_, shape, plan)| plan.type_name != shape.type_name) {
        return None;
    }
    let resolved = match node {
        Some((field, shape, plan)) if !plan.resolved.is_empty() => {
            written::resolve_all(ctx, edges, |index, node| async move {
                let ctx_index = ctx.with_index(index);
                let ctx_edge = ctx_index.with_selection_set(set);
                let ctx_field = ctx_edge.with_field(field);
                let ctx_node = ctx_field.with_selection_set(&field.node.selection_set);
                plan.resolve(&ctx_node, shape, node).await
            })
            .await
        }
        _ => written::Resolved::nothing(),
    };
    let node = node.map(|(_, shape, plan)| (shape, plan));
    Some(written::edges(ctx, edge_name, &plan, node, edges, resolved))
}

/// A page's `nodes`, written whole: `ctx` is the `nodes` field's. `None` when the page is
/// answered field by field.
pub(super) async fn nodes<Node: PageNode, C>(
    ctx: &Context<'_>,
    shape: &Shape<'_>,
    edges: &[(C, Node)],
) -> Option<Value> {
    let plans = may_write::<Node>(ctx)?;
    let (_, first) = edges.first()?;
    let set = &ctx.item.node.selection_set;
    let plan = planned(&plans.nodes, field_key(ctx.item), || {
        Box::pin(async move {
            let ctx_first = ctx.with_index(0);
            NodePlan::of(&ctx_first.with_selection_set(set), first, shape).await
        })
    })
    .await?;
    let plan = &*plan;
    if plan.type_name != shape.type_name {
        return None;
    }
    let resolved = if plan.resolved.is_empty() {
        written::Resolved::nothing()
    } else {
        written::resolve_all(ctx, edges, |index, node| async move {
            let ctx_index = ctx.with_index(index);
            plan.resolve(&ctx_index.with_selection_set(set), shape, node)
                .await
        })
        .await
    };
    Some(written::nodes(ctx, plan, shape, edges, resolved))
}
