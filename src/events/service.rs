//! The rules of events: what a tracked event may hold, and the newest-first list with a
//! keyset on `(occurred_at, id)` (events may be tracked late, so creation order is not
//! the order they happened in).

use async_graphql::{ID, Json};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Event, EventFilter, TrackEventInput};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, Total, page, page_request};
use crate::input::{JsonObject, parse_id};
use crate::tenant::{TenantDb, WriteError};
use entity::{EventKind, contact, event};

/// Longest event name.
const NAME_MAX_CHARS: usize = 64;
/// Largest `properties`, serialized: enough for a page's context, not for a payload store.
const PROPERTIES_MAX_BYTES: usize = 8 * 1024;
/// How far ahead of the server's clock `occurredAt` may be: trackers' clocks drift.
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

/// A valid event name: 1–64 characters of `a-z`, `0-9`, `_`, `.`, `:` and `-`, so names
/// group reliably in analytics (no case or spacing variants of the same name).
struct EventName(String);

impl EventName {
    fn parse(field: &str, raw: &str) -> AppResult<Self> {
        let allowed = |c: char| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
        };
        if raw.is_empty() || raw.len() > NAME_MAX_CHARS || !raw.chars().all(allowed) {
            return Err(AppError::invalid(
                field,
                format!("must be 1 to {NAME_MAX_CHARS} characters of a-z, 0-9, _, ., : and -"),
            ));
        }
        Ok(EventName(raw.to_owned()))
    }
}

/// `CUSTOM` events are only told apart by their name, so they need one.
fn name(kind: EventKind, raw: Option<String>) -> AppResult<Option<String>> {
    match (kind, raw) {
        (EventKind::Custom, None) => {
            Err(AppError::invalid("name", "is required for CUSTOM events"))
        }
        (_, None) => Ok(None),
        (_, Some(raw)) => Ok(Some(EventName::parse("name", &raw)?.0)),
    }
}

/// The properties as stored: a JSON object of at most 8 KiB.
fn properties(raw: Option<Json<serde_json::Value>>) -> AppResult<String> {
    match raw {
        None => Ok("{}".to_owned()),
        Some(Json(value)) => {
            Ok(JsonObject::parse("properties", value, PROPERTIES_MAX_BYTES)?.to_text())
        }
    }
}

/// When the event happened: not in the future (beyond clock drift), not older than the
/// organization keeps events (it would be deleted by the next retention run). Kept to
/// microseconds, what PostgreSQL stores, so both databases answer the same time.
async fn occurred_at(
    db: &TenantDb,
    raw: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<DateTime<Utc>> {
    let Some(at) = raw else {
        return Ok(now);
    };
    let at = crate::input::bounded_time("occurredAt", at)?;
    if at > now + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err(AppError::invalid(
            "occurredAt",
            format!("must not be more than {FUTURE_TOLERANCE_MINUTES} minutes in the future"),
        ));
    }
    let retention = db.organization().await?.event_retention_days;
    if at < now - Duration::days(i64::from(retention)) {
        return Err(AppError::invalid(
            "occurredAt",
            format!("must be within the organization's event retention of {retention} days"),
        ));
    }
    Ok(at.trunc_subsecs(6))
}

/// The contact the event belongs to; another organization's contact is not found here,
/// exactly like one that does not exist.
async fn contact(db: &TenantDb, raw: Option<ID>) -> AppResult<Option<Uuid>> {
    match raw {
        None => Ok(None),
        Some(id) => {
            let id = parse_id("contactId", &id)?;
            Ok(Some(db.get::<contact::Entity>(id).await?.id))
        }
    }
}

pub async fn track(db: &TenantDb, input: TrackEventInput) -> AppResult<event::Model> {
    let kind = EventKind::from(input.kind);
    let name = name(kind, input.name)?;
    let properties = properties(input.properties)?;
    let now = Utc::now().trunc_subsecs(6);
    let occurred_at = occurred_at(db, input.occurred_at, now).await?;
    let contact_id = contact(db, input.contact_id).await?;
    db.insert(event::ActiveModel {
        organization_id: NotSet,
        id: Set(Uuid::now_v7()),
        kind: Set(kind),
        name: Set(name),
        contact_id: Set(contact_id),
        properties: Set(properties),
        occurred_at: Set(occurred_at),
        created_at: Set(now),
    })
    .await
    .map_err(|error| match error {
        // The contact was deleted after it was looked up.
        WriteError::Reference(_) => AppError::not_found("contact"),
        other => other.into(),
    })
}

