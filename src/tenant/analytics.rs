//! The aggregate statements behind analytics, on [`TenantDb`]: a fixed number of
//! statements whatever the number of rows, each pinned to the handle's organization by
//! its first parameter (and, on PostgreSQL, also by row-level security). Time bucketing
//! is spelled differently by each backend, so the SQL lives here and capability code
//! sees only typed methods.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::scoped::TenantDb;
use crate::error::{AppError, AppResult};
use entity::EventKind;

/// A half-open period `[from, to)`, already validated by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// How the organization's records in a period add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    /// Contacts created.
    pub contacts: u64,
    /// Conversations started.
    pub conversations: u64,
    /// Messages posted.
    pub messages: u64,
    /// Events that occurred.
    pub events: u64,
    /// Distinct contacts with at least one event.
    pub active_contacts: u64,
    /// Distinct contacts with at least one event who also started a conversation.
    pub converted_contacts: u64,
}

/// The width of a time bucket, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// ISO weeks: Monday to Sunday.
    Week,
}

/// One statement, six scalar subqueries: every count of the summary in one round trip.
/// `$1` is the organization, `[$2, $3)` the period. The subqueries use the
/// `(organization_id, <time>)` indexes of their tables; the conversion subquery probes
/// `idx_event_contact_occurred` per conversation of the period.
const ACTIVITY: &str = "SELECT \
    (SELECT count(*) FROM contact \
      WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3) AS contacts, \
    (SELECT count(*) FROM conversation \
      WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3) AS conversations, \
    (SELECT count(*) FROM message \
      WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3) AS messages, \
    (SELECT count(*) FROM event \
      WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3) AS events, \
    (SELECT count(DISTINCT contact_id) FROM event \
      WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
        AND contact_id IS NOT NULL) AS active_contacts, \
    (SELECT count(DISTINCT c.contact_id) FROM conversation c \
      WHERE c.organization_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
        AND EXISTS (SELECT 1 FROM event e \
          WHERE e.organization_id = c.organization_id AND e.contact_id = c.contact_id \
            AND e.occurred_at >= $2 AND e.occurred_at < $3)) AS converted_contacts";

/// The first day of the bucket an event falls in, as `YYYY-MM-DD` text on both
/// backends. SQLite stores times as RFC 3339 text, which its date functions read
/// (converting the offset to UTC); `weekday 1` moves forward to a Monday, hence the six
/// days back first. PostgreSQL's `date_trunc('week', …)` starts weeks on Monday.
fn bucket_expression(backend: DbBackend, bucket: Bucket) -> &'static str {
    match (backend, bucket) {
        (DbBackend::Postgres, Bucket::Day) => {
            "to_char(date_trunc('day', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        }
        (DbBackend::Postgres, Bucket::Week) => {
            "to_char(date_trunc('week', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        }
        (_, Bucket::Day) => "date(occurred_at)",
        (_, Bucket::Week) => "date(occurred_at, '-6 days', 'weekday 1')",
    }
}

/// One `GROUP BY` over the period's events (of one kind, when given): only the buckets
/// that have events come back; the caller fills the gaps.
fn event_totals_sql(backend: DbBackend, bucket: Bucket, with_kind: bool) -> String {
    format!(
        "SELECT {bucket} AS bucket, count(*) AS total FROM event \
         WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3{kind} \
         GROUP BY 1 ORDER BY 1",
        bucket = bucket_expression(backend, bucket),
        kind = if with_kind { " AND kind = $4" } else { "" },
    )
}

fn count(row: &QueryResult, column: &str) -> AppResult<u64> {
    let value: i64 = row.try_get("", column)?;
    u64::try_from(value).map_err(|_| AppError::internal(anyhow::anyhow!("negative count")))
}

impl TenantDb {
    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// Everything the analytics summary counts in `period`, in one statement.
    pub async fn activity_counts(&self, period: Period) -> AppResult<ActivityCounts> {
        let values = vec![
            self.organization_id().into(),
            period.from.into(),
            period.to.into(),
        ];
        let row = self
            .connection()
            .query_one_raw(self.statement(ACTIVITY, values))
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("the summary returned no row")))?;
        Ok(ActivityCounts {
            contacts: count(&row, "contacts")?,
            conversations: count(&row, "conversations")?,
            messages: count(&row, "messages")?,
            events: count(&row, "events")?,
            active_contacts: count(&row, "active_contacts")?,
            converted_contacts: count(&row, "converted_contacts")?,
        })
    }

    /// Events in `period` per UTC day or week (of `kind` only, when given), in one
    /// statement: the first day of each bucket that has events, with its count, in
    /// order.
    pub async fn event_totals(
        &self,
        period: Period,
        bucket: Bucket,
        kind: Option<EventKind>,
    ) -> AppResult<Vec<(NaiveDate, u64)>> {
        let mut values: Vec<Value> = vec![
            self.organization_id().into(),
            period.from.into(),
            period.to.into(),
        ];
        if let Some(kind) = kind {
            values.push(kind.to_value().into());
        }
        let sql = event_totals_sql(self.backend(), bucket, kind.is_some());
        let rows = self
            .connection()
            .query_all_raw(self.statement(&sql, values))
            .await?;
        rows.iter()
            .map(|row| {
                let day: String = row.try_get("", "bucket")?;
                let start = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|error| {
                    AppError::internal(anyhow::anyhow!("bucket {day:?}: {error}"))
                })?;
                Ok((start, count(row, "total")?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_pinned_to_the_organization() {
        assert_eq!(ACTIVITY.matches("organization_id = $1").count(), 6);
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for bucket in [Bucket::Day, Bucket::Week] {
                for with_kind in [false, true] {
                    let sql = event_totals_sql(backend, bucket, with_kind);
                    assert!(sql.contains("WHERE organization_id = $1 AND"), "{sql}");
                    assert_eq!(sql.contains("kind = $4"), with_kind, "{sql}");
                }
            }
        }
    }
}
