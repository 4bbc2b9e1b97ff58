//! Analytics: who may read it, what the summary counts (only the organization's own rows,
//! only in the period), the time series (UTC buckets, Monday weeks, every bucket present,
//! the type filter), the period rules, and a fixed number of SQL statements whatever the
//! number of rows.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Account, Reply, TestApp};
use crate::on_both_databases;

const SUMMARY: &str = "query($from: DateTime!, $to: DateTime!) { analytics {
    summary(from: $from, to: $to) { contacts conversations messages events conversionRate } } }";

const TOTALS: &str = "query($from: DateTime!, $to: DateTime!, $bucket: TimeBucket!, $type: EventType) {
    analytics { eventTotals(from: $from, to: $to, bucket: $bucket, type: $type) { bucketStart count } } }";

const TRACK: &str = "mutation($i: TrackEventInput!) { trackEvent(input: $i) { id } }";

fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() })
}

async fn summary(
    app: &TestApp,
    account: &Account,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    app.as_user(account, SUMMARY, period(from, to)).await.ok()["analytics"]["summary"].clone()
}

async fn totals(app: &TestApp, account: &Account, variables: Value) -> Vec<(DateTime<Utc>, u64)> {
    app.as_user(account, TOTALS, variables).await.ok()["analytics"]["eventTotals"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|bucket| {
            (
                bucket["bucketStart"]
                    .as_str()
                    .expect("start")
                    .parse()
                    .expect("a time"),
                bucket["count"].as_u64().expect("a count"),
            )
        })
        .collect()
}

async fn track(app: &TestApp, account: &Account, input: Value) -> String {
    app.as_user(account, TRACK, json!({ "i": input }))
        .await
        .ok()["trackEvent"]["id"]
        .as_str()
        .expect("event id")
        .to_owned()
}

fn uuid(id: &str) -> uuid::Uuid {
    id.parse().expect("a uuid")
}

/// A conversation with `contact`, started at `at`, written below the API (conversations
/// have no GraphQL API on this branch).
async fn conversation(
    app: &TestApp,
    account: &Account,
    contact: &str,
    at: DateTime<Utc>,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    app.execute_with(
        "INSERT INTO conversation (organization_id, id, contact_id, channel, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'web_chat', 'open', $4, $4)",
        vec![uuid(&account.organization_id).into(), id.into(), uuid(contact).into(), at.into()],
    )
    .await;
    id
}

async fn message(app: &TestApp, account: &Account, conversation: uuid::Uuid, at: DateTime<Utc>) {
    app.execute_with(
        "INSERT INTO message (organization_id, id, conversation_id, author, body, created_at) \
         VALUES ($1, $2, $3, 'contact', 'Hello', $4)",
        vec![
            uuid(&account.organization_id).into(),
            uuid::Uuid::now_v7().into(),
            conversation.into(),
            at.into(),
        ],
    )
    .await;
}

async fn created_at(app: &TestApp, contact: &str, at: DateTime<Utc>) {
    app.execute_with(
        "UPDATE contact SET created_at = $1 WHERE id = $2",
        vec![at.into(), uuid(contact).into()],
    )
    .await;
}

fn field(reply: Reply) -> Value {
    reply.expect_code("BAD_USER_INPUT")["errors"][0]["extensions"]["field"].clone()
}

/// The Monday 00:00 UTC some eight weeks back, so a three-week series sits well inside
/// the default retention and in the past.
fn a_past_monday() -> DateTime<Utc> {
    let day = (Utc::now() - Duration::days(60)).date_naive();
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    monday.and_time(NaiveTime::MIN).and_utc()
}

/// Statements of a request, without those of background tasks (mail, key usage).
fn request_statements(recorded: Vec<String>) -> Vec<String> {
    recorded
        .into_iter()
        .filter(|sql| !sql.contains("outbox") && !sql.contains("api_key"))
        .collect()
}