/// Where a page continues: the last event's time and id (ids break ties in time).
pub(crate) struct EventCursor {
    occurred_at: DateTime<Utc>,
    id: Uuid,
}

impl CursorKey for EventCursor {
    fn encode(&self) -> String {
        format!("e1:{}:{}", self.occurred_at.timestamp_micros(), self.id)
    }

    fn decode(raw: &str) -> Option<Self> {
        let (micros, id) = raw.strip_prefix("e1:")?.split_once(':')?;
        Some(EventCursor {
            // Tracked times are within the years 1970 to 9999; beyond, PostgreSQL's range
            // ends before chrono's.
            occurred_at: crate::input::bounded_time(
                "after",
                DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            )
            .ok()?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

pub async fn list(
    db: &TenantDb,
    first: Option<i32>,
    after: Option<String>,
    filter: EventFilter,
) -> AppResult<Page<Event, EventCursor>> {
    let request = page_request::<EventCursor>(first, after)?;
    let mut select = db.find::<event::Entity>();
    if let Some(kind) = filter.kind {
        select = select.filter(event::Column::Kind.eq(EventKind::from(kind)));
    }
    if let Some(name) = filter.name {
        select = select.filter(event::Column::Name.eq(name));
    }
    if let Some(contact) = &filter.contact_id {
        select = select.filter(event::Column::ContactId.eq(parse_id("filter.contactId", contact)?));
    }
    // Bounds kept to microseconds, like the stored times, so both databases agree.
    if let Some(from) = filter.from {
        let from = crate::input::bounded_time("filter.from", from)?;
        select = select.filter(event::Column::OccurredAt.gte(from.trunc_subsecs(6)));
    }
    if let Some(to) = filter.to {
        let to = crate::input::bounded_time("filter.to", to)?;
        select = select.filter(event::Column::OccurredAt.lt(to.trunc_subsecs(6)));
    }
    let total = Total::of(db, select.clone());
    if let Some(cursor) = &request.after {
        // A row comparison, so the indexes ending in (occurred_at, id) serve it directly.
        select = select.filter(
            Expr::tuple([
                Expr::col(event::Column::OccurredAt),
                Expr::col(event::Column::Id),
            ])
            .lt(Expr::tuple([
                Expr::val(cursor.occurred_at),
                Expr::val(cursor.id),
            ])),
        );
    }
    let rows = db
        .all(
            select
                .order_by_desc(event::Column::OccurredAt)
                .order_by_desc(event::Column::Id)
                .limit(request.limit + 1),
        )
        .await?;
    Ok(page(
        rows,
        &request,
        total,
        |row| EventCursor {
            occurred_at: row.occurred_at,
            id: row.id,
        },
        Event::from,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_lowercase_words_with_separators() {
        for good in [
            "signup",
            "signup.completed",
            "cart:item-added_2",
            &"a".repeat(64),
        ] {
            assert!(EventName::parse("name", good).is_ok(), "{good:?} refused");
        }
        for bad in ["", "Signup", "sign up", "café", &"a".repeat(65), "a/b"] {
            assert!(EventName::parse("name", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn custom_events_need_a_name() {
        assert!(name(EventKind::Custom, None).is_err());
        assert!(matches!(name(EventKind::PageView, None), Ok(None)));
        assert!(name(EventKind::Click, Some("Bad Name".into())).is_err());
    }

    #[test]
    fn properties_are_a_small_object() {
        assert_eq!(properties(None).ok().as_deref(), Some("{}"));
        assert!(properties(Some(Json(serde_json::json!([1, 2])))).is_err());
        assert!(properties(Some(Json(serde_json::json!("text")))).is_err());
        let big = serde_json::json!({ "x": "y".repeat(PROPERTIES_MAX_BYTES) });
        assert!(properties(Some(Json(big))).is_err());
        assert_eq!(
            properties(Some(Json(serde_json::json!({ "path": "/pricing" }))))
                .ok()
                .as_deref(),
            Some(r#"{"path":"/pricing"}"#)
        );
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = EventCursor {
            occurred_at: Utc::now().trunc_subsecs(6),
            id: Uuid::now_v7(),
        };
        let decoded = EventCursor::decode(&cursor.encode()).expect("decodes");
        assert_eq!(decoded.occurred_at, cursor.occurred_at);
        assert_eq!(decoded.id, cursor.id);
        assert!(EventCursor::decode("id1:whatever").is_none());
    }
}
