//! Analytics: what the organization's contacts, conversations, messages and events add up
//! to over a period, for dashboards. MANAGER or higher, or an API key with
//! `analytics:read`. Every answer costs a fixed number of SQL statements, however many
//! rows it counts.

mod service;

use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::events::EventType;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::policy::Permission as P;

/// The width of the buckets of a time series, in UTC.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBucket {
    /// Calendar days, from 00:00 UTC.
    Day,
    /// ISO weeks, from Monday 00:00 UTC.
    Week,
}

/// Totals over a period `[from, to)`.
#[derive(SimpleObject)]
pub struct AnalyticsSummary {
    /// Contacts created in the period.
    pub contacts: u64,
    /// Conversations started in the period.
    pub conversations: u64,
    /// Messages posted in the period.
    pub messages: u64,
    /// Events that occurred in the period.
    pub events: u64,
    /// Of the distinct contacts with at least one event in the period, the share who
    /// also started a conversation in the period: from 0 to 1, and 0 when no contact
    /// had an event. Events and conversations without a contact do not count.
    pub conversion_rate: f64,
}

/// How many events one bucket of a time series holds.
#[derive(SimpleObject)]
pub struct EventTotal {
    /// Where the bucket starts: 00:00 UTC of its day, or of its week's Monday. The first
    /// bucket may start before `from`; only events in `[from, to)` are counted.
    pub bucket_start: DateTime<Utc>,
    pub count: u64,
}

/// The organization's analytics. Each field takes a period `[from, to)` of at most 366
/// days.
#[derive(Default)]
pub struct Analytics;

#[Object]
impl Analytics {
    /// Totals over `[from, to)`, counted in one statement.
    #[graphql(
        guard = "Allow(P::ReadAnalytics)",
        visible = "crate::policy::visible::read_analytics"
    )]
    async fn summary(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> GqlResult<AnalyticsSummary> {
        Ok(service::summary(ctx.request()?.tenant_with(P::ReadAnalytics)?, from, to).await?)
    }

    /// Events over `[from, to)` per UTC day or week, oldest first, with every bucket of
    /// the period present (zero when nothing happened); only events of `type` when
    /// given.
    #[graphql(
        guard = "Allow(P::ReadAnalytics)",
        visible = "crate::policy::visible::read_analytics"
    )]
    async fn event_totals(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: TimeBucket,
        #[graphql(name = "type")] kind: Option<EventType>,
    ) -> GqlResult<Vec<EventTotal>> {
        Ok(service::event_totals(
            ctx.request()?.tenant_with(P::ReadAnalytics)?,
            service::Series {
                from,
                to,
                bucket,
                kind,
            },
        )
        .await?)
    }
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Dashboards' numbers. MANAGER or higher, or an API key with `analytics:read`.
    #[graphql(
        guard = "Allow(P::ReadAnalytics)",
        visible = "crate::policy::visible::read_analytics"
    )]
    async fn analytics(&self) -> Analytics {
        Analytics
    }
}
