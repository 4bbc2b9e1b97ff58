//! Events: who may track and read them, what a tracked event may hold, the list (newest
//! first, filters, pages), other organizations' contacts, the retention setting and the
//! `ENFORCE_RETENTION` job.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::helpers::{Account, Backend, Reply, TestApp};
use crate::on_both_databases;

const TRACK: &str = "mutation($i: TrackEventInput!) { trackEvent(input: $i) {
    id type name contactId properties occurredAt createdAt } }";

const LIST: &str = "query($first: Int, $after: String, $filter: EventFilter) {
    events(first: $first, after: $after, filter: $filter) {
        totalCount edges { cursor node { id type name contactId occurredAt } }
        pageInfo { hasNextPage endCursor } } }";

async fn track(app: &TestApp, account: &Account, input: Value) -> Reply {
    app.as_user(account, TRACK, json!({ "i": input })).await
}

/// Tracks an event as `account` and answers it.
async fn tracked(app: &TestApp, account: &Account, input: Value) -> Value {
    track(app, account, input).await.ok()["trackEvent"].clone()
}

async fn list(app: &TestApp, account: &Account, filter: Value) -> Value {
    app.as_user(account, LIST, json!({ "first": 100, "filter": filter }))
        .await
        .ok()["events"]
        .clone()
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn id(event: &Value) -> String {
    event["id"].as_str().expect("event id").to_owned()
}

fn ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

fn field(reply: Reply) -> Value {
    reply.expect_code("BAD_USER_INPUT")["errors"][0]["extensions"]["field"].clone()
}

on_both_databases! {
    async fn members_and_keys_with_events_write_track_events(app) {
        let owner = app.sign_up("ann", "acme").await;
        let member = app.join(&owner, "mia", "MEMBER").await;
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        let contact = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let (_, writer) = app.create_api_key(&owner, "tracker", &["EVENTS_WRITE"]).await;
        let (_, reader) = app.create_api_key(&owner, "reader", &["CONTACTS_READ", "ANALYTICS_READ"]).await;
        let audit_before = app.as_user(&owner, "{ auditLog { totalCount } }", json!({})).await.ok()["auditLog"]["totalCount"].clone();

        let by_member = tracked(&app, &member, json!({
            "type": "PAGE_VIEW", "contactId": contact, "properties": { "path": "/pricing", "ref": ["ad", 3] },
        })).await;
        assert_eq!(by_member["type"], "PAGE_VIEW");
        assert_eq!(by_member["name"], Value::Null);
        assert_eq!(by_member["contactId"], contact.as_str());
        assert_eq!(by_member["properties"], json!({ "path": "/pricing", "ref": ["ad", 3] }));
        let occurred: DateTime<Utc> = by_member["occurredAt"].as_str().expect("time").parse().expect("a time");
        assert!((Utc::now() - occurred).num_seconds().abs() < 60, "occurredAt defaults to now");
        assert_eq!(by_member["occurredAt"], by_member["createdAt"]);

        let by_key = app
            .as_key(&writer, TRACK, json!({ "i": { "type": "CUSTOM", "name": "signup.completed" } }))
            .await
            .ok()["trackEvent"]
            .clone();
        assert_eq!(by_key["type"], "CUSTOM");
        assert_eq!(by_key["name"], "signup.completed");
        assert_eq!(by_key["properties"], json!({}));

        // VIEWERs and keys without events:write are refused; nothing is written.
        track(&app, &viewer, json!({ "type": "CLICK" })).await.expect_code("FORBIDDEN");
        app.as_key(&reader, TRACK, json!({ "i": { "type": "CLICK" } })).await.expect_code("FORBIDDEN");
        // events:write does not read events (there is no events:read scope).
        app.as_key(&writer, "{ events { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
        app.as_key(&reader, "{ events { totalCount } }", json!({})).await.expect_code("FORBIDDEN");

        let seen = list(&app, &viewer, json!(null)).await;
        assert_eq!(seen["totalCount"], 2, "VIEWERs read events");
        assert_eq!(ids(&seen), [id(&by_key), id(&by_member)]);
        // Properties may hold personal data: VIEWERs get null with FORBIDDEN, MEMBERs read.
        let details = "{ events { edges { node { type properties } } } }";
        let hidden = app.as_user(&viewer, details, json!({})).await;
        assert_eq!(hidden.code(), Some("FORBIDDEN"));
        assert_eq!(hidden.body["data"]["events"]["edges"][0]["node"]["properties"], Value::Null);
        let shown = app.as_user(&owner, details, json!({})).await.ok();
        assert!(shown["events"]["edges"][0]["node"]["properties"].is_object());
        assert_eq!(app.count_rows("SELECT count(*) FROM event").await, 2);
        // Events are data, not changes to the organization: not audited.
        let audit_after = app.as_user(&owner, "{ auditLog { totalCount } }", json!({})).await.ok()["auditLog"]["totalCount"].clone();
        assert_eq!(audit_before, audit_after);

        // A suspended organization tracks nothing, from members or keys.
        app.as_user(&owner, "mutation { updateOrganization(input: { status: SUSPENDED }) { status } }", json!({})).await.ok();
        track(&app, &member, json!({ "type": "CLICK" })).await.expect_code("FORBIDDEN");
        app.as_key(&writer, TRACK, json!({ "i": { "type": "CLICK" } })).await.expect_code("FORBIDDEN");
        assert_eq!(list(&app, &viewer, json!(null)).await["totalCount"], 2, "reads still work");
        app.as_user(&owner, "mutation { updateOrganization(input: { status: ACTIVE }) { status } }", json!({})).await.ok();
        track(&app, &member, json!({ "type": "CLICK" })).await.ok();
    }

    async fn every_invalid_event_names_its_field_and_writes_nothing(app) {
        let owner = app.sign_up("ann", "acme").await;
        let soon = (Utc::now() + Duration::minutes(10)).to_rfc3339();
        let too_old = ago(366).to_rfc3339();
        let cases = [
            (json!({ "type": "CUSTOM" }), "name"),
            (json!({ "type": "CUSTOM", "name": "" }), "name"),
            (json!({ "type": "CUSTOM", "name": "a".repeat(65) }), "name"),
            (json!({ "type": "CLICK", "name": "Buy Now" }), "name"),
            (json!({ "type": "CLICK", "name": "café" }), "name"),
            (json!({ "type": "PAGE_VIEW", "properties": [1, 2] }), "properties"),
            (json!({ "type": "PAGE_VIEW", "properties": "text" }), "properties"),
            (json!({ "type": "PAGE_VIEW", "properties": { "blob": "x".repeat(8 * 1024) } }), "properties"),
            (json!({ "type": "PAGE_VIEW", "occurredAt": soon }), "occurredAt"),
            (json!({ "type": "PAGE_VIEW", "occurredAt": too_old }), "occurredAt"),
            (json!({ "type": "PAGE_VIEW", "contactId": "not-an-id" }), "contactId"),
        ];
        for (input, expected) in cases {
            let reply = track(&app, &owner, input.clone()).await;
            assert_eq!(field(reply), expected, "{input}");
        }
        assert_eq!(list(&app, &owner, json!(null)).await["totalCount"], 0, "nothing was written");

        // The limits themselves are accepted.
        tracked(&app, &owner, json!({ "type": "CUSTOM", "name": "a".repeat(64) })).await;
        tracked(&app, &owner, json!({ "type": "MENTION", "name": "press:tech-daily_2.0" })).await;
        tracked(&app, &owner, json!({ "type": "PAGE_VIEW", "occurredAt": (Utc::now() + Duration::minutes(4)).to_rfc3339() })).await;
        tracked(&app, &owner, json!({ "type": "PAGE_VIEW", "occurredAt": ago(364).to_rfc3339() })).await;
        let large = json!({ "blob": "x".repeat(8 * 1024 - 20) });
        assert_eq!(tracked(&app, &owner, json!({ "type": "CLICK", "properties": large.clone() })).await["properties"], large);
        assert_eq!(list(&app, &owner, json!(null)).await["totalCount"], 5);
    }

    async fn retention_is_an_admin_setting_that_bounds_occurred_at(app) {
        let owner = app.sign_up("ann", "acme").await;
        let admin = app.join(&owner, "ada", "ADMIN").await;
        let manager = app.join(&owner, "max", "MANAGER").await;
        let set = "mutation($d: Int!) { updateOrganization(input: { eventRetentionDays: $d }) { eventRetentionDays } }";
        let current = app.as_user(&owner, "{ organization { eventRetentionDays } }", json!({})).await.ok();
        assert_eq!(current["organization"]["eventRetentionDays"], 365);
        for bad in [0, -1, 3651] {
            assert_eq!(field(app.as_user(&admin, set, json!({ "d": bad })).await), "eventRetentionDays", "{bad}");
        }
        app.as_user(&manager, set, json!({ "d": 30 })).await.expect_code("FORBIDDEN");
        let changed = app.as_user(&admin, set, json!({ "d": 30 })).await.ok();
        assert_eq!(changed["updateOrganization"]["eventRetentionDays"], 30);
        for days in [1, 3650] {
            app.as_user(&admin, set, json!({ "d": days })).await.ok();
        }
        app.as_user(&admin, set, json!({ "d": 30 })).await.ok();
        let audit = app.as_user(&owner, "{ auditLog(filter: { action: \"organization.updated\" }) { edges { node { summary } } } }", json!({})).await.ok();
        assert_eq!(audit["auditLog"]["edges"][0]["node"]["summary"]["after"]["eventRetentionDays"], 30);

        // Events older than the organization keeps them are refused.
        assert_eq!(field(track(&app, &owner, json!({ "type": "CLICK", "occurredAt": ago(31).to_rfc3339() })).await), "occurredAt");
        tracked(&app, &owner, json!({ "type": "CLICK", "occurredAt": ago(29).to_rfc3339() })).await;

        // A setting, so refused while suspended.
        app.as_user(&owner, "mutation { updateOrganization(input: { status: SUSPENDED }) { status } }", json!({})).await.ok();
        app.as_user(&owner, set, json!({ "d": 60 })).await.expect_code("FORBIDDEN");
    }

    async fn another_organizations_contact_is_not_found_and_nothing_is_written(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let theirs = app.create_contact(&bob, "Bobco customer", "c@bobco.example.com").await;
        let (_, key) = app.create_api_key(&ann, "tracker", &["EVENTS_WRITE"]).await;
        let foreign = track(&app, &ann, json!({ "type": "CLICK", "contactId": theirs })).await;
        let absent = track(&app, &ann, json!({ "type": "CLICK", "contactId": uuid::Uuid::now_v7().to_string() })).await;
        assert_eq!(foreign.code(), Some("NOT_FOUND"));
        assert_eq!(foreign.body["errors"][0]["message"], absent.body["errors"][0]["message"]);
        assert!(!foreign.body.to_string().contains("Bobco"));
        app.as_key(&key, TRACK, json!({ "i": { "type": "CLICK", "contactId": theirs } })).await.expect_code("NOT_FOUND");
        assert_eq!(app.count_rows("SELECT count(*) FROM event").await, 0);

        // Bob's list filtered by his own contact is his; Ann's by it is empty.
        tracked(&app, &bob, json!({ "type": "CLICK", "contactId": theirs })).await;
        assert_eq!(list(&app, &ann, json!({ "contactId": theirs })).await["totalCount"], 0);
        assert_eq!(list(&app, &bob, json!({ "contactId": theirs })).await["totalCount"], 1);
        assert_eq!(list(&app, &ann, json!(null)).await["totalCount"], 0);
    }

    async fn deleting_a_contact_deletes_their_events(app) {
        let ann = app.sign_up("ann", "acme").await;
        let leaving = app.create_contact(&ann, "Leaving", "leaving@example.com").await;
        let staying = app.create_contact(&ann, "Staying", "staying@example.com").await;
        for contact in [&leaving, &leaving, &staying] {
            tracked(&app, &ann, json!({ "type": "PAGE_VIEW", "contactId": contact })).await;
        }
        tracked(&app, &ann, json!({ "type": "PAGE_VIEW" })).await;
        app.as_user(&ann, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": leaving })).await.ok();
        assert_eq!(list(&app, &ann, json!(null)).await["totalCount"], 2);
        assert_eq!(list(&app, &ann, json!({ "contactId": staying })).await["totalCount"], 1);
    }

    async fn events_are_listed_newest_first_filtered_and_paged(app) {
        let ann = app.sign_up("ann", "acme").await;
        let viewer = app.join(&ann, "vic", "VIEWER").await;
        let contact = app.create_contact(&ann, "Dana", "dana@example.com").await;
        let base = ago(10).trunc_subsecs(0);
        let at = |days: i64| (base + Duration::days(days)).to_rfc3339();
        // Tracked out of order: the list follows occurredAt, not tracking order.
        let e3 = tracked(&app, &ann, json!({ "type": "CUSTOM", "name": "signup", "contactId": contact, "occurredAt": at(3) })).await;
        let e1 = tracked(&app, &ann, json!({ "type": "PAGE_VIEW", "contactId": contact, "occurredAt": at(1) })).await;
        let e5 = tracked(&app, &ann, json!({ "type": "PAGE_VIEW", "occurredAt": at(5) })).await;
        let e2 = tracked(&app, &ann, json!({ "type": "CLICK", "occurredAt": at(2) })).await;
        let e4 = tracked(&app, &ann, json!({ "type": "CUSTOM", "name": "upgrade", "occurredAt": at(4) })).await;
        // Two at the same instant: the later id comes first.
        let e6 = tracked(&app, &ann, json!({ "type": "MENTION", "occurredAt": at(6) })).await;
        let e7 = tracked(&app, &ann, json!({ "type": "MENTION", "occurredAt": at(6) })).await;
        let newest_first: Vec<String> = [&e7, &e6, &e5, &e4, &e3, &e2, &e1].iter().map(|e| id(e)).collect();

        let all = list(&app, &viewer, json!(null)).await;
        assert_eq!(all["totalCount"], 7);
        assert_eq!(ids(&all), newest_first);
        assert_eq!(all["edges"][4]["node"]["occurredAt"], e3["occurredAt"]);

        // Page by page, two at a time: the same order, nothing twice, nothing missed.
        let mut paged = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = app.as_user(&viewer, LIST, json!({ "first": 2, "after": after })).await.ok()["events"].clone();
            assert_eq!(page["totalCount"], 7);
            paged.extend(ids(&page));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(paged, newest_first);

        let filtered = |filter: Value| {
            let app = &app;
            let viewer = &viewer;
            async move { ids(&list(app, viewer, filter).await) }
        };
        assert_eq!(filtered(json!({ "type": "PAGE_VIEW" })).await, [id(&e5), id(&e1)]);
        assert_eq!(filtered(json!({ "name": "signup" })).await, [id(&e3)]);
        assert_eq!(filtered(json!({ "contactId": contact })).await, [id(&e3), id(&e1)]);
        // `from` is inclusive, `to` exclusive.
        assert_eq!(filtered(json!({ "from": at(2), "to": at(4) })).await, [id(&e3), id(&e2)]);
        assert_eq!(filtered(json!({ "type": "CUSTOM", "from": at(4) })).await, [id(&e4)]);
        assert_eq!(filtered(json!({ "type": "CLICK", "name": "signup" })).await, Vec::<String>::new());

        let bad = |variables: Value| {
            let app = &app;
            let viewer = &viewer;
            async move { field(app.as_user(viewer, LIST, variables).await) }
        };
        assert_eq!(bad(json!({ "first": 0 })).await, "first");
        assert_eq!(bad(json!({ "first": 101 })).await, "first");
        assert_eq!(bad(json!({ "after": "not-a-cursor" })).await, "after");
        // A well-formed cursor whose time chrono accepts but PostgreSQL cannot store (the
        // year -258000): refused like any invalid cursor, not an internal error.
        let far_past = URL_SAFE_NO_PAD.encode(format!("e1:{}:{}", -8_210_266_876_799_999_999_i64, id(&e1)));
        assert_eq!(bad(json!({ "after": far_past })).await, "after");
        assert_eq!(bad(json!({ "filter": { "contactId": "nope" } })).await, "filter.contactId");
    }
}

const SECRET: &str = "operators-only-secret-value-0123456789";
const ENFORCE: &str =
    "mutation { runSystemJob(job: ENFORCE_RETENTION) { job failures platform { processed failed }
    organizations { organizationId processed failed error } } }";

/// Moves one event's `occurred_at` `days` into the past, below the API (which refuses
/// events older than the retention).
async fn occurred_days_ago(app: &TestApp, event: &Value, days: i64) {
    let id: uuid::Uuid = event["id"].as_str().expect("id").parse().expect("uuid");
    app.execute_with(
        "UPDATE event SET occurred_at = $1 WHERE id = $2",
        vec![ago(days).into(), id.into()],
    )
    .await;
}

fn result_for<'a>(report: &'a Value, organization: &str) -> &'a Value {
    report["runSystemJob"]["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .find(|o| o["organizationId"] == organization)
        .expect("a result per organization")
}