on_both_databases! {
    async fn analytics_is_for_managers_and_keys_with_analytics_read(app) {
        let owner = app.sign_up("ann", "acme").await;
        let mut team = vec![("OWNER", owner.clone())];
        for role in ["ADMIN", "MANAGER", "MEMBER", "VIEWER"] {
            team.push((role, app.join(&owner, &role.to_lowercase(), role).await));
        }
        let now = Utc::now();
        let variables = json!({ "from": (now - Duration::days(7)).to_rfc3339(), "to": now.to_rfc3339(), "bucket": "DAY" });
        let both = "query($from: DateTime!, $to: DateTime!, $bucket: TimeBucket!) { analytics {
            summary(from: $from, to: $to) { events } eventTotals(from: $from, to: $to, bucket: $bucket) { count } } }";
        for (role, account) in &team {
            let reply = app.as_user(account, both, variables.clone()).await;
            if ["OWNER", "ADMIN", "MANAGER"].contains(role) {
                let data = reply.ok();
                assert_eq!(data["analytics"]["summary"]["events"], 0, "{role}");
                assert_eq!(data["analytics"]["eventTotals"].as_array().map(Vec::len), Some(8), "{role}");
            } else {
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{role}: {}", reply.body);
                assert_eq!(reply.body["data"], Value::Null, "{role}");
            }
        }
        let (_, analyst) = app.create_api_key(&owner, "dashboard", &["ANALYTICS_READ"]).await;
        let (_, tracker) = app.create_api_key(&owner, "tracker", &["EVENTS_WRITE", "CONTACTS_READ"]).await;
        let data = app.as_key(&analyst, both, variables.clone()).await.ok();
        assert_eq!(data["analytics"]["summary"]["events"], 0);
        app.as_key(&tracker, both, variables.clone()).await.expect_code("FORBIDDEN");
        // analytics:read opens analytics only.
        app.as_key(&analyst, TRACK, json!({ "i": { "type": "CLICK" } })).await.expect_code("FORBIDDEN");
        app.as_key(&analyst, "{ events { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
        app.as_key(&analyst, "{ contacts { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
    }

    async fn the_summary_counts_the_organizations_own_rows_in_the_period(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let now = Utc::now();
        let (from, to) = (now - Duration::days(7), now + Duration::hours(1));
        let inside = now - Duration::days(1);
        let outside = now - Duration::days(20);

        // Contacts: three created now, one long ago.
        let c1 = app.create_contact(&ann, "One", "one@example.com").await;
        let c2 = app.create_contact(&ann, "Two", "two@example.com").await;
        let c3 = app.create_contact(&ann, "Three", "three@example.com").await;
        let old = app.create_contact(&ann, "Old", "old@example.com").await;
        created_at(&app, &old, outside).await;
        // Conversations: c1 and c3 start one in the period (c3 has no events), c2 before it.
        let talk = conversation(&app, &ann, &c1, inside).await;
        conversation(&app, &ann, &c3, inside).await;
        let earlier = conversation(&app, &ann, &c2, outside).await;
        message(&app, &ann, talk, inside).await;
        message(&app, &ann, talk, inside).await;
        message(&app, &ann, earlier, outside).await;
        // Events: c1 twice and c2 once in the period, one without a contact, one of c1's
        // before the period.
        for contact in [Some(&c1), Some(&c1), Some(&c2), None] {
            track(&app, &ann, json!({ "type": "PAGE_VIEW", "contactId": contact, "occurredAt": inside.to_rfc3339() })).await;
        }
        track(&app, &ann, json!({ "type": "PAGE_VIEW", "contactId": c1, "occurredAt": outside.to_rfc3339() })).await;

        // Bob's busy organization changes none of Ann's numbers.
        let b1 = app.create_contact(&bob, "Bobco one", "one@bobco.example.com").await;
        let b_talk = conversation(&app, &bob, &b1, inside).await;
        message(&app, &bob, b_talk, inside).await;
        for _ in 0..3 {
            track(&app, &bob, json!({ "type": "CLICK", "contactId": b1, "occurredAt": inside.to_rfc3339() })).await;
        }

        let ours = summary(&app, &ann, from, to).await;
        assert_eq!(ours["contacts"], 3, "{ours}");
        assert_eq!(ours["conversations"], 2, "{ours}");
        assert_eq!(ours["messages"], 2, "{ours}");
        assert_eq!(ours["events"], 4, "{ours}");
        // Of c1 and c2 (contacts with events), only c1 started a conversation.
        assert_eq!(ours["conversionRate"], 0.5, "{ours}");

        let theirs = summary(&app, &bob, from, to).await;
        assert_eq!(theirs, json!({ "contacts": 1, "conversations": 1, "messages": 1, "events": 3, "conversionRate": 1.0 }));

        // A quiet period: zeros, and no conversion without events.
        let quiet = summary(&app, &ann, now - Duration::days(300), now - Duration::days(200)).await;
        assert_eq!(quiet, json!({ "contacts": 0, "conversations": 0, "messages": 0, "events": 0, "conversionRate": 0.0 }));
        // The end of the period is exclusive.
        let until_inside = summary(&app, &ann, from, inside).await;
        assert_eq!(until_inside["events"], 0);
        assert_eq!(until_inside["conversations"], 0);
    }

    async fn event_totals_fill_every_utc_bucket(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let monday = a_past_monday();
        let day = |days: i64, hours: i64| monday + Duration::days(days) + Duration::hours(hours);
        // The period: Wednesday noon of week 1 to Thursday 00:00 of week 3.
        let (from, to) = (day(2, 12), day(17, 0));
        let events = [
            (day(1, 10), "PAGE_VIEW"), // before the period, in its first week: not counted
            (day(2, 13), "PAGE_VIEW"), // week 1, Wednesday
            (day(3, 9), "CLICK"),      // week 1, Thursday
            (day(8, 0), "PAGE_VIEW"),  // week 2, Tuesday 00:00
            (day(8, 24) - Duration::seconds(1), "PAGE_VIEW"), // week 2, Tuesday 23:59:59
            (day(16, 10), "CLICK"),    // week 3, Wednesday
            (day(17, 0), "CLICK"),     // the end of the period: not counted
        ];
        for (at, kind) in events {
            track(&app, &ann, json!({ "type": kind, "occurredAt": at.to_rfc3339() })).await;
        }
        // Monday 22:00 UTC of week 2, sent as Tuesday 03:00 at +05:00: counted on Monday.
        let east = chrono::FixedOffset::east_opt(5 * 3600).expect("offset");
        track(&app, &ann, json!({ "type": "PAGE_VIEW", "occurredAt": day(7, 22).with_timezone(&east).to_rfc3339() })).await;
        // Bob's events on the same days are his own.
        for days in [2, 3, 8, 16] {
            track(&app, &bob, json!({ "type": "PAGE_VIEW", "occurredAt": day(days, 14).to_rfc3339() })).await;
        }

        let series = |bucket: &str, kind: Option<&str>| json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339(), "bucket": bucket, "type": kind });
        let weeks = totals(&app, &ann, series("WEEK", None)).await;
        assert_eq!(weeks, vec![(day(0, 0), 2), (day(7, 0), 3), (day(14, 0), 1)], "weeks start on Monday");
        let page_views = totals(&app, &ann, series("WEEK", Some("PAGE_VIEW"))).await;
        assert_eq!(page_views, vec![(day(0, 0), 1), (day(7, 0), 3), (day(14, 0), 0)], "zero-filled");

        let days = totals(&app, &ann, series("DAY", None)).await;
        let expected: Vec<(DateTime<Utc>, u64)> = (0..15)
            .map(|index| {
                let count = match index {
                    0 | 1 | 5 | 14 => 1,
                    6 => 2,
                    _ => 0,
                };
                (day(2 + index, 0), count)
            })
            .collect();
        assert_eq!(days, expected, "every day from Wednesday of week 1 to Wednesday of week 3");
        let customs = totals(&app, &ann, series("DAY", Some("CUSTOM"))).await;
        assert_eq!(customs.len(), 15);
        assert!(customs.iter().all(|(_, count)| *count == 0));
    }

    async fn a_period_runs_forward_for_at_most_366_days(app) {
        let ann = app.sign_up("ann", "acme").await;
        let now = Utc::now();
        let both = |from: DateTime<Utc>, to: DateTime<Utc>| {
            [
                (SUMMARY, period(from, to)),
                (TOTALS, json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339(), "bucket": "WEEK" })),
            ]
        };
        for (query, variables) in both(now, now) {
            assert_eq!(field(app.as_user(&ann, query, variables).await), "from");
        }
        for (query, variables) in both(now, now - Duration::days(1)) {
            assert_eq!(field(app.as_user(&ann, query, variables).await), "from");
        }
        for (query, variables) in both(now - Duration::days(367), now) {
            assert_eq!(field(app.as_user(&ann, query, variables).await), "to");
        }
        for (query, variables) in both(now - Duration::days(366), now) {
            app.as_user(&ann, query, variables).await.ok();
        }
        let year = totals(&app, &ann, json!({ "from": (now - Duration::days(366)).to_rfc3339(), "to": now.to_rfc3339(), "bucket": "DAY" })).await;
        assert!((366..=367).contains(&year.len()), "{}", year.len());
    }
}

