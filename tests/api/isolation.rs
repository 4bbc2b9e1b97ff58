//! The isolation suite. It walks the schema for every argument and input field of type
//! `ID`, calls each as organization A with organization B's ids, and requires the answer
//! of an absent id (`NOT_FOUND`, or an empty result for filters), nothing of B's in the
//! body, and B's data unchanged. A new id-taking field the suite cannot exercise fails it.
//!
//! Both are tables: [`FIXTURES`] makes B's rows (a new tenant table adds one), [`CASES`]
//! says how to call each id-taking place and which of B's rows it gets (a new id-taking
//! field adds one).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::helpers::{Account, Reply, TestApp};
use crate::on_both_databases;

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

/// The named type under any NON_NULL/LIST wrappers.
fn named(type_ref: &Value) -> (&str, &str) {
    let mut current = type_ref;
    while current["name"].is_null() {
        current = &current["ofType"];
    }
    (
        current["kind"].as_str().unwrap_or(""),
        current["name"].as_str().unwrap_or(""),
    )
}

/// Every place a client can pass an id: `Query.contact(id)`, `Mutation.createContact(input.ownerId)`.
async fn id_taking_places(app: &TestApp, account: &Account) -> BTreeSet<String> {
    let query = format!(
        "{{ __schema {{
            queryType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} }} }}
            mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} }} }}
            types {{ name kind inputFields {{ name type {{ {TYPE_REF} }} }} }} }} }}"
    );
    let schema = app.as_user(account, &query, json!({})).await.ok();
    let inputs: HashMap<&str, &Vec<Value>> = schema["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter(|t| t["kind"] == "INPUT_OBJECT")
        .map(|t| {
            (
                t["name"].as_str().expect("name"),
                t["inputFields"].as_array().expect("fields"),
            )
        })
        .collect();

    fn walk(
        inputs: &HashMap<&str, &Vec<Value>>,
        prefix: &str,
        type_ref: &Value,
        seen: &mut Vec<String>,
        out: &mut BTreeSet<String>,
        root: &str,
    ) {
        let (kind, name) = named(type_ref);
        if name == "ID" {
            out.insert(format!("{root}({prefix})"));
        } else if kind == "INPUT_OBJECT" && !seen.contains(&name.to_owned()) {
            seen.push(name.to_owned());
            for field in inputs.get(name).map(|f| f.as_slice()).unwrap_or_default() {
                let path = format!("{prefix}.{}", field["name"].as_str().expect("name"));
                walk(inputs, &path, &field["type"], seen, out, root);
            }
            seen.pop();
        }
    }

    let mut places = BTreeSet::new();
    for (root_name, root) in [("Query", "queryType"), ("Mutation", "mutationType")] {
        for field in schema["__schema"][root]["fields"]
            .as_array()
            .expect("fields")
        {
            let field_name = field["name"].as_str().expect("name");
            for arg in field["args"].as_array().expect("args") {
                let arg_name = arg["name"].as_str().expect("name");
                walk(
                    &inputs,
                    arg_name,
                    &arg["type"],
                    &mut Vec::new(),
                    &mut places,
                    &format!("{root_name}.{field_name}"),
                );
            }
        }
    }
    places
}

/// The kinds of B's rows an id-taking place can be handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Row {
    Contact,
    Member,
    Invitation,
    Session,
    ApiKey,
    Conversation,
    ChannelIdentity,
}

/// One of B's rows, made through the API as B: the operation (its variables name rows
/// made before it, `$contact` for B's contact), where its id is in the answer (`None`:
/// made for its data only), and the strings only B's data holds.
struct Fixture {
    row: Option<Row>,
    operation: &'static str,
    id_at: &'static [&'static str],
    secrets: &'static [&'static str],
}

