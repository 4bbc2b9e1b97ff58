//! Batched reads for nested fields: one statement for many parents, so the number of
//! statements a query costs does not grow with the rows it returns. The per-request data
//! loaders (`graphql::loaders`) call these; every read stays pinned to the request's
//! organization like any other `TenantDb` read.

use std::sync::{Arc, Weak};

use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Order, Query, ValueTuple, WindowStatement,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, IdenStatic,
    QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::TenantEntity;
use super::scoped::TenantDb;
use crate::error::AppResult;
use crate::identity::Actor;
use entity::OrganizationStatus;

/// Rows grouped by parent id. Hashed with foldhash (seeded per process): SipHash, the
/// standard hasher, cost more than grouping the rows.
pub type ByParent<V> = std::collections::HashMap<Uuid, V, foldhash::fast::RandomState>;

/// A [`TenantDb`] that does not keep the request's transaction alive: the data loaders
/// hold this, so the transaction has a single owner again when the request ends.
#[derive(Clone)]
pub struct WeakTenantDb {
    tx: Weak<DatabaseTransaction>,
    organization_id: Uuid,
    actor: Actor,
    status: OrganizationStatus,
}

impl WeakTenantDb {
    /// The handle again, while the request is still running.
    pub fn upgrade(&self) -> Option<TenantDb> {
        Some(TenantDb::new(
            self.tx.upgrade()?,
            self.organization_id,
            self.actor.clone(),
            self.status,
            None,
        ))
    }
}

/// Which rows of each parent a nested page wants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PerParent {
    /// At most this many rows per parent.
    pub limit: u64,
    /// Newest first (by the time-ordered id) or oldest first.
    pub newest_first: bool,
    /// Continue past this id (in the page's direction).
    pub past: Option<Uuid>,
}

impl TenantDb {
    /// A handle for the data loaders (see [`WeakTenantDb`]).
    pub fn downgrade(&self) -> WeakTenantDb {
        WeakTenantDb {
            tx: Arc::downgrade(&self.tx_arc()),
            organization_id: self.organization_id(),
            actor: self.actor().clone(),
            status: self.status(),
        }
    }