/// Statements of one summary and one series request, with `events` events in the
/// organization.
async fn analytics_statements(app: &TestApp, ann: &Account) -> (Vec<String>, Vec<String>) {
    let now = Utc::now();
    // Every event was tracked before `now`; ending the period at `now` keeps it to 31 days
    // whatever the time of day.
    let variables = json!({ "from": (now - Duration::days(30)).to_rfc3339(), "to": now.to_rfc3339(), "bucket": "DAY" });
    app.statements.watch();
    app.as_user(ann, SUMMARY, variables.clone()).await.ok();
    let summary = request_statements(app.statements.take());
    app.statements.watch();
    let counted = totals(app, ann, variables).await;
    let series = request_statements(app.statements.take());
    assert_eq!(counted.len(), 31);
    (summary, series)
}

/// Tracks `count` events spread over the last four weeks and a few contacts, 40 to a
/// request (aliases), so the aggregates have many rows and buckets to go through.
async fn track_many(app: &TestApp, ann: &Account, contacts: &[String], count: usize) {
    let now = Utc::now();
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(40);
        let fields: Vec<String> = (0..batch)
            .map(|i| {
                let n = done + i;
                let at = (now - Duration::hours((n as i64 * 7) % (24 * 28))).to_rfc3339();
                let contact = match contacts.get(n % (contacts.len() + 1)) {
                    Some(id) => format!(", contactId: \"{id}\""),
                    None => String::new(),
                };
                format!("e{i}: trackEvent(input: {{ type: PAGE_VIEW, occurredAt: \"{at}\"{contact} }}) {{ id }}")
            })
            .collect();
        app.as_user(
            ann,
            &format!("mutation {{ {} }}", fields.join(" ")),
            json!({}),
        )
        .await
        .ok();
        done += batch;
    }
}