/// B's world, in the order it is made. A new tenant table adds its row here.
const FIXTURES: &[Fixture] = &[
    Fixture {
        row: Some(Row::Contact),
        operation: "mutation { createContact(input: { name: \"Bobco Secret Customer\", email: \"secret.customer@bobco.example.com\", phone: \"+15550100000\" }) { id } }",
        id_at: &["createContact", "id"],
        secrets: &["Bobco Secret Customer", "secret.customer@bobco.example.com"],
    },
    Fixture {
        row: Some(Row::Invitation),
        operation: "mutation { inviteMember(input: { email: \"secret.hire@bobco.example.com\", role: VIEWER }) { invitation { id } } }",
        id_at: &["inviteMember", "invitation", "id"],
        secrets: &["secret.hire@bobco.example.com"],
    },
    Fixture {
        row: Some(Row::Conversation),
        operation: "mutation($contact: ID!) { startConversation(input: { contactId: $contact, channel: WEB_CHAT }) { id } }",
        id_at: &["startConversation", "id"],
        secrets: &[],
    },
    Fixture {
        row: None,
        operation: "mutation($conversation: ID!) { postMessage(conversationId: $conversation, input: { author: CONTACT, body: \"Bobco secret message\" }) { id } }",
        id_at: &[],
        secrets: &["Bobco secret message"],
    },
    Fixture {
        row: Some(Row::ApiKey),
        operation: "mutation { createApiKey(input: { name: \"Bobco Partner Key\", scopes: [CONTACTS_READ] }) { apiKey { id } } }",
        id_at: &["createApiKey", "apiKey", "id"],
        secrets: &["Bobco Partner Key"],
    },
    Fixture {
        row: None,
        operation: "mutation($contact: ID!) { trackEvent(input: { type: CUSTOM, name: \"bobco.secret_launch\", contactId: $contact, properties: { plan: \"Bobco Secret Plan\" } }) { id } }",
        id_at: &[],
        secrets: &["bobco.secret_launch", "Bobco Secret Plan"],
    },
    Fixture {
        row: Some(Row::ChannelIdentity),
        operation: "mutation { claimChannelIdentity(input: { kind: INBOUND_EMAIL, value: \"secret.inbox@bobco.example.com\" }) { id } }",
        id_at: &["claimChannelIdentity", "id"],
        secrets: &["secret.inbox@bobco.example.com"],
    },
    Fixture {
        row: Some(Row::Session),
        operation: "{ sessions { edges { node { id } } } }",
        id_at: &["sessions", "edges", "0", "node", "id"],
        secrets: &[],
    },
];

/// One id-taking place of the schema: the operation A runs with `$id` set to one of B's
/// rows (of kind `foreign`) and, where the place also needs one of A's own rows, `$own`
/// set to A's contact. A new id-taking field adds its row here; the suite fails on a
/// place of the schema that has none.
struct Case {
    place: &'static str,
    foreign: Row,
    operation: &'static str,
}

