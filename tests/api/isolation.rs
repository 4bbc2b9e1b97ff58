//! The isolation suite. It walks the schema for every argument and input field of type
//! `ID`, calls each as organization A with organization B's ids, and requires the answer
//! of an absent id (`NOT_FOUND`, or an empty result for filters), nothing of B's in the
//! body, and B's data unchanged. A new id-taking field the suite cannot exercise fails it.

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

struct World {
    a: Account,
    b: Account,
    a_contact: String,
    b_contact: String,
    b_invitation: String,
    b_session: String,
    b_api_key: String,
    b_conversation: String,
    /// Strings that exist only in B's data.
    b_secrets: Vec<String>,
}

async fn two_tenants(app: &TestApp) -> World {
    let a = app.sign_up("ann", "acme").await;
    let b = app.sign_up("bob", "bobco").await;
    let a_contact = app
        .create_contact(&a, "A's customer", "customer@acme.example.com")
        .await;
    let b_contact = app
        .create_contact(
            &b,
            "Bobco Secret Customer",
            "secret.customer@bobco.example.com",
        )
        .await;
    let invited = app
        .as_user(
            &b,
            "mutation { inviteMember(input: { email: \"secret.hire@bobco.example.com\", role: VIEWER }) { invitation { id } } }",
            json!({}),
        )
        .await
        .ok();
    let b_invitation = invited["inviteMember"]["invitation"]["id"]
        .as_str()
        .expect("invitation")
        .to_owned();
    let started = app
        .as_user(
            &b,
            "mutation($c: ID!) { startConversation(input: { contactId: $c, channel: WEB_CHAT }) { id } }",
            json!({ "c": b_contact }),
        )
        .await
        .ok();
    let b_conversation = started["startConversation"]["id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    app.as_user(
        &b,
        "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"Bobco secret message\" }) { id } }",
        json!({ "c": b_conversation }),
    )
    .await
    .ok();
    let (b_api_key, _) = app
        .create_api_key(&b, "Bobco Partner Key", &["CONTACTS_READ"])
        .await;
    app.as_user(
        &b,
        "mutation($c: ID!) { trackEvent(input: { type: CUSTOM, name: \"bobco.secret_launch\", contactId: $c, properties: { plan: \"Bobco Secret Plan\" } }) { id } }",
        json!({ "c": b_contact }),
    )
    .await
    .ok();
    let sessions = app
        .as_user(&b, "{ sessions { edges { node { id } } } }", json!({}))
        .await
        .ok();
    let b_session = sessions["sessions"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("session")
        .to_owned();
    World {
        a,
        b_invitation,
        b_session,
        b_api_key,
        b_conversation,
        b_secrets: vec![
            "Bobco secret message".into(),
            "Bobco Partner Key".into(),
            "Bobco Secret Plan".into(),
            "bobco.secret_launch".into(),
            "Bobco Secret Customer".into(),
            "secret.hire@bobco.example.com".into(),
            "secret.customer@bobco.example.com".into(),
            "bobco Inc.".into(),
            b.email.clone(),
        ],
        b,
        a_contact,
        b_contact,
    }
}

/// Calls one id-taking place as A with the given foreign id; the reply must be what an
/// absent id gets.
async fn call(app: &TestApp, world: &World, place: &str, foreign: &str) -> Reply {
    let a = &world.a;
    let (query, variables) = match place {
        "Query.contact(id)" => (
            "query($id: ID!) { contact(id: $id) { id name email } }",
            json!({ "id": foreign }),
        ),
        "Query.contacts(filter.ownerId)" => (
            "query($o: ID) { contacts(filter: { ownerId: $o }) { totalCount edges { node { id name email } } } }",
            json!({ "o": foreign }),
        ),
        "Mutation.createContact(input.ownerId)" => (
            "mutation($o: ID) { createContact(input: { name: \"Planted\", ownerId: $o }) { id ownerId } }",
            json!({ "o": foreign }),
        ),
        "Mutation.updateContact(id)" => (
            "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Hijacked\", email: null }) { id name } }",
            json!({ "id": foreign }),
        ),
        "Mutation.updateContact(input.ownerId)" => (
            "mutation($id: ID!, $o: ID) { updateContact(id: $id, input: { ownerId: $o }) { id ownerId } }",
            json!({ "id": world.a_contact, "o": foreign }),
        ),
        "Mutation.deleteContact(id)" => (
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": foreign }),
        ),
        "Mutation.updateMemberRole(userId)" => (
            "mutation($u: ID!) { updateMemberRole(userId: $u, role: VIEWER) { userId name } }",
            json!({ "u": foreign }),
        ),
        "Mutation.removeMember(userId)" => (
            "mutation($u: ID!) { removeMember(userId: $u) }",
            json!({ "u": foreign }),
        ),
        "Mutation.transferOwnership(userId)" => (
            "mutation($u: ID!) { transferOwnership(userId: $u) { userId name } }",
            json!({ "u": foreign }),
        ),
        "Mutation.resendInvitation(id)" => (
            "mutation($id: ID!) { resendInvitation(id: $id) { invitation { email } } }",
            json!({ "id": foreign }),
        ),
        "Mutation.revokeInvitation(id)" => (
            "mutation($id: ID!) { revokeInvitation(id: $id) { email } }",
            json!({ "id": foreign }),
        ),
        "Mutation.revokeSession(id)" => (
            "mutation($id: ID!) { revokeSession(id: $id) }",
            json!({ "id": foreign }),
        ),
        "Query.conversation(id)" => (
            "query($id: ID!) { conversation(id: $id) { id summary messages { edges { node { body } } } } }",
            json!({ "id": foreign }),
        ),
        "Query.conversations(filter.contactId)" => (
            "query($c: ID) { conversations(filter: { contactId: $c }) { totalCount edges { node { id } } } }",
            json!({ "c": foreign }),
        ),
        "Query.conversations(filter.assigneeId)" => (
            "query($a: ID) { conversations(filter: { assigneeId: $a }) { totalCount edges { node { id } } } }",
            json!({ "a": foreign }),
        ),
        "Mutation.startConversation(input.contactId)" => (
            "mutation($c: ID!) { startConversation(input: { contactId: $c, channel: SMS }) { id contactId } }",
            json!({ "c": foreign }),
        ),
        "Mutation.startConversation(input.assigneeId)" => (
            "mutation($c: ID!, $a: ID) { startConversation(input: { contactId: $c, channel: SMS, assigneeId: $a }) { id assigneeId } }",
            json!({ "c": world.a_contact, "a": foreign }),
        ),
        "Mutation.postMessage(conversationId)" => (
            "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: AI, body: \"planted\" }) { id } }",
            json!({ "c": foreign }),
        ),
        "Mutation.closeConversation(id)" => (
            "mutation($id: ID!) { closeConversation(id: $id) { id status } }",
            json!({ "id": foreign }),
        ),
        "Mutation.rotateApiKey(id)" => (
            "mutation($id: ID!) { rotateApiKey(id: $id) { secret apiKey { name prefix } } }",
            json!({ "id": foreign }),
        ),
        "Mutation.revokeApiKey(id)" => (
            "mutation($id: ID!) { revokeApiKey(id: $id) { name prefix } }",
            json!({ "id": foreign }),
        ),
        "Mutation.trackEvent(input.contactId)" => (
            "mutation($c: ID) { trackEvent(input: { type: CLICK, contactId: $c, properties: { planted: true } }) { id contactId } }",
            json!({ "c": foreign }),
        ),
        "Query.events(filter.contactId)" => (
            "query($c: ID) { events(filter: { contactId: $c }) { totalCount edges { node { id name contactId properties } } } }",
            json!({ "c": foreign }),
        ),
        "Query.auditLog(filter.apiKeyId)" => (
            "query($k: ID) { auditLog(filter: { apiKeyId: $k }) { totalCount edges { node { action summary } } } }",
            json!({ "k": foreign }),
        ),
        "Query.auditLog(filter.actorId)" => (
            "query($a: ID) { auditLog(filter: { actorId: $a }) { totalCount edges { node { action summary } } } }",
            json!({ "a": foreign }),
        ),
        other => panic!(
            "the isolation suite cannot exercise `{other}`: add a cross-organization case for it in tests/api/isolation.rs"
        ),
    };
    app.as_user(a, query, variables).await
}

/// Which of B's ids a place takes.
fn foreign_id<'a>(world: &'a World, place: &str) -> &'a str {
    if place.contains("ApiKey") || place.contains("apiKeyId") {
        &world.b_api_key
    } else if place.contains("assigneeId") {
        &world.b.user_id
    } else if place.contains("contactId") {
        &world.b_contact
    } else if place.contains("onversation") {
        &world.b_conversation
    } else if place.contains("ownerId") || place.contains("userId") || place.contains("actorId") {
        &world.b.user_id
    } else if place.contains("Invitation") {
        &world.b_invitation
    } else if place.contains("Session") {
        &world.b_session
    } else {
        &world.b_contact
    }
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
        let b_view = app.as_user(&world.b, "query($id: ID!) { contact(id: $id) { name email } contacts { totalCount } }", json!({ "id": world.b_contact })).await.ok();
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
        let b_events = app.as_user(&world.b, "{ events { totalCount edges { node { contactId properties } } } }", json!({})).await.ok();
        assert_eq!(b_events["events"]["totalCount"], 1);
        assert_eq!(b_events["events"]["edges"][0]["node"]["contactId"], world.b_contact.as_str());
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