    /// The rows of `E` with these ids (absent ones are simply missing).
    pub async fn by_ids<E: TenantEntity>(&self, ids: &[Uuid]) -> AppResult<Vec<E::Model>>
    where
        E::Model: Send + Sync,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.all(
            self.find::<E>()
                .filter(E::id_column().is_in(ids.iter().copied())),
        )
        .await
    }

    /// The rows of `E` whose `parent` column is one of `parents` and that match `filter`,
    /// at most `per.limit` for each parent, read in one statement: each parent's rows
    /// (`key` gives a row's parent and id) in the page's direction.
    ///
    /// On PostgreSQL each parent's rows are read by a `LATERAL` subquery with its own
    /// `LIMIT`: an index range per parent that stops at the limit. The rows are put in
    /// order here, per parent, rather than by the statement: sorting the whole result
    /// was a quarter of PostgreSQL's time on a page's messages. SQLite has no `LATERAL`,
    /// so there a window function numbers each parent's rows instead (it reads all of
    /// them; the embedded database serves small organizations).
    pub async fn rows_per_parent<E: TenantEntity>(
        &self,
        parent: E::Column,
        parents: &[Uuid],
        filter: Condition,
        per: &PerParent,
        key: impl Fn(&E::Model) -> (Uuid, Uuid),
    ) -> AppResult<ByParent<Vec<E::Model>>>
    where
        E::Model: Send + Sync,
    {
        if parents.is_empty() {
            return Ok(ByParent::default());
        }
        let id = E::id_column();
        let order = if per.newest_first {
            Order::Desc
        } else {
            Order::Asc
        };
        let mut filter = filter.add(E::organization_column().eq(self.organization_id()));
        if let Some(past) = per.past {
            filter = filter.add(if per.newest_first {
                id.lt(past)
            } else {
                id.gt(past)
            });
        }
        let statement = match self.backend() {
            DbBackend::Postgres => {
                let mut each = Query::select();
                each.order_by(id, order).limit(per.limit);
                self.lateral_over::<E>(parent, parents, filter, each)
            }
            _ => {
                let filter = filter.add(parent.is_in(parents.iter().copied()));
                let mut window = WindowStatement::partition_by(parent);
                window.order_by(id, order.clone());
                let mut numbered = Query::select();
                numbered
                    .column(Asterisk)
                    .expr_window_as(
                        Func::cust(Alias::new("ROW_NUMBER")),
                        window,
                        Alias::new("rn"),
                    )
                    .from(E::default())
                    .cond_where(filter);
                let mut outer = Query::select();
                outer
                    .column(Asterisk)
                    .from_subquery(numbered, Alias::new("numbered"))
                    .and_where(Expr::col(Alias::new("rn")).lte(per.limit as i64))
                    .order_by(Alias::new(parent.as_str()), Order::Asc)
                    .order_by(Alias::new(id.as_str()), order);
                self.backend().build(&outer)
            }
        };
        let rows = E::decode_rows(self.connection().query_all_raw(statement).await?)?;
        let mut per_parent: ByParent<Vec<E::Model>> =
            ByParent::with_capacity_and_hasher(parents.len(), Default::default());
        for row in rows {
            per_parent.entry(key(&row).0).or_default().push(row);
        }
        for rows in per_parent.values_mut() {
            if per.newest_first {
                rows.sort_by_key(|row| std::cmp::Reverse(key(row).1));
            } else {
                rows.sort_by_key(|row| key(row).1);
            }
        }
        Ok(per_parent)
    }

    /// Every row of `E` whose `parent` column is one of `parents`, in one statement, in
    /// no particular order (a contact's tags, say).
    ///
    /// On PostgreSQL each parent's rows are read by a `LATERAL` subquery, an index look-up
    /// per parent. Written as a plain `IN` list, PostgreSQL 15 reads every row of the
    /// organization and filters them by the list: five times slower for a page of 50
    /// contacts, and it grows with the organization. `OFFSET 0` keeps the subquery from
    /// being flattened back into that join.
    pub async fn rows_of_parents<E: TenantEntity>(
        &self,
        parent: E::Column,
        parents: &[Uuid],
    ) -> AppResult<Vec<E::Model>>
    where
        E::Model: Send + Sync,
    {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Condition::all().add(E::organization_column().eq(self.organization_id()));
        let statement = match self.backend() {
            DbBackend::Postgres => {
                let mut each = Query::select();
                each.offset(0);
                self.lateral_over::<E>(parent, parents, filter, each)
            }
            _ => self.backend().build(
                Query::select()
                    .column(Asterisk)
                    .from(E::default())
                    .cond_where(filter.add(parent.is_in(parents.iter().copied()))),
            ),
        };
        Ok(E::decode_rows(
            self.connection().query_all_raw(statement).await?,
        )?)
    }

    /// `SELECT rows.* FROM (VALUES parents…) JOIN LATERAL (each) rows`, where `each`
    /// (its order and limit already set) reads `E`'s rows of one parent that match
    /// `filter`; in no particular order.
    fn lateral_over<E: TenantEntity>(
        &self,
        parent: E::Column,
        parents: &[Uuid],
        filter: Condition,
        mut each: sea_orm::sea_query::SelectStatement,
    ) -> sea_orm::Statement {
        let (list, rows) = (Alias::new("parents"), Alias::new("rows"));
        each.column(Asterisk).from(E::default()).cond_where(
            filter.add(Expr::col(parent).equals((list.clone(), Alias::new("column1")))),
        );
        let mut outer = Query::select();
        outer
            .column((rows.clone(), Asterisk))
            .from_values(
                parents
                    .iter()
                    .map(|parent| ValueTuple::One(sea_orm::Value::from(*parent))),
                list,
            )
            .join_lateral(JoinType::InnerJoin, each, rows, Expr::cust("TRUE"));
        self.backend().build(&outer)
    }

    /// How many rows of `E` each parent has that match `filter`, in one statement.
    pub async fn count_per_parent<E: TenantEntity>(
        &self,
        parent: E::Column,
        parents: &[Uuid],
        filter: Condition,
    ) -> AppResult<ByParent<u64>>
    where
        E::Model: Send + Sync,
    {
        if parents.is_empty() {
            return Ok(ByParent::default());
        }
        let counts: Vec<(Uuid, i64)> = self
            .find::<E>()
            .filter(filter)
            .filter(parent.is_in(parents.iter().copied()))
            .select_only()
            .column(parent)
            .column_as(Expr::col(E::id_column()).count(), "n")
            .group_by(parent)
            .into_tuple()
            .all(self.connection())
            .await?;
        Ok(counts
            .into_iter()
            .map(|(parent, n)| (parent, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