const CASES: &[Case] = &[
    Case {
        place: "Query.contact(id)",
        foreign: Row::Contact,
        operation: "query($id: ID!) { contact(id: $id) { id name email } }",
    },
    Case {
        place: "Query.contacts(filter.ownerId)",
        foreign: Row::Member,
        operation: "query($id: ID) { contacts(filter: { ownerId: $id }) { totalCount edges { node { id name email } } } }",
    },
    Case {
        place: "Mutation.createContact(input.ownerId)",
        foreign: Row::Member,
        operation: "mutation($id: ID) { createContact(input: { name: \"Planted\", ownerId: $id }) { id ownerId } }",
    },
    Case {
        place: "Mutation.updateContact(id)",
        foreign: Row::Contact,
        operation: "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Hijacked\", email: null }) { id name } }",
    },
    Case {
        place: "Mutation.updateContact(input.ownerId)",
        foreign: Row::Member,
        operation: "mutation($id: ID, $own: ID!) { updateContact(id: $own, input: { ownerId: $id }) { id ownerId } }",
    },
    Case {
        place: "Mutation.deleteContact(id)",
        foreign: Row::Contact,
        operation: "mutation($id: ID!) { deleteContact(id: $id) }",
    },
    Case {
        place: "Mutation.updateMemberRole(userId)",
        foreign: Row::Member,
        operation: "mutation($id: ID!) { updateMemberRole(userId: $id, role: VIEWER) { userId name } }",
    },
    Case {
        place: "Mutation.removeMember(userId)",
        foreign: Row::Member,
        operation: "mutation($id: ID!) { removeMember(userId: $id) }",
    },
    Case {
        place: "Mutation.transferOwnership(userId)",
        foreign: Row::Member,
        operation: "mutation($id: ID!) { transferOwnership(userId: $id) { userId name } }",
    },
    Case {
        place: "Mutation.resendInvitation(id)",
        foreign: Row::Invitation,
        operation: "mutation($id: ID!) { resendInvitation(id: $id) { invitation { email } } }",
    },
    Case {
        place: "Mutation.revokeInvitation(id)",
        foreign: Row::Invitation,
        operation: "mutation($id: ID!) { revokeInvitation(id: $id) { email } }",
    },
    Case {
        place: "Mutation.revokeSession(id)",
        foreign: Row::Session,
        operation: "mutation($id: ID!) { revokeSession(id: $id) }",
    },
    Case {
        place: "Query.conversation(id)",
        foreign: Row::Conversation,
        operation: "query($id: ID!) { conversation(id: $id) { id summary messages { edges { node { body } } } } }",
    },
    Case {
        place: "Query.conversations(filter.contactId)",
        foreign: Row::Contact,
        operation: "query($id: ID) { conversations(filter: { contactId: $id }) { totalCount edges { node { id } } } }",
    },
    Case {
        place: "Query.conversations(filter.assigneeId)",
        foreign: Row::Member,
        operation: "query($id: ID) { conversations(filter: { assigneeId: $id }) { totalCount edges { node { id } } } }",
    },
    Case {
        place: "Mutation.startConversation(input.contactId)",
        foreign: Row::Contact,
        operation: "mutation($id: ID!) { startConversation(input: { contactId: $id, channel: SMS }) { id contactId } }",
    },
    Case {
        place: "Mutation.startConversation(input.assigneeId)",
        foreign: Row::Member,
        operation: "mutation($id: ID, $own: ID!) { startConversation(input: { contactId: $own, channel: SMS, assigneeId: $id }) { id assigneeId } }",
    },
    Case {
        place: "Mutation.postMessage(conversationId)",
        foreign: Row::Conversation,
        operation: "mutation($id: ID!) { postMessage(conversationId: $id, input: { author: AI, body: \"planted\" }) { id } }",
    },
    Case {
        place: "Mutation.closeConversation(id)",
        foreign: Row::Conversation,
        operation: "mutation($id: ID!) { closeConversation(id: $id) { id status } }",
    },
    Case {
        place: "Mutation.rotateApiKey(id)",
        foreign: Row::ApiKey,
        operation: "mutation($id: ID!) { rotateApiKey(id: $id) { secret apiKey { name prefix } } }",
    },
    Case {
        place: "Mutation.revokeApiKey(id)",
        foreign: Row::ApiKey,
        operation: "mutation($id: ID!) { revokeApiKey(id: $id) { name prefix } }",
    },
    Case {
        place: "Mutation.releaseChannelIdentity(id)",
        foreign: Row::ChannelIdentity,
        operation: "mutation($id: ID!) { releaseChannelIdentity(id: $id) }",
    },
    Case {
        place: "Mutation.trackEvent(input.contactId)",
        foreign: Row::Contact,
        operation: "mutation($id: ID) { trackEvent(input: { type: CLICK, contactId: $id, properties: { planted: true } }) { id contactId } }",
    },
    Case {
        place: "Query.events(filter.contactId)",
        foreign: Row::Contact,
        operation: "query($id: ID) { events(filter: { contactId: $id }) { totalCount edges { node { id name contactId properties } } } }",
    },
    Case {
        place: "Query.auditLog(filter.apiKeyId)",
        foreign: Row::ApiKey,
        operation: "query($id: ID) { auditLog(filter: { apiKeyId: $id }) { totalCount edges { node { action summary } } } }",
    },
    Case {
        place: "Query.auditLog(filter.actorId)",
        foreign: Row::Member,
        operation: "query($id: ID) { auditLog(filter: { actorId: $id }) { totalCount edges { node { action summary } } } }",
    },
];

