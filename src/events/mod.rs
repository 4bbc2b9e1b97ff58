//! Events: what contacts and visitors did (page views, article views, mentions, clicks and
//! custom events), tracked by members and by partners' keys, listed for the team and
//! counted by analytics. Events are data, not changes to the organization: they are not
//! audited.

mod service;

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::pagination::Page;
use crate::policy::Permission as P;
use entity::event;

/// What kind of thing happened.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::EventKind")]
pub enum EventType {
    /// A page of the organization's site was viewed.
    PageView,
    /// An article (help center, blog) was read.
    ArticleView,
    /// The organization or its product was mentioned somewhere.
    Mention,
    /// Something was clicked: a link, a button, a call to action.
    Click,
    /// Anything else, told apart by its `name`.
    Custom,
}

/// Something a contact or visitor did.
#[derive(SimpleObject, Clone)]
pub struct Event {
    pub id: ID,
    /// What kind of thing happened.
    #[graphql(name = "type")]
    pub kind: EventType,
    /// What happened, in the tracker's words (always set for `CUSTOM` events).
    pub name: Option<String>,
    /// The contact it happened to, if known. Deleting the contact deletes their events.
    pub contact_id: Option<ID>,
    /// Free-form details, as tracked: a JSON object. Partners may put personal data
    /// here, so it is for MEMBER or higher, like a contact's email (and for the key that
    /// tracks the event, in `trackEvent`'s answer).
    #[graphql(
        guard = "crate::graphql::guards::Allow(crate::policy::Permission::ReadEventProperties)",
        visible = "crate::policy::visible::read_event_properties"
    )]
    pub properties: Json<serde_json::Value>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was tracked.
    pub created_at: DateTime<Utc>,
}

impl crate::graphql::plain::PageNode for Event {}

impl From<event::Model> for Event {
    fn from(model: event::Model) -> Self {
        Event {
            id: ID(model.id.to_string()),
            kind: model.kind.into(),
            name: model.name,
            contact_id: model.contact_id.map(|id| ID(id.to_string())),
            // Written by `trackEvent` as a serialized object; anything else reads as `{}`.
            properties: Json(
                serde_json::from_str(&model.properties)
                    .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            ),
            occurred_at: model.occurred_at,
            created_at: model.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct TrackEventInput {
    /// What kind of thing happened.
    #[graphql(name = "type")]
    pub kind: EventType,
    /// 1–64 characters of `a-z`, `0-9`, `_`, `.`, `:` and `-` (e.g. `signup.completed`).
    /// Required for `CUSTOM`, optional otherwise.
    pub name: Option<String>,
    /// A contact of this organization.
    pub contact_id: Option<ID>,
    /// A JSON object of at most 8 KiB once serialized; defaults to `{}`.
    pub properties: Option<Json<serde_json::Value>>,
    /// When it happened; defaults to now. At most 5 minutes ahead of the server's clock,
    /// and not older than the organization's `eventRetentionDays`.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Narrows the list; all given conditions must hold.
#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Only events of this type.
    #[graphql(name = "type")]
    pub kind: Option<EventType>,
    /// Exactly this name.
    pub name: Option<String>,
    /// Only this contact's events.
    pub contact_id: Option<ID>,
    /// Only events that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events that occurred before this time.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The organization's events, most recent `occurredAt` first, a page at a time
    /// (`first` 1–100, default 20). VIEWER or higher; API keys cannot read events.
    #[graphql(
        guard = "Allow(P::ReadEvents)",
        visible = "crate::policy::visible::read_events",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EventFilter>,
    ) -> GqlResult<Page<Event, service::EventCursor>> {
        Ok(service::list(
            ctx.request()?.tenant()?,
            first,
            after,
            filter.unwrap_or_default(),
        )
        .await?)
    }
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Records an event. MEMBER or higher, or an API key with `events:write`. Refused
    /// while the organization is suspended or canceled.
    #[graphql(
        guard = "Allow(P::TrackEvents)",
        visible = "crate::policy::visible::track_events"
    )]
    async fn track_event(&self, ctx: &Context<'_>, input: TrackEventInput) -> GqlResult<Event> {
        Ok(
            service::track(ctx.request()?.tenant_with(P::TrackEvents)?, input)
                .await?
                .into(),
        )
    }
}