/// Deleting `account`'s organization's events fails, so the job has one failing
/// organization.
async fn fail_event_deletes_of(app: &TestApp, account: &Account) {
    match app.backend {
        Backend::Sqlite => {
            let hex = uuid::Uuid::parse_str(&account.organization_id)
                .expect("uuid")
                .simple()
                .to_string();
            app.execute(&format!(
                "CREATE TRIGGER fail_events BEFORE DELETE ON event WHEN OLD.organization_id = X'{hex}' \
                 BEGIN SELECT RAISE(ABORT, 'deliberate failure for the test'); END;"
            ))
            .await;
        }
        Backend::Postgres => {
            app.execute(&format!(
                "CREATE FUNCTION fail_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                   IF OLD.organization_id = '{}' THEN RAISE EXCEPTION 'deliberate failure for the test'; END IF; \
                   RETURN OLD; END $$; \
                 CREATE TRIGGER fail_events BEFORE DELETE ON event FOR EACH ROW EXECUTE FUNCTION fail_events();",
                account.organization_id
            ))
            .await;
        }
    }
}

async fn retention_deletes_only_old_events_per_organization(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.cron_secret = Some(SECRET.parse().expect("secret"))
    })
    .await;
    let ann = app.sign_up("ann", "acme").await;
    let bob = app.sign_up("bob", "bobco").await;
    let cid = app.sign_up("cid", "cidco").await;
    // Ann keeps events a year (the default), Bob 30 days.
    let ann_old = tracked(&app, &ann, json!({ "type": "CLICK" })).await;
    occurred_days_ago(&app, &ann_old, 400).await;
    let ann_kept = tracked(
        &app,
        &ann,
        json!({ "type": "CLICK", "occurredAt": ago(200).to_rfc3339() }),
    )
    .await;
    tracked(
        &app,
        &bob,
        json!({ "type": "CLICK", "occurredAt": ago(40).to_rfc3339() }),
    )
    .await;
    tracked(
        &app,
        &bob,
        json!({ "type": "CLICK", "occurredAt": ago(31).to_rfc3339() }),
    )
    .await;
    let bob_kept = tracked(
        &app,
        &bob,
        json!({ "type": "CLICK", "occurredAt": ago(29).to_rfc3339() }),
    )
    .await;
    app.as_user(
        &bob,
        "mutation { updateOrganization(input: { eventRetentionDays: 30 }) { id } }",
        json!({}),
    )
    .await
    .ok();
    let cid_old = tracked(&app, &cid, json!({ "type": "CLICK" })).await;
    occurred_days_ago(&app, &cid_old, 500).await;
    fail_event_deletes_of(&app, &cid).await;

    app.anonymous(ENFORCE, json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
    app.as_user(&ann, ENFORCE, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let report = app
        .graphql(Some(SECRET), None, ENFORCE, json!({}))
        .await
        .ok();
    assert_eq!(report["runSystemJob"]["job"], "ENFORCE_RETENTION");
    assert_eq!(report["runSystemJob"]["failures"], 1, "{report}");
    assert_eq!(report["runSystemJob"]["platform"]["processed"], 0);
    assert_eq!(result_for(&report, &ann.organization_id)["processed"], 1);
    assert_eq!(result_for(&report, &bob.organization_id)["processed"], 2);
    let failed = result_for(&report, &cid.organization_id);
    assert_eq!(failed["failed"], true);
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("deliberate failure")),
        "{failed}"
    );

    let left = |account: &Account| {
        let app = &app;
        let account = account.clone();
        async move { ids(&list(app, &account, json!(null)).await) }
    };
    assert_eq!(left(&ann).await, [id(&ann_kept)]);
    assert_eq!(left(&bob).await, [id(&bob_kept)]);
    assert_eq!(
        left(&cid).await,
        [id(&cid_old)],
        "the failed organization lost nothing"
    );
    // The deleted events are gone from the table, not only from the lists.
    assert_eq!(app.count_rows("SELECT count(*) FROM event").await, 3);

    // Nothing more to do on a second run.
    let again = app
        .graphql(Some(SECRET), None, ENFORCE, json!({}))
        .await
        .ok();
    assert_eq!(result_for(&again, &ann.organization_id)["processed"], 0);
    assert_eq!(result_for(&again, &bob.organization_id)["processed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_old_events_per_organization_sqlite() {
    retention_deletes_only_old_events_per_organization(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_old_events_per_organization_postgres() {
    retention_deletes_only_old_events_per_organization(Backend::Postgres).await;
}

async fn the_in_process_schedule_also_enforces_retention(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.purge_interval_secs = 1).await;
    let ann = app.sign_up("ann", "acme").await;
    let old = tracked(&app, &ann, json!({ "type": "CLICK" })).await;
    tracked(&app, &ann, json!({ "type": "CLICK" })).await;
    occurred_days_ago(&app, &old, 400).await;
    let started = std::time::Instant::now();
    while app.count_rows("SELECT count(*) FROM event").await > 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the scheduled retention did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_schedule_also_enforces_retention_sqlite() {
    the_in_process_schedule_also_enforces_retention(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_schedule_also_enforces_retention_postgres() {
    the_in_process_schedule_also_enforces_retention(Backend::Postgres).await;
}