struct World {
    a: Account,
    b: Account,
    a_contact: String,
    /// B's rows by kind.
    b_rows: HashMap<Row, String>,
    /// Strings that exist only in B's data.
    b_secrets: Vec<String>,
}

impl World {
    fn b_row(&self, row: Row) -> &str {
        self.b_rows
            .get(&row)
            .unwrap_or_else(|| panic!("no fixture makes B's {row:?}"))
    }
}

async fn two_tenants(app: &TestApp) -> World {
    let a = app.sign_up("ann", "acme").await;
    let b = app.sign_up("bob", "bobco").await;
    let a_contact = app
        .create_contact(&a, "A's customer", "customer@acme.example.com")
        .await;
    let mut b_rows = HashMap::from([(Row::Member, b.user_id.clone())]);
    let mut b_secrets = vec!["bobco Inc.".to_owned(), b.email.clone()];
    for fixture in FIXTURES {
        let mut variables = serde_json::Map::new();
        for (name, row) in [
            ("contact", Row::Contact),
            ("conversation", Row::Conversation),
        ] {
            if fixture.operation.contains(&format!("${name}")) {
                variables.insert(name.to_owned(), json!(b_rows[&row]));
            }
        }
        let data = app
            .as_user(&b, fixture.operation, Value::Object(variables))
            .await
            .ok();
        if let Some(row) = fixture.row {
            let id = fixture
                .id_at
                .iter()
                .fold(&data, |value, key| match key.parse::<usize>() {
                    Ok(index) => &value[index],
                    Err(_) => &value[*key],
                });
            let id = id
                .as_str()
                .unwrap_or_else(|| panic!("{row:?}: no id in {data}"));
            b_rows.insert(row, id.to_owned());
        }
        b_secrets.extend(fixture.secrets.iter().map(|secret| (*secret).to_owned()));
    }
    World {
        a,
        b,
        a_contact,
        b_rows,
        b_secrets,
    }
}

fn case(place: &str) -> &'static Case {
    CASES.iter().find(|case| case.place == place).unwrap_or_else(|| {
        panic!(
            "the isolation suite cannot exercise `{place}`: add a row for it to CASES in tests/api/isolation.rs"
        )
    })
}

/// Calls one id-taking place as A with the given foreign id; the reply must be what an
/// absent id gets.
async fn call(app: &TestApp, world: &World, place: &str, foreign: &str) -> Reply {
    let case = case(place);
    let mut variables = json!({ "id": foreign });
    if case.operation.contains("$own") {
        variables["own"] = json!(world.a_contact);
    }
    app.as_user(&world.a, case.operation, variables).await
}

/// Which of B's ids a place takes.
fn foreign_id<'a>(world: &'a World, place: &str) -> &'a str {
    world.b_row(case(place).foreign)
}

/// Removes what legitimately differs between two answers (ids echoed back).
fn shape(reply: &Reply) -> Value {
    json!({
        "code": reply.code(),
        "message": reply.body["errors"][0]["message"],
        "data": reply.body["data"],
    })
}

