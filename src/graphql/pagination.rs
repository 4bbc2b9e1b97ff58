//! Relay connections: `first`/`after` arguments, opaque cursors, `totalCount`.

use async_graphql::connection::CursorType;
use async_graphql::{Context, Object, OutputType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;

use crate::error::{AppError, AppResult, GqlResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Fields every connection carries besides edges and page info.
pub struct ConnectionTotals {
    total: Total,
}

#[Object]
impl ConnectionTotals {
    /// How many nodes match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(match &self.total {
            Total::Known(total) => *total,
            Total::Counted(counter) => counter.count(ctx).await?,
        })
    }
}

/// A connection's `totalCount`: known already, or counted only when a client selects it
/// (a count reads every matching row, often more than the page itself).
pub enum Total {
    Known(u64),
    Counted(Box<dyn Counter>),
}

/// Counts the nodes of a connection, when asked.
pub trait Counter: Send + Sync {
    fn count<'a>(&'a self, ctx: &'a Context<'_>) -> BoxFuture<'a, AppResult<u64>>;
}

impl Total {
    /// The rows `select` matches in the request's organization.
    pub fn of<E>(db: &crate::tenant::TenantDb, select: sea_orm::Select<E>) -> Self
    where
        E: crate::tenant::TenantEntity,
        E::Model: Send + Sync,
    {
        Total::Counted(Box::new(SelectCount {
            db: db.downgrade(),
            select,
        }))
    }
}

struct SelectCount<E: crate::tenant::TenantEntity> {
    db: crate::tenant::WeakTenantDb,
    select: sea_orm::Select<E>,
}

impl<E> Counter for SelectCount<E>
where
    E: crate::tenant::TenantEntity,
    E::Model: Send + Sync,
{
    fn count<'a>(&'a self, _: &'a Context<'_>) -> BoxFuture<'a, AppResult<u64>> {
        Box::pin(async move {
            let db = self.db.upgrade().ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("a count ran after its request ended"))
            })?;
            db.count(self.select.clone()).await
        })
    }
}

pub use super::connection::Page;

/// An edge's cursor: its sort key, written out (versioned, then base64) only when a
/// client selects it, not for every edge of every page.
pub struct Cursor<K>(pub K);

impl<K: CursorKey + Send + Sync> CursorType for Cursor<K> {
    type Error = &'static str;

    fn decode_cursor(raw: &str) -> Result<Self, Self::Error> {
        decode_cursor(raw)
            .map(Cursor)
            .ok_or("is not a valid cursor")
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.encode())
    }
}

fn decode_cursor<K: CursorKey>(raw: &str) -> Option<K> {
    URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        // A cursor is base64, so the control characters refused in every string of a
        // request could hide in it (PostgreSQL fails on U+0000).
        .filter(|text| super::text::is_text(text))
        .and_then(|text| K::decode(&text))
}

/// A validated page request.
pub struct PageRequest<K> {
    /// Rows to return (1–100).
    pub limit: u64,
    /// Continue after this sort key.
    pub after: Option<K>,
}

/// A cursor: an opaque, versioned encoding of a sort key.
pub trait CursorKey: Sized {
    fn encode(&self) -> String;
    fn decode(raw: &str) -> Option<Self>;
}

/// A cursor over a time-ordered (UUID v7) id, for lists sorted by creation.
pub struct IdCursor(pub uuid::Uuid);

impl CursorKey for IdCursor {
    fn encode(&self) -> String {
        format!("id1:{}", self.0)
    }

    fn decode(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw.strip_prefix("id1:")?)
            .ok()
            .map(IdCursor)
    }
}

/// The complexity of a connection field: `first` (as it will be clamped) times the cost of
/// one node, so a page of 100 costs 100 times more than a page of 1.
pub fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.map_or(DEFAULT_PAGE_SIZE, |n| {
        n.clamp(1, MAX_PAGE_SIZE as i32) as u64
    });
    size as usize * child_complexity
}

