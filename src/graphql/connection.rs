//! A page of nodes as a Relay connection, resolved by tenantgate itself.
//!
//! async-graphql declares connections well (`XConnection`, `XEdge`, `PageInfo`: the
//! schema is registered through its `Connection`, so names, fields and descriptions are
//! exactly its own), but resolves them as ordinary objects: every field of every edge is
//! a boxed future in a `FuturesUnordered` of its own, and `pageInfo` encodes both cursors
//! whatever was selected. A dashboard row holds seven edges, so that machinery cost more
//! than the rows it carried. Here the connection, its edges and its page info are plain
//! data walked once: each edge is one future (the page's nodes still resolve together,
//! so their loaders batch across the page), its `cursor` is encoded only when selected,
//! and every node resolves through its own type, with its own guards.
//!
//! Errors behave as in async-graphql's containers: a field that fails is reported
//! with its path and left out of its object.

use std::borrow::Cow;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, Name, OutputType, Positioned, ServerError,
    ServerResult, Value,
};
use futures_util::future::join_all;

use super::pagination::{ConnectionTotals, Cursor, CursorKey, IdCursor};
use super::plain::{self, PageNode};

/// A page of `Node`s, its cursors keyed by `K`.
pub struct Page<Node, K = IdCursor> {
    pub(super) edges: Vec<(Cursor<K>, Node)>,
    pub(super) has_previous_page: bool,
    pub(super) has_next_page: bool,
    pub(super) totals: ConnectionTotals,
}

/// The connection as async-graphql declares it: what the schema shows of a [`Page`].
type Declared<Node, K> = Connection<Cursor<K>, Node, ConnectionTotals>;
type DeclaredEdge<Node, K> = Edge<Cursor<K>, Node, async_graphql::connection::EmptyFields>;

impl<Node, K> OutputType for Page<Node, K>
where
    Node: PageNode,
    K: CursorKey + Send + Sync,
{
    fn type_name() -> Cow<'static, str> {
        Declared::<Node, K>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Declared::<Node, K>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let type_name = Self::type_name();
        let mut object = Object::default();
        for field in fields_of(ctx, &ctx.item.node, &type_name)? {
            let ctx_field = ctx.with_field(field);
            let value = match field.node.name.node.as_str() {
                "__typename" => Ok(Value::String(type_name.to_string())),
                "pageInfo" => Ok(self.page_info(&ctx_field, field)?),
                "edges" => self.edges(&ctx_field, field).await,
                "nodes" => self.nodes(&ctx_field, field).await,
                "totalCount" => self
                    .totals
                    .resolve_field(&ctx_field)
                    .await
                    .map(Option::unwrap_or_default),
                other => Err(unknown(other, &type_name, field)),
            };
            object.put(&ctx_field, field, value);
        }
        Ok(object.finish())
    }
}