on_both_databases! {
    async fn every_id_taking_field_treats_other_organizations_ids_as_absent(app) {
        let world = two_tenants(&app).await;
        let places = id_taking_places(&app, &world.a).await;
        assert!(places.len() >= 6, "the schema walk found too few places: {places:?}");
        let stale: Vec<_> = CASES.iter().filter(|case| !places.contains(case.place)).map(|case| case.place).collect();
        assert!(stale.is_empty(), "rows of CASES name places the schema does not have: {stale:?}");

        for place in &places {
            let foreign = foreign_id(&world, place);
            let reply = call(&app, &world, place, foreign).await;
            let text = reply.body.to_string();
            for secret in &world.b_secrets {
                assert!(!text.contains(secret.as_str()), "{place} leaked {secret:?}: {text}");
            }
            if place.contains("filter") {
                let data = reply.ok();
                let total = data.as_object().and_then(|o| o.values().next()).map(|c| c["totalCount"].clone());
                assert_eq!(total, Some(json!(0)), "{place} matched another organization's rows");
            } else {
                assert_eq!(reply.code(), Some("NOT_FOUND"), "{place}: {}", reply.body);
                // Indistinguishable from an id that exists nowhere.
                let absent = call(&app, &world, place, &uuid::Uuid::now_v7().to_string()).await;
                assert_eq!(shape(&reply), shape(&absent), "{place} tells foreign ids from absent ones");
            }
        }

        // B's data is exactly as it was.
        let b_view = app.as_user(&world.b, "query($id: ID!) { contact(id: $id) { name email } contacts { totalCount } }", json!({ "id": world.b_row(Row::Contact) })).await.ok();
        assert_eq!(b_view["contact"]["name"], "Bobco Secret Customer");
        assert_eq!(b_view["contact"]["email"], "secret.customer@bobco.example.com");
        assert_eq!(b_view["contacts"]["totalCount"], 1);
        let b_team = app.as_user(&world.b, "{ members { totalCount edges { node { role } } } invitations(status: PENDING) { totalCount } sessions { totalCount } }", json!({})).await.ok();
        assert_eq!(b_team["members"]["totalCount"], 1);
        assert_eq!(b_team["members"]["edges"][0]["node"]["role"], "OWNER");
        assert_eq!(b_team["invitations"]["totalCount"], 1);
        assert_eq!(b_team["sessions"]["totalCount"], 1);
        let b_keys = app.as_user(&world.b, "{ apiKeys(status: ACTIVE) { totalCount edges { node { id rotatedAt } } } }", json!({})).await.ok();
        assert_eq!(b_keys["apiKeys"]["totalCount"], 1);
        assert_eq!(b_keys["apiKeys"]["edges"][0]["node"]["rotatedAt"], Value::Null);
        let b_talk = app.as_user(&world.b, "{ conversations { totalCount edges { node { status messages { totalCount edges { node { body } } } } } } }", json!({})).await.ok();
        assert_eq!(b_talk["conversations"]["totalCount"], 1);
        let only = &b_talk["conversations"]["edges"][0]["node"];
        assert_eq!(only["status"], "OPEN");
        assert_eq!(only["messages"]["totalCount"], 1);
        assert_eq!(only["messages"]["edges"][0]["node"]["body"], "Bobco secret message");
        let b_inbox = app.as_user(&world.b, "{ channelIdentities { totalCount edges { node { value } } } }", json!({})).await.ok();
        assert_eq!(b_inbox["channelIdentities"]["edges"][0]["node"]["value"], "secret.inbox@bobco.example.com");
        let b_events = app.as_user(&world.b, "{ events { totalCount edges { node { contactId properties } } } }", json!({})).await.ok();
        assert_eq!(b_events["events"]["totalCount"], 1);
        assert_eq!(b_events["events"]["edges"][0]["node"]["contactId"], world.b_row(Row::Contact));
        // And A gained nothing.
        let a_view = app.as_user(&world.a, "query($id: ID!) { contact(id: $id) { ownerId } contacts { totalCount } }", json!({ "id": world.a_contact })).await.ok();
        assert_eq!(a_view["contacts"]["totalCount"], 1);
        assert_eq!(a_view["contact"]["ownerId"], world.a.user_id.as_str());
        let a_events = app.as_user(&world.a, "{ events { totalCount } }", json!({})).await.ok();
        assert_eq!(a_events["events"]["totalCount"], 0, "no event was planted in A");
    }

    async fn a_lists_only_its_own_contacts(app) {
        let world = two_tenants(&app).await;
        let reply = app.as_user(&world.a, "{ contacts(first: 100) { totalCount edges { node { id name email } } } }", json!({})).await;
        let text = reply.body.to_string();
        for secret in &world.b_secrets {
            assert!(!text.contains(secret.as_str()), "leaked {secret:?}");
        }
        let data = reply.ok();
        assert_eq!(data["contacts"]["totalCount"], 1);
        assert_eq!(data["contacts"]["edges"][0]["node"]["id"], world.a_contact.as_str());
        let search = app.as_user(&world.a, "{ contacts(filter: { search: \"Secret\" }) { totalCount } }", json!({})).await.ok();
        assert_eq!(search["contacts"]["totalCount"], 0);
    }
}
