//! The rules of analytics: which periods may be asked for, what the conversion rate
//! means, and the time series with every bucket present.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, SubsecRound, Utc};

use super::{AnalyticsSummary, EventTotal, TimeBucket};
use crate::error::{AppError, AppResult};
use crate::events::EventType;
use crate::tenant::{ActivityCounts, Bucket, Period, TenantDb};

/// The longest period one question may cover: a year, leap day included. It bounds the
/// rows a statement reads and the buckets an answer holds (at most 368 days).
const MAX_PERIOD_DAYS: i64 = 366;

/// What `eventTotals` asks for.
pub struct Series {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: TimeBucket,
    pub kind: Option<EventType>,
}

/// `[from, to)`: `from` before `to`, at most 366 days apart. Kept to microseconds, what
/// the stored times hold, so both databases draw the bounds alike.
fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Period> {
    let from = crate::input::bounded_time("from", from)?.trunc_subsecs(6);
    let to = crate::input::bounded_time("to", to)?.trunc_subsecs(6);
    if from >= to {
        return Err(AppError::invalid("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(AppError::invalid(
            "to",
            format!("must be at most {MAX_PERIOD_DAYS} days after `from`"),
        ));
    }
    Ok(Period { from, to })
}

/// Converted contacts over active contacts, 0 without active contacts.
fn conversion_rate(counts: &ActivityCounts) -> f64 {
    if counts.active_contacts == 0 {
        0.0
    } else {
        counts.converted_contacts as f64 / counts.active_contacts as f64
    }
}

pub async fn summary(
    db: &TenantDb,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<AnalyticsSummary> {
    let counts = db.activity_counts(period(from, to)?).await?;
    Ok(AnalyticsSummary {
        contacts: counts.contacts,
        conversations: counts.conversations,
        messages: counts.messages,
        events: counts.events,
        conversion_rate: conversion_rate(&counts),
    })
}

impl From<TimeBucket> for Bucket {
    fn from(bucket: TimeBucket) -> Self {
        match bucket {
            TimeBucket::Day => Bucket::Day,
            TimeBucket::Week => Bucket::Week,
        }
    }
}

/// The first day of the bucket `day` falls in.
fn bucket_start(day: NaiveDate, bucket: TimeBucket) -> NaiveDate {
    match bucket {
        TimeBucket::Day => day,
        TimeBucket::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
    }
}

/// Every bucket that overlaps `[from, to)`, in order, with the counts found (zero for
/// the others).
fn fill(series: &Series, counted: &HashMap<NaiveDate, u64>) -> Vec<EventTotal> {
    let step = match series.bucket {
        TimeBucket::Day => Duration::days(1),
        TimeBucket::Week => Duration::days(7),
    };
    let mut day = bucket_start(series.from.date_naive(), series.bucket);
    let mut totals = Vec::new();
    loop {
        let start = day.and_time(NaiveTime::MIN).and_utc();
        if start >= series.to {
            return totals;
        }
        totals.push(EventTotal {
            bucket_start: start,
            count: counted.get(&day).copied().unwrap_or(0),
        });
        day += step;
    }
}

pub async fn event_totals(db: &TenantDb, series: Series) -> AppResult<Vec<EventTotal>> {
    let period = period(series.from, series.to)?;
    let counted: HashMap<NaiveDate, u64> = db
        .event_totals(period, series.bucket.into(), series.kind.map(Into::into))
        .await?
        .into_iter()
        .collect();
    Ok(fill(&series, &counted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn periods_run_forward_for_at_most_366_days() {
        let from = at("2026-01-01T00:00:00Z");
        assert!(period(from, from).is_err());
        assert!(period(from, from - Duration::seconds(1)).is_err());
        assert!(period(from, from + Duration::days(366)).is_ok());
        assert!(period(from, from + Duration::days(366) + Duration::seconds(1)).is_err());
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-01-07 is a Wednesday; 2026-01-05 the Monday before; a Monday is its own.
        let wednesday = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap_or_default();
        let monday = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
        assert_eq!(bucket_start(wednesday, TimeBucket::Week), monday);
        assert_eq!(bucket_start(monday, TimeBucket::Week), monday);
        assert_eq!(bucket_start(wednesday, TimeBucket::Day), wednesday);
    }

    #[test]
    fn every_bucket_of_the_period_is_present() {
        let series = Series {
            from: at("2026-01-07T12:00:00Z"),
            to: at("2026-01-20T00:00:00Z"),
            bucket: TimeBucket::Week,
            kind: None,
        };
        let monday = NaiveDate::from_ymd_opt(2026, 1, 12).unwrap_or_default();
        let totals = fill(&series, &HashMap::from([(monday, 4)]));
        let starts: Vec<String> = totals.iter().map(|t| t.bucket_start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-01-05T00:00:00+00:00",
                "2026-01-12T00:00:00+00:00",
                "2026-01-19T00:00:00+00:00"
            ]
        );
        assert_eq!(
            totals.iter().map(|t| t.count).collect::<Vec<_>>(),
            [0, 4, 0]
        );
    }

    #[test]
    fn no_events_is_no_conversion() {
        assert_eq!(conversion_rate(&ActivityCounts::default()), 0.0);
        let counts = ActivityCounts {
            active_contacts: 4,
            converted_contacts: 1,
            ..ActivityCounts::default()
        };
        assert_eq!(conversion_rate(&counts), 0.25);
    }
}