impl<Node, K> Page<Node, K>
where
    Node: PageNode,
    K: CursorKey + Send + Sync,
{
    fn page_info(&self, ctx: &Context<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let ctx_set = ctx.with_selection_set(&field.node.selection_set);
        let mut object = Object::default();
        let cursor = |edge: Option<&(Cursor<K>, Node)>| {
            edge.map_or(Value::Null, |(cursor, _)| {
                Value::String(cursor.encode_cursor())
            })
        };
        for field in fields_of(&ctx_set, &field.node.selection_set.node, "PageInfo")? {
            let value = match field.node.name.node.as_str() {
                "__typename" => Ok(Value::String("PageInfo".to_owned())),
                "hasPreviousPage" => Ok(Value::Boolean(self.has_previous_page)),
                "hasNextPage" => Ok(Value::Boolean(self.has_next_page)),
                "startCursor" => Ok(cursor(self.edges.first())),
                "endCursor" => Ok(cursor(self.edges.last())),
                other => Err(unknown(other, "PageInfo", field)),
            };
            object.put(&ctx_set.with_field(field), field, value);
        }
        Ok(object.finish())
    }

    async fn edges(&self, ctx: &Context<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let edge_name = DeclaredEdge::<Node, K>::type_name();
        let set = &field.node.selection_set;
        // Every edge of the page answers the same selection, and its nodes are of one
        // type: the field lists are worked out once for the page, not once per edge.
        let edge_fields = fields_of(&ctx.with_selection_set(set), &set.node, &edge_name)?;
        let first_node = self.edges.first().map(|(_, node)| node);
        let node_shapes = edge_fields
            .iter()
            .map(|field| match (field.node.name.node.as_str(), first_node) {
                ("node", Some(node)) => {
                    Shape::of(&ctx.with_selection_set(&field.node.selection_set), node).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<ServerResult<Vec<_>>>()?;
        if let Some(written) = plain::edges(
            ctx,
            set,
            &edge_name,
            &edge_fields,
            &node_shapes,
            &self.edges,
        )
        .await
        {
            return Ok(written);
        }
        let edges = self
            .edges
            .iter()
            .enumerate()
            .map(|(index, (cursor, node))| {
                let (edge_name, edge_fields, node_shapes) =
                    (&edge_name, &edge_fields, &node_shapes);
                async move {
                    let ctx_index = ctx.with_index(index);
                    let ctx_set = ctx_index.with_selection_set(set);
                    let mut object = Object::with_capacity(edge_fields.len());
                    for (field, node_shape) in edge_fields.iter().zip(node_shapes) {
                        let ctx_field = ctx_set.with_field(field);
                        let value = match field.node.name.node.as_str() {
                            "__typename" => Ok(Value::String(edge_name.to_string())),
                            "cursor" => Ok(Value::String(cursor.encode_cursor())),
                            "node" => {
                                let ctx_node =
                                    ctx_field.with_selection_set(&field.node.selection_set);
                                match node_shape {
                                    Some(shape) => resolve_shaped(&ctx_node, node, shape).await,
                                    None => resolve_object(&ctx_node, node).await,
                                }
                            }
                            other => Err(unknown(other, edge_name, field)),
                        };
                        object.put(&ctx_field, field, value);
                    }
                    Ok(object.finish())
                }
            });
        list(join_all(edges).await)
    }

    async fn nodes(&self, ctx: &Context<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let set = &field.node.selection_set;
        let shape = match self.edges.first() {
            Some((_, node)) => Shape::of(&ctx.with_selection_set(set), node)?,
            None => return Ok(Value::List(Vec::new())),
        };
        if let Some(written) = plain::nodes(ctx, &shape, &self.edges).await {
            return Ok(written);
        }
        let shape = &shape;
        let nodes = self
            .edges
            .iter()
            .enumerate()
            .map(|(index, (_, node))| async move {
                let ctx_index = ctx.with_index(index);
                resolve_shaped(&ctx_index.with_selection_set(set), node, shape)
                    .await
                    .map_err(|error| match error.path.is_empty() {
                        true => ctx_index.set_error_path(error),
                        false => error,
                    })
            });
        list(join_all(nodes).await)
    }
}

/// The fields a selection set asks of objects of one type, in selection order.
pub(super) struct Shape<'a> {
    pub(super) type_name: Cow<'static, str>,
    pub(super) fields: Vec<&'a Positioned<Field>>,
}

impl<'a> Shape<'a> {
    fn of<T: ContainerType>(ctx: &ContextSelectionSet<'a>, root: &T) -> ServerResult<Self> {
        let type_name = root.introspection_type_name();
        let fields = fields_of(ctx, &ctx.item.node, &type_name)?;
        Ok(Shape { type_name, fields })
    }
}

/// Resolves an object's selected fields together, as async-graphql's containers do (so a
/// page's loaders still see every node's request before they run), but as one joined
/// set of the type's own field futures: no boxed future, queue or task per field. Each
/// field is answered by the type's own `resolve_field`, with its guards.
pub async fn resolve_object<T: ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    resolve_with(ctx, root, &Shape::of(ctx, root)?).await
}

/// [`resolve_object`] with the fields a page worked out for its nodes; a node of
/// another type (a page of an interface's objects) works out its own.
async fn resolve_shaped<T: ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
    shape: &Shape<'_>,
) -> ServerResult<Value> {
    if root.introspection_type_name() == shape.type_name {
        resolve_with(ctx, root, shape).await
    } else {
        resolve_object(ctx, root).await
    }
}