async fn analytics_cost_the_same_statements_for_3_and_300_events(backend: crate::helpers::Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.api_keys.api_key_usage_flush_secs = 3600;
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    let mut contacts = Vec::new();
    for n in 0..4 {
        contacts.push(
            app.create_contact(&ann, &format!("Contact {n}"), &format!("c{n}@example.com"))
                .await,
        );
    }
    for contact in &contacts[..2] {
        conversation(&app, &ann, contact, Utc::now() - Duration::days(2)).await;
    }
    track_many(&app, &ann, &contacts, 3).await;
    let (few_summary, few_series) = analytics_statements(&app, &ann).await;
    track_many(&app, &ann, &contacts, 297).await;
    assert_eq!(app.count_rows("SELECT count(*) FROM event").await, 300);
    let (many_summary, many_series) = analytics_statements(&app, &ann).await;

    assert_eq!(
        few_summary.len(),
        many_summary.len(),
        "{few_summary:#?}\n{many_summary:#?}"
    );
    assert_eq!(
        few_series.len(),
        many_series.len(),
        "{few_series:#?}\n{many_series:#?}"
    );
    // One aggregate statement each reads the data; the rest (one to three) binds the
    // request to its session and organization.
    for statements in [&few_summary, &many_summary, &few_series, &many_series] {
        let reading: Vec<&String> = statements
            .iter()
            .filter(|sql| sql.contains("FROM event"))
            .collect();
        assert_eq!(reading.len(), 1, "{statements:#?}");
        assert!(statements.len() <= 4, "{statements:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_cost_the_same_statements_for_3_and_300_events_sqlite() {
    analytics_cost_the_same_statements_for_3_and_300_events(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_cost_the_same_statements_for_3_and_300_events_postgres() {
    analytics_cost_the_same_statements_for_3_and_300_events(crate::helpers::Backend::Postgres)
        .await;
}

on_both_databases! {
    async fn dates_outside_the_years_1970_to_9999_are_bad_input_not_a_crash(app) {
        let owner = app.sign_up("ann", "acme").await;
        let far = "+262142-12-01T00:00:00Z";
        let cases = [
            ("analytics { eventTotals(from: $t, to: \"2026-01-02T00:00:00Z\", bucket: WEEK) { count } }", "from"),
            ("analytics { eventTotals(from: \"2026-01-01T00:00:00Z\", to: $t, bucket: DAY) { count } }", "to"),
            ("analytics { summary(from: $t, to: \"2026-01-02T00:00:00Z\") { events } }", "from"),
            ("contacts(filter: { createdFrom: $t }) { totalCount }", "filter.createdFrom"),
            ("contacts(filter: { createdTo: $t }) { totalCount }", "filter.createdTo"),
            ("events(filter: { from: $t }) { totalCount }", "filter.from"),
            ("events(filter: { to: $t }) { totalCount }", "filter.to"),
        ];
        for time in [far, "0100-01-01T00:00:00Z"] {
            for (selection, field) in cases {
                let query = format!("query($t: DateTime!) {{ {selection} }}");
                let body = app.as_user(&owner, &query, json!({ "t": time })).await.expect_code("BAD_USER_INPUT");
                assert_eq!(body["errors"][0]["extensions"]["field"], field, "{selection}: {body}");
            }
            for (mutation, field) in [
                ("trackEvent(input: { type: PAGE_VIEW, occurredAt: $t }) { id }", "occurredAt"),
                ("createApiKey(input: { name: \"k\", scopes: [CONTACTS_READ], expiresAt: $t }) { secret }", "expiresAt"),
            ] {
                let query = format!("mutation($t: DateTime!) {{ {mutation} }}");
                let body = app.as_user(&owner, &query, json!({ "t": time })).await.expect_code("BAD_USER_INPUT");
                assert_eq!(body["errors"][0]["extensions"]["field"], field, "{mutation}: {body}");
            }
        }
        // The server is still there, and the same query with sane dates answers.
        app.as_user(&owner, "{ analytics { eventTotals(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-15T00:00:00Z\", bucket: WEEK) { count } } }", json!({}))
            .await
            .ok();
    }
}