/// Validates `first` (1–100, default 20) and decodes `after`.
pub fn page_request<K: CursorKey>(
    first: Option<i32>,
    after: Option<String>,
) -> Result<PageRequest<K>, AppError> {
    let limit = match first {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if (1..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
        Some(_) => {
            return Err(AppError::invalid(
                "first",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
    };
    let after = match after {
        None => None,
        Some(raw) => Some(
            decode_cursor(&raw)
                .ok_or_else(|| AppError::invalid("after", "is not a valid cursor"))?,
        ),
    };
    Ok(PageRequest { limit, after })
}

/// Builds the connection from up to `limit + 1` fetched rows (the extra one only tells
/// whether there is a next page).
pub fn page<Row, Node, K>(
    mut rows: Vec<Row>,
    request: &PageRequest<K>,
    total: Total,
    key: impl Fn(&Row) -> K,
    node: impl Fn(Row) -> Node,
) -> Page<Node, K>
where
    Node: OutputType,
    K: CursorKey + Send + Sync,
{
    let has_next_page = rows.len() as u64 > request.limit;
    rows.truncate(request.limit as usize);
    Page {
        edges: rows
            .into_iter()
            .map(|row| (Cursor(key(&row)), node(row)))
            .collect(),
        has_previous_page: request.after.is_some(),
        has_next_page,
        totals: ConnectionTotals { total },
    }
}

/// A page of `E`'s rows, newest first (ids are UUID v7, so id order is creation order),
/// with `totalCount` over the whole `select` (counted if selected).
pub async fn newest_first<E, Node>(
    db: &crate::tenant::TenantDb,
    select: sea_orm::Select<E>,
    request: &PageRequest<IdCursor>,
    id_of: impl Fn(&E::Model) -> uuid::Uuid,
    node: impl Fn(E::Model) -> Node,
) -> Result<Page<Node>, AppError>
where
    E: crate::tenant::TenantEntity,
    E::Model: Send + Sync,
    Node: OutputType,
{
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let total = Total::of(db, select.clone());
    let mut select = select;
    if let Some(IdCursor(id)) = &request.after {
        select = select.filter(E::id_column().lt(*id));
    }
    let rows = db
        .all(
            select
                .order_by_desc(E::id_column())
                .limit(request.limit + 1),
        )
        .await?;
    Ok(page(rows, request, total, |row| IdCursor(id_of(row)), node))
}

/// Which slice of a nested list a field asked for: `first`/`after` (from the start of its
/// order) or `last`/`before` (from the end).
pub struct NestedRequest {
    pub limit: u64,
    /// Counting from the end (`last`).
    pub from_end: bool,
    /// The id the page continues past (`after` or `before`).
    pub past: Option<uuid::Uuid>,
}

impl NestedRequest {
    /// The rows to read for each parent, in the list's direction (`newest_first`): the
    /// page, and one more only when the client selected `pageInfo` (the extra row only
    /// tells whether the list goes on; a dashboard's `conversations(first: 1)` would
    /// otherwise read twice the rows it shows).
    pub fn per_parent(&self, ctx: &Context<'_>, newest_first: bool) -> crate::tenant::PerParent {
        let peek = ctx.look_ahead().field("pageInfo").exists();
        crate::tenant::PerParent {
            limit: self.limit + u64::from(peek),
            newest_first,
            past: self.past,
        }
    }
}

/// Validates the arguments of a nested connection: `first`/`after` or `last`/`before`,
/// 1–100 rows (default 20), cursors as [`IdCursor`].
pub fn nested_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<NestedRequest, AppError> {
    if last.is_some() || before.is_some() {
        if first.is_some() || after.is_some() {
            return Err(AppError::invalid(
                "last",
                "cannot be combined with `first` or `after`",
            ));
        }
        let request = page_request::<IdCursor>(last, before)
            .map_err(|error| rename_field(error, &[("first", "last"), ("after", "before")]))?;
        return Ok(NestedRequest {
            limit: request.limit,
            from_end: true,
            past: request.after.map(|IdCursor(id)| id),
        });
    }
    let request = page_request::<IdCursor>(first, after)?;
    Ok(NestedRequest {
        limit: request.limit,
        from_end: false,
        past: request.after.map(|IdCursor(id)| id),
    })
}

fn rename_field(error: AppError, renames: &[(&str, &str)]) -> AppError {
    match error {
        AppError::BadUserInput { field, message } => {
            match renames.iter().find(|(from, _)| *from == field) {
                Some((from, to)) => AppError::BadUserInput {
                    field: (*to).to_owned(),
                    message: message.replacen(&format!("`{from}`"), &format!("`{to}`"), 1),
                },
                None => AppError::BadUserInput { field, message },
            }
        }
        other => other,
    }
}

/// Builds a nested connection from the rows fetched in the page's direction (from the end
/// for `last`): up to `limit + 1` when `pageInfo` was selected (see
/// [`NestedRequest::per_parent`]), with edges always in the list's own order.
pub fn nested_page<Row, Node>(
    mut rows: Vec<Row>,
    request: &NestedRequest,
    total: Total,
    id_of: impl Fn(&Row) -> uuid::Uuid,
    node: impl Fn(Row) -> Node,
) -> Page<Node>
where
    Node: OutputType,
{
    let more = rows.len() as u64 > request.limit;
    rows.truncate(request.limit as usize);
    let continued = request.past.is_some();
    let (has_previous_page, has_next_page) = if request.from_end {
        rows.reverse();
        (more, continued)
    } else {
        (continued, more)
    };
    Page {
        edges: rows
            .into_iter()
            .map(|row| (Cursor(IdCursor(id_of(&row))), node(row)))
            .collect(),
        has_previous_page,
        has_next_page,
        totals: ConnectionTotals { total },
    }
}