async fn resolve_with<T: ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
    shape: &Shape<'_>,
) -> ServerResult<Value> {
    let type_name = &shape.type_name;
    let values = join_all(shape.fields.iter().map(|field| async move {
        if field.node.name.node == "__typename" {
            return Ok(Value::String(type_name.to_string()));
        }
        root.resolve_field(&ctx.with_field(field))
            .await
            .map(Option::unwrap_or_default)
    }))
    .await;
    let mut object = Object::with_capacity(shape.fields.len());
    for (field, value) in shape.fields.iter().zip(values) {
        object.put(&ctx.with_field(field), field, value);
    }
    Ok(object.finish())
}

/// A list whose items are all required: one failed item fails the list, as in
/// async-graphql's own lists.
fn list(items: Vec<ServerResult<Value>>) -> ServerResult<Value> {
    items
        .into_iter()
        .collect::<ServerResult<_>>()
        .map(Value::List)
}

/// An object being answered, field by field.
#[derive(Default)]
struct Object(IndexMap<Name, Value>);

impl Object {
    fn with_capacity(fields: usize) -> Self {
        Object(IndexMap::with_capacity(fields))
    }

    /// Adds a field's value under its response key, merged with an earlier selection of
    /// the same key; a failed field is reported with its path (where it failed, or this
    /// field's) and left out.
    fn put(&mut self, ctx: &Context<'_>, field: &Positioned<Field>, value: ServerResult<Value>) {
        match value {
            Ok(value) => merge(&mut self.0, field.node.response_key().node.clone(), value),
            Err(error) if error.path.is_empty() => ctx.add_error(ctx.set_error_path(error)),
            Err(error) => ctx.add_error(error),
        }
    }

    /// The object, or `null` when no field could be answered (as async-graphql does).
    fn finish(self) -> Value {
        if self.0.is_empty() {
            Value::Null
        } else {
            Value::Object(self.0)
        }
    }
}

/// Two selections of one response key answer one value: objects merge field by field,
/// lists item by item (what async-graphql's containers do).
fn merge(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    use async_graphql::indexmap::map::Entry;
    match (target.entry(name), value) {
        (Entry::Vacant(entry), value) => {
            entry.insert(value);
        }
        (Entry::Occupied(mut entry), value) => match (entry.get_mut(), value) {
            (Value::Object(into), Value::Object(from)) => {
                for (name, value) in from {
                    merge(into, name, value);
                }
            }
            (Value::List(into), Value::List(from)) => {
                for (into, from) in into.iter_mut().zip(from) {
                    if let (Value::Object(into), Value::Object(from)) = (into, from) {
                        for (name, value) in from {
                            merge(into, name, value);
                        }
                    }
                }
            }
            _ => {}
        },
    }
}

/// The fields of `set` that apply to an object of type `type_name`: its own fields and
/// those of the fragments whose type condition it meets, in selection order.
fn fields_of<'a>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    type_name: &str,
) -> ServerResult<Vec<&'a Positioned<Field>>> {
    fn walk<'a>(
        ctx: &ContextSelectionSet<'a>,
        set: &'a SelectionSet,
        type_name: &str,
        fields: &mut Vec<&'a Positioned<Field>>,
    ) -> ServerResult<()> {
        for selection in &set.items {
            let (condition, inner) = match &selection.node {
                Selection::Field(field) => {
                    fields.push(field);
                    continue;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let fragment = ctx.query_env.fragments.get(name).ok_or_else(|| {
                        ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos))
                    })?;
                    (
                        Some(fragment.node.type_condition.node.on.node.as_str()),
                        &fragment.node.selection_set.node,
                    )
                }
                Selection::InlineFragment(fragment) => (
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|condition| condition.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                ),
            };
            // A fragment applies when it names the type itself, an interface it
            // implements, or no type (validation refused any other).
            let applies = condition.is_none_or(|condition| {
                condition == type_name
                    || ctx
                        .schema_env
                        .registry
                        .implements
                        .get(type_name)
                        .is_some_and(|interfaces| interfaces.contains(condition))
            });
            if applies {
                walk(ctx, inner, type_name, fields)?;
            }
        }
        Ok(())
    }
    let mut fields = Vec::new();
    walk(ctx, set, type_name, &mut fields)?;
    Ok(fields)
}

/// A field validation let through that this type does not have (it cannot happen: the
/// types are registered from async-graphql's declaration, which names these fields).
fn unknown(name: &str, type_name: &str, field: &Positioned<Field>) -> ServerError {
    ServerError::new(
        format!(r#"Cannot query field "{name}" on type "{type_name}"."#),
        Some(field.pos),
    )
}
