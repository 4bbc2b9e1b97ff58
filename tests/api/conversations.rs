//! Conversations and messages, the complete contact (tags, external id, attributes,
//! identifyContact), the field rules for API keys on them, and the statement count of a
//! nested page.

use serde_json::{Value, json};

use crate::helpers::{Account, Backend, TestApp};
use crate::on_both_databases;

async fn start(app: &TestApp, who: &Account, contact: &str, channel: &str) -> String {
    let data = app
        .as_user(
            who,
            "mutation($c: ID!, $ch: ChannelKind!) { startConversation(input: { contactId: $c, channel: $ch }) { id status channel contactId } }",
            json!({ "c": contact, "ch": channel }),
        )
        .await
        .ok();
    assert_eq!(data["startConversation"]["status"], "OPEN");
    data["startConversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn post(app: &TestApp, who: &Account, conversation: &str, author: &str, body: &str) -> Value {
    app.as_user(
        who,
        "mutation($c: ID!, $a: MessageAuthor!, $b: String!) { postMessage(conversationId: $c, input: { author: $a, body: $b }) { id author authorId body conversationId } }",
        json!({ "c": conversation, "a": author, "b": body }),
    )
    .await
    .ok()["postMessage"]
        .clone()
}

/// Who asks: a person, or an API key by its secret.
enum Who<'a> {
    User(&'a Account),
    Key(&'a str),
}

/// Answers `{ selection }` (after `head`, with `fragments`) twice: as it stands, where
/// pages may be written straight to JSON (`graphql::plain`), and with one response key
/// selected twice at the root, which answers every page field by field. Both answers
/// must be the same: the data with its field order, and every error with its code and
/// path. Returns the answer's body.
async fn agree(
    app: &TestApp,
    who: &Who<'_>,
    head: &str,
    selection: &str,
    fragments: &str,
    variables: Value,
) -> Value {
    let ask = |query: String| {
        let variables = variables.clone();
        async move {
            match who {
                Who::User(account) => app.as_user(account, &query, variables).await,
                Who::Key(key) => app.as_key(key, &query, variables).await,
            }
        }
    };
    let written = ask(format!("{head} {{ {selection} }} {fragments}")).await;
    let by_field = ask(format!(
        "{head} {{ {selection} twice: __typename twice: __typename }} {fragments}"
    ))
    .await;
    assert_eq!(written.status, by_field.status, "{}", written.body);
    let errors = |body: &Value| {
        let mut errors: Vec<String> = body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|error| {
                        json!([error["extensions"]["code"], error["path"], error["message"]])
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        errors.sort();
        errors
    };
    assert_eq!(errors(&written.body), errors(&by_field.body));
    let mut expected = by_field.body["data"].clone();
    if let Some(data) = expected.as_object_mut() {
        assert_eq!(data.remove("twice"), Some(json!("Query")));
    }
    assert_eq!(
        serde_json::to_string(&written.body["data"]).expect("json"),
        serde_json::to_string(&expected).expect("json"),
        "written ahead, then field by field"
    );
    written.body
}

on_both_databases! {
    async fn a_conversation_is_started_written_read_and_closed(app) {
        let owner = app.sign_up("ann", "acme").await;
        let viewer = app.join(&owner, "vic", "VIEWER").await;
        let member = app.join(&owner, "meg", "MEMBER").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let talk = start(&app, &owner, &dana, "WHATSAPP").await;
        let first = post(&app, &owner, &talk, "CONTACT", "  Hello, is my order on its way?  ").await;
        assert_eq!(first["body"], "Hello, is my order on its way?");
        assert_eq!(first["authorId"], Value::Null);
        let reply = post(&app, &owner, &talk, "AGENT", "Let me check.").await;
        assert_eq!(reply["authorId"], owner.user_id.as_str());
        post(&app, &owner, &talk, "AI", "It ships tomorrow.").await;

        let read = "query($id: ID!) { conversation(id: $id) { id channel status lastMessageAt
            contact { id name } assignee { name }
            recent: messages(last: 2) { totalCount pageInfo { hasPreviousPage hasNextPage startCursor } edges { node { author body conversation { id } } } }
            all: messages { totalCount edges { node { body } } } } }";
        // Message bodies are personal data: a VIEWER reads the conversation, not what was
        // said in it.
        let refused = app.as_user(&viewer, read, json!({ "id": talk })).await;
        assert_eq!(refused.code(), Some("FORBIDDEN"));
        assert_eq!(refused.body["data"]["conversation"]["channel"], "WHATSAPP");
        assert!(!refused.body.to_string().contains("order on its way"), "{}", refused.body);
        let data = app.as_user(&member, read, json!({ "id": talk })).await.ok();
        let conversation = &data["conversation"];
        assert_eq!(conversation["channel"], "WHATSAPP");
        assert_eq!(conversation["contact"]["name"], "Dana");
        assert!(conversation["lastMessageAt"].is_string());
        let recent = &conversation["recent"];
        assert_eq!(recent["totalCount"], 3);
        assert_eq!(recent["pageInfo"]["hasPreviousPage"], true);
        let bodies: Vec<&str> = recent["edges"].as_array().expect("edges").iter().map(|e| e["node"]["body"].as_str().expect("body")).collect();
        assert_eq!(bodies, ["Let me check.", "It ships tomorrow."], "the last two, in order");
        assert_eq!(recent["edges"][0]["node"]["conversation"]["id"], talk.as_str());
        assert_eq!(conversation["all"]["edges"][0]["node"]["body"], "Hello, is my order on its way?");
        // The page before the recent two.
        let cursor = recent["pageInfo"]["startCursor"].as_str().expect("cursor");
        let earlier = app
            .as_user(&member, "query($id: ID!, $b: String) { conversation(id: $id) { messages(last: 5, before: $b) { edges { node { body } } pageInfo { hasPreviousPage hasNextPage } } } }", json!({ "id": talk, "b": cursor }))
            .await
            .ok();
        let messages = &earlier["conversation"]["messages"];
        assert_eq!(messages["edges"].as_array().map(Vec::len), Some(1));
        assert_eq!(messages["pageInfo"]["hasNextPage"], true);
        app.as_user(&viewer, "query($id: ID!) { conversation(id: $id) { messages(first: 1, last: 1) { totalCount } } }", json!({ "id": talk }))
            .await
            .expect_code("BAD_USER_INPUT");

        // VIEWERs read but do not write.
        app.as_user(&viewer, "mutation($c: ID!) { startConversation(input: { contactId: $c, channel: SMS }) { id } }", json!({ "c": dana }))
            .await
            .expect_code("FORBIDDEN");
        // Validation.
        let empty = app
            .as_user(&owner, "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"   \" }) { id } }", json!({ "c": talk }))
            .await
            .expect_code("BAD_USER_INPUT");
        assert_eq!(empty["errors"][0]["extensions"]["field"], "body");
        let long = "x".repeat(10_001);
        app.as_user(&owner, "mutation($c: ID!, $b: String!) { postMessage(conversationId: $c, input: { author: CONTACT, body: $b }) { id } }", json!({ "c": talk, "b": long }))
            .await
            .expect_code("BAD_USER_INPUT");

        // Filters and lists.
        let other = start(&app, &owner, &dana, "EMAIL").await;
        let closed = app.as_user(&owner, "mutation($id: ID!) { closeConversation(id: $id) { status closedAt } }", json!({ "id": talk })).await.ok();
        assert_eq!(closed["closeConversation"]["status"], "CLOSED");
        let again = app.as_user(&owner, "mutation($id: ID!) { closeConversation(id: $id) { closedAt } }", json!({ "id": talk })).await.ok();
        assert_eq!(again["closeConversation"]["closedAt"], closed["closeConversation"]["closedAt"]);
        let refused = app
            .as_user(&owner, "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"still there?\" }) { id } }", json!({ "c": talk }))
            .await
            .expect_code("CONFLICT");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "conversationId");
        let lists = app
            .as_user(&owner, "query($c: ID) { open: conversations(filter: { status: OPEN }) { totalCount edges { node { id } } }
                email: conversations(filter: { channel: EMAIL }) { totalCount }
                dana: conversations(filter: { contactId: $c }) { totalCount edges { node { id } } } }", json!({ "c": dana }))
            .await
            .ok();
        assert_eq!(lists["open"]["totalCount"], 1);
        assert_eq!(lists["open"]["edges"][0]["node"]["id"], other.as_str());
        assert_eq!(lists["email"]["totalCount"], 1);
        assert_eq!(lists["dana"]["totalCount"], 2);
        assert_eq!(lists["dana"]["edges"][0]["node"]["id"], other.as_str(), "newest first");
        // Nested from the contact.
        let nested = app
            .as_user(&owner, "query($c: ID!) { contact(id: $c) { conversations(status: CLOSED) { totalCount edges { node { id } } } all: conversations(first: 1) { totalCount pageInfo { hasNextPage } } } }", json!({ "c": dana }))
            .await
            .ok();
        assert_eq!(nested["contact"]["conversations"]["totalCount"], 1);
        assert_eq!(nested["contact"]["conversations"]["edges"][0]["node"]["id"], talk.as_str());
        assert_eq!(nested["contact"]["all"]["totalCount"], 2);
        assert_eq!(nested["contact"]["all"]["pageInfo"]["hasNextPage"], true);

        // Deleting the contact deletes its conversations and their messages.
        app.as_user(&owner, "mutation($c: ID!) { deleteContact(id: $c) }", json!({ "c": dana })).await.ok();
        assert_eq!(app.count_rows("SELECT count(*) FROM message").await, 0);
        assert_eq!(app.count_rows("SELECT count(*) FROM conversation").await, 0);
    }

    async fn assignees_are_members_and_leave_with_them(app) {
        let owner = app.sign_up("ann", "acme").await;
        let member = app.join(&owner, "max", "MEMBER").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let data = app
            .as_user(&owner, "mutation($c: ID!, $a: ID) { startConversation(input: { contactId: $c, channel: VOICE, assigneeId: $a }) { id assignee { userId name } } }", json!({ "c": dana, "a": member.user_id }))
            .await
            .ok();
        let talk = data["startConversation"]["id"].as_str().expect("id").to_owned();
        assert_eq!(data["startConversation"]["assignee"]["name"], "max");
        let mine = app.as_user(&owner, "query($a: ID) { conversations(filter: { assigneeId: $a }) { totalCount } }", json!({ "a": member.user_id })).await.ok();
        assert_eq!(mine["conversations"]["totalCount"], 1);
        app.as_user(&owner, "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": member.user_id })).await.ok();
        let after = app.as_user(&owner, "query($id: ID!) { conversation(id: $id) { assigneeId assignee { name } } }", json!({ "id": talk })).await.ok();
        assert_eq!(after["conversation"]["assigneeId"], Value::Null);
        assert_eq!(after["conversation"]["assignee"], Value::Null);
    }

    async fn keys_reach_conversations_only_with_their_scopes(app) {
        let owner = app.sign_up("ann", "acme").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let talk = start(&app, &owner, &dana, "WEB_CHAT").await;
        post(&app, &owner, &talk, "AGENT", "Welcome!").await;
        let (_, reader) = app.create_api_key(&owner, "reader", &["CONVERSATIONS_READ", "CONTACTS_READ_PII"]).await;
        let (_, no_pii) = app.create_api_key(&owner, "no pii", &["CONVERSATIONS_READ"]).await;
        let (_, writer) = app.create_api_key(&owner, "writer", &["CONVERSATIONS_WRITE"]).await;
        let (_, contacts) = app.create_api_key(&owner, "contacts", &["CONTACTS_READ", "CONTACTS_WRITE"]).await;

        let read = "query($id: ID!) { conversation(id: $id) { id messages { edges { node { body author } } } } }";
        let data = app.as_key(&reader, read, json!({ "id": talk })).await.ok();
        assert_eq!(data["conversation"]["messages"]["edges"][0]["node"]["body"], "Welcome!");
        // Without contacts:read_pii a key lists messages but not what they say.
        let bare = app.as_key(&no_pii, read, json!({ "id": talk })).await;
        assert_eq!(bare.code(), Some("FORBIDDEN"));
        assert_eq!(bare.body["data"]["conversation"]["messages"]["edges"][0]["node"]["author"], "AGENT");
        assert!(!bare.body.to_string().contains("Welcome!"));
        for key in [&writer, &contacts] {
            app.as_key(key, read, json!({ "id": talk })).await.expect_code("FORBIDDEN");
            app.as_key(key, "{ conversations { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
        }
        // A key never sees members, even as an assignee; a contact needs contacts:read.
        let assignee = app.as_key(&reader, "query($id: ID!) { conversation(id: $id) { id assignee { name } } }", json!({ "id": talk })).await;
        assert_eq!(assignee.code(), Some("FORBIDDEN"));
        assert_eq!(assignee.body["data"]["conversation"]["id"], talk.as_str());
        app.as_key(&reader, "query($id: ID!) { conversation(id: $id) { contact { name } } }", json!({ "id": talk }))
            .await
            .expect_code("FORBIDDEN");
        let owner_field = app.as_key(&contacts, "query($id: ID!) { contact(id: $id) { name owner { name } } }", json!({ "id": dana })).await;
        assert_eq!(owner_field.code(), Some("FORBIDDEN"));
        assert_eq!(owner_field.body["data"]["contact"]["name"], "Dana");
        app.as_key(&contacts, "query($id: ID!) { contact(id: $id) { conversations { totalCount } } }", json!({ "id": dana }))
            .await
            .expect_code("FORBIDDEN");

        // Writing needs conversations:write; keys post CONTACT and AI messages only.
        let started = app
            .as_key(&writer, "mutation($c: ID!) { startConversation(input: { contactId: $c, channel: SMS }) { id } }", json!({ "c": dana }))
            .await
            .ok();
        let by_key = started["startConversation"]["id"].as_str().expect("id").to_owned();
        app.as_key(&writer, "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"hi from the widget\" }) { id } }", json!({ "c": by_key }))
            .await
            .ok();
        // A key that may write but not read gets ids back, nothing it did not send.
        let echo = app
            .as_key(&writer, "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"and again\" }) { id authorId } }", json!({ "c": by_key }))
            .await;
        assert_eq!(echo.code(), Some("FORBIDDEN"));
        let read_back = app.as_user(&owner, "query($id: ID!) { conversation(id: $id) { messages { totalCount edges { node { authorId body } } } } }", json!({ "id": by_key })).await.ok();
        let messages = &read_back["conversation"]["messages"];
        assert_eq!(messages["totalCount"], 1, "the refused answer rolled its message back");
        assert_eq!(messages["edges"][0]["node"]["authorId"], Value::Null);
        app.as_key(&writer, "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: AGENT, body: \"pretending\" }) { id } }", json!({ "c": by_key }))
            .await
            .expect_code("FORBIDDEN");
        app.as_key(&writer, "mutation($c: ID!, $a: ID) { startConversation(input: { contactId: $c, channel: SMS, assigneeId: $a }) { id } }", json!({ "c": dana, "a": owner.user_id }))
            .await
            .expect_code("FORBIDDEN");
        app.as_key(&reader, "mutation($c: ID!) { closeConversation(id: $c) { id } }", json!({ "c": by_key }))
            .await
            .expect_code("FORBIDDEN");
        app.as_key(&writer, "mutation($c: ID!) { closeConversation(id: $c) { id } }", json!({ "c": by_key }))
            .await
            .ok();
    }

    async fn a_page_of_messages_written_whole_answers_as_field_by_field(app) {
        // A page of messages is written straight to JSON (`graphql::plain`); the same
        // operation with a response key selected twice is answered field by field. Both
        // must agree on every value, its escaping and its order.
        let owner = app.sign_up("ann", "acme").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let talk = start(&app, &owner, &dana, "SMS").await;
        post(&app, &owner, &talk, "CONTACT", "Quotes \" and \\ back\nslash, tab\t, é, 日本, 🙂, </script>").await;
        post(&app, &owner, &talk, "AGENT", "Plain reply.").await;
        post(&app, &owner, &talk, "AI", "line\u{2028}separator \u{7f}").await;
        let fields = "__typename id conversationId author authorId body createdAt";
        for extra in ["", "conversation { id status }"] {
            let selection = format!(
                "conversation(id: $id) {{ messages(last: 3) {{ totalCount \
                 edges {{ __typename cursor node {{ {fields} {extra} }} }} \
                 pageInfo {{ hasPreviousPage }} nodes {{ b: body ...M {extra} }} }} }}"
            );
            let whole = agree(&app, &Who::User(&owner), "query($id: ID!)", &selection, "fragment M on Message { author createdAt }", json!({ "id": talk })).await;
            let messages = &whole["data"]["conversation"]["messages"];
            let nodes = &messages["nodes"];
            assert_eq!(nodes[0]["b"], "Quotes \" and \\ back\nslash, tab\t, é, 日本, 🙂, </script>");
            assert_eq!(nodes[2]["b"], "line\u{2028}separator \u{7f}");
            let edge = &messages["edges"][1];
            assert_eq!(edge["__typename"], "MessageEdge");
            assert_eq!(edge["node"]["__typename"], "Message");
            assert_eq!(edge["node"]["authorId"], owner.user_id.as_str());
            assert_eq!(messages["edges"][0]["node"]["authorId"], Value::Null);
            if !extra.is_empty() {
                assert_eq!(nodes[1]["conversation"]["id"], talk.as_str());
                assert_eq!(edge["node"]["conversation"]["status"], "OPEN");
            }
        }

        // One response key selected twice, aliases and fragments: merged, in order.
        let merged = app
            .as_user(
                &owner,
                "query($id: ID!) { conversation(id: $id) { messages(last: 2) { edges { node { body } } edges { cursor node { id body } } } } }",
                json!({ "id": talk }),
            )
            .await
            .ok();
        let edge = &merged["conversation"]["messages"]["edges"][1];
        assert_eq!(edge.as_object().expect("edge").keys().collect::<Vec<_>>(), ["node", "cursor"]);
        assert_eq!(edge["node"].as_object().expect("node").keys().collect::<Vec<_>>(), ["body", "id"]);
        assert_eq!(edge["node"]["body"], "line\u{2028}separator \u{7f}");

        // The page itself selected twice under one key, each time with other fields:
        // both selections merge into one page.
        let twice = app
            .as_user(
                &owner,
                "query($id: ID!) { conversation(id: $id) { m: messages(last: 2) { edges { node { body } } } \
                 ...More } } fragment More on Conversation { m: messages(last: 2) { edges { cursor node { author } } } }",
                json!({ "id": talk }),
            )
            .await
            .ok();
        let edge = &twice["conversation"]["m"]["edges"][0];
        assert_eq!(edge.as_object().expect("edge").keys().collect::<Vec<_>>(), ["node", "cursor"]);
        assert_eq!(edge["node"].as_object().expect("node").keys().collect::<Vec<_>>(), ["body", "author"]);
        assert_eq!(edge["node"]["author"], "AGENT");

        // The type's guards hold for a page written whole: without contacts:read_pii, a
        // key lists the messages, never what they say.
        let (_, no_pii) = app.create_api_key(&owner, "no pii", &["CONVERSATIONS_READ"]).await;
        let listed = app
            .as_key(&no_pii, "query($id: ID!) { conversation(id: $id) { messages { nodes { author createdAt } } } }", json!({ "id": talk }))
            .await
            .ok();
        assert_eq!(listed["conversation"]["messages"]["nodes"][1]["author"], "AGENT");
        for read in ["nodes { author body }", "edges { node { body } }"] {
            let refused = app
                .as_key(&no_pii, &format!("query($id: ID!) {{ conversation(id: $id) {{ messages {{ {read} }} }} }}"), json!({ "id": talk }))
                .await;
            assert_eq!(refused.code(), Some("FORBIDDEN"), "{read}");
            assert!(!refused.body.to_string().contains("Plain reply"), "{}", refused.body);
        }
    }

    async fn a_dashboard_page_written_whole_answers_as_field_by_field(app) {
        // Pages of contacts and conversations write their plain fields straight to JSON
        // and resolve the others (`graphql::plain`). Whether everything succeeds, a field
        // is refused on some rows, a plain field is refused for the request, or a field
        // fails three pages down, the answer is the one given field by field.
        let owner = app.sign_up("ann", "acme").await;
        let member = app.join(&owner, "bob", "MEMBER").await;
        let created = app
            .as_user(&owner, "mutation { createContact(input: { name: \"Dana \\\"D\\\" Doe\", email: \"dana@customer.example.com\", notes: \"owner's notes\", externalId: \"crm-1\", tags: [\"vip\", \"lead\"], attributes: { plan: \"gold\" } }) { id } }", json!({}))
            .await
            .ok();
        let dana = created["createContact"]["id"].as_str().expect("id").to_owned();
        let eve = app.create_contact(&member, "Eve", "eve@customer.example.com").await;
        app.create_contact(&owner, "Finn, no conversations", "finn@customer.example.com").await;
        for (contact, channel) in [(&dana, "SMS"), (&dana, "WEB_CHAT"), (&eve, "EMAIL")] {
            let talk = start(&app, &owner, contact, channel).await;
            post(&app, &owner, &talk, "CONTACT", "Hi \"there\",\nsecond line").await;
            post(&app, &owner, &talk, "AGENT", "Hello, 日本 🙂").await;
        }
        let dashboard = "contacts(first: 10) { totalCount pageInfo { hasNextPage endCursor } \
            edges { __typename cursor node { __typename id name email phone ownerId externalId createdAt updatedAt \
            notes attributes tags owner { name } \
            conversations(first: 2) { totalCount edges { node { id channel status contactId assigneeId summary \
            createdAt updatedAt closedAt lastMessageAt messages(last: 5) { edges { cursor node { author body createdAt } } } } } \
            nodes { i: id ...C } } } } nodes { id name ...K } }";
        let fragments = "fragment C on Conversation { status lastMessageAt } fragment K on Contact { tags phone }";
        let answer = agree(&app, &Who::User(&owner), "query", dashboard, fragments, json!({})).await;
        let edges = answer["data"]["contacts"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 3);
        let dana_row = edges.iter().find(|edge| edge["node"]["id"] == dana.as_str()).expect("dana");
        assert_eq!(dana_row["node"]["name"], "Dana \"D\" Doe");
        assert_eq!(dana_row["node"]["tags"], json!(["lead", "vip"]));
        assert_eq!(dana_row["node"]["attributes"], json!({ "plan": "gold" }));
        assert_eq!(dana_row["node"]["owner"]["name"], "ann");
        let talks = &dana_row["node"]["conversations"];
        assert_eq!(talks["totalCount"], 2);
        assert_eq!(talks["edges"][0]["node"]["messages"]["edges"][0]["node"]["body"], "Hi \"there\",\nsecond line");
        assert_eq!(talks["nodes"][1].as_object().expect("node").keys().collect::<Vec<_>>(), ["i", "status", "lastMessageAt"]);
        assert_eq!(edges[0]["node"].as_object().expect("node").keys().next().map(String::as_str), Some("__typename"));

        // A member reads the notes of their own contacts only: refused on the others'
        // rows, with a path each, and `null` in their place.
        let answer = agree(&app, &Who::User(&member), "query", dashboard, fragments, json!({})).await;
        let edges = answer["data"]["contacts"]["edges"].as_array().expect("edges");
        let refused = answer["errors"].as_array().expect("errors");
        assert_eq!(refused.len(), 2, "{answer}");
        for error in refused {
            assert_eq!(error["extensions"]["code"], "FORBIDDEN");
            let path = error["path"].as_array().expect("path");
            assert_eq!(path.last(), Some(&json!("notes")));
            let row = path[2].as_u64().expect("index") as usize;
            assert_ne!(edges[row]["node"]["id"], eve.as_str());
        }
        for edge in edges {
            assert!(edge["node"].as_object().expect("node").contains_key("notes"));
            assert!(edge["node"]["notes"].is_null());
            assert!(edge["node"]["name"].is_string());
        }
        assert!(!answer.to_string().contains("owner's notes"));

        // A key without contacts:read_pii: `email` is refused for the request (the page
        // is answered field by field), `conversations` without conversations:read on
        // every row, and a message's body three pages down.
        let (_, names) = app.create_api_key(&owner, "names", &["CONTACTS_READ"]).await;
        let answer = agree(&app, &Who::Key(&names), "query", "contacts { edges { node { id name email conversations { totalCount } } } }", "", json!({})).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
        let answer = agree(&app, &Who::Key(&names), "query", "contacts { nodes { id name tags conversations { totalCount } } }", "", json!({})).await;
        assert_eq!(answer["errors"].as_array().expect("errors").len(), 3);
        assert_eq!(answer["data"]["contacts"]["nodes"][0]["conversations"], Value::Null);
        let (_, no_pii) = app.create_api_key(&owner, "no pii", &["CONTACTS_READ", "CONVERSATIONS_READ"]).await;
        let deep = "contacts(first: 5) { edges { node { name conversations(first: 2) { edges { node { status messages(first: 2) { nodes { author body } } } } } } } }";
        let answer = agree(&app, &Who::Key(&no_pii), "query", deep, "", json!({})).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert!(!answer.to_string().contains("Hello, 日本"));
        let rows = answer["data"]["contacts"]["edges"].as_array().expect("edges");
        let message = rows
            .iter()
            .find_map(|row| row["node"]["conversations"]["edges"][0]["node"]["messages"]["nodes"].get(0))
            .expect("a message");
        assert_eq!(message["author"], "CONTACT");
        assert_eq!(message["body"], Value::Null);
    }

    async fn times_of_every_row_of_a_page_read_back_as_stored(app) {
        // A page's rows after the first are read by position, a PostgreSQL time from its
        // binary form by arithmetic (`tenant::decode`): before and after that format's
        // epoch (2000-01-01), with and without fractions, every row reads as stored.
        let owner = app.sign_up("ann", "acme").await;
        let dana = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        let talk = start(&app, &owner, &dana, "SMS").await;
        let stamps = [
            "1969-07-20T20:17:40+00:00",
            "1970-01-01T00:00:00.000001+00:00",
            "1999-12-31T23:59:59.500+00:00",
            "2000-01-01T00:00:00+00:00",
            "2026-12-02T18:30:05.123456+00:00",
            "2100-02-28T23:59:59.999999+00:00",
        ];
        for (index, stamp) in stamps.iter().enumerate() {
            post(&app, &owner, &talk, "CONTACT", &format!("message {index}")).await;
            let time = chrono::DateTime::parse_from_rfc3339(stamp).expect("time").with_timezone(&chrono::Utc);
            app.execute_with("UPDATE message SET created_at = $1 WHERE body = $2", vec![time.into(), format!("message {index}").into()]).await;
        }
        let data = app
            .as_user(&owner, "query($id: ID!) { conversation(id: $id) { messages(first: 10) { nodes { body createdAt } } } }", json!({ "id": talk }))
            .await
            .ok();
        let mut read: Vec<(String, String)> = data["conversation"]["messages"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|node| (node["body"].as_str().expect("body").to_owned(), node["createdAt"].as_str().expect("time").to_owned()))
            .collect();
        read.sort();
        let expected: Vec<(String, String)> =
            stamps.iter().enumerate().map(|(index, stamp)| (format!("message {index}"), (*stamp).to_owned())).collect();
        assert_eq!(read, expected);
    }

    async fn contacts_carry_tags_external_ids_and_attributes(app) {
        let owner = app.sign_up("ann", "acme").await;
        let created = app
            .as_user(&owner, "mutation { createContact(input: { name: \"Dana\", email: \"dana@customer.example.com\", externalId: \" crm-42 \", tags: [\"VIP\", \"vip\", \" newsletter \"], attributes: { plan: \"gold\", seats: 3 } }) { id externalId tags attributes owner { userId name } } }", json!({}))
            .await
            .ok();
        let contact = &created["createContact"];
        let id = contact["id"].as_str().expect("id").to_owned();
        assert_eq!(contact["externalId"], "crm-42");
        assert_eq!(contact["tags"], json!(["newsletter", "vip"]));
        assert_eq!(contact["attributes"], json!({ "plan": "gold", "seats": 3 }));
        assert_eq!(contact["owner"]["userId"], owner.user_id.as_str());
        app.create_contact(&owner, "Eve", "eve@customer.example.com").await;

        let duplicate = app
            .as_user(&owner, "mutation { createContact(input: { name: \"Other\", externalId: \"crm-42\" }) { id } }", json!({}))
            .await
            .expect_code("CONFLICT");
        assert_eq!(duplicate["errors"][0]["extensions"]["field"], "externalId");
        for (input, field) in [
            (json!({ "name": "x", "tags": [""] }), "tags"),
            (json!({ "name": "x", "tags": ["t".repeat(65)] }), "tags"),
            (json!({ "name": "x", "attributes": [1, 2] }), "attributes"),
            (json!({ "name": "x", "attributes": { "big": "y".repeat(17_000) } }), "attributes"),
            (json!({ "name": "x", "externalId": "e".repeat(201) }), "externalId"),
        ] {
            let body = app
                .as_user(&owner, "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }", json!({ "i": input }))
                .await
                .expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }

        let filtered = app
            .as_user(&owner, "{ vip: contacts(filter: { tag: \"VIP\" }) { totalCount edges { node { name } } } later: contacts(filter: { createdFrom: \"2999-01-01T00:00:00Z\" }) { totalCount } earlier: contacts(filter: { createdTo: \"2999-01-01T00:00:00Z\" }) { totalCount } }", json!({}))
            .await
            .ok();
        assert_eq!(filtered["vip"]["totalCount"], 1);
        assert_eq!(filtered["vip"]["edges"][0]["node"]["name"], "Dana");
        assert_eq!(filtered["later"]["totalCount"], 0);
        assert_eq!(filtered["earlier"]["totalCount"], 2);

        let updated = app
            .as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { tags: [\"churn-risk\"], externalId: null, attributes: { plan: \"silver\" } }) { tags externalId attributes } }", json!({ "id": id }))
            .await
            .ok();
        assert_eq!(updated["updateContact"]["tags"], json!(["churn-risk"]));
        assert_eq!(updated["updateContact"]["externalId"], Value::Null);
        assert_eq!(updated["updateContact"]["attributes"], json!({ "plan": "silver" }));
    }

    async fn identify_contact_finds_or_creates(app) {
        let owner = app.sign_up("ann", "acme").await;
        let (_, key) = app.create_api_key(&owner, "site", &["CONTACTS_WRITE", "CONTACTS_READ", "CONTACTS_READ_PII"]).await;
        let identify = "mutation($i: IdentifyContactInput!) { identifyContact(input: $i) { created contact { id name email externalId tags attributes ownerId } } }";
        let first = app
            .as_key(&key, identify, json!({ "i": { "externalId": "visitor-7", "email": "Pat@Example.com", "tags": ["web"], "attributes": { "source": "ad", "step": 1 } } }))
            .await
            .ok();
        let made = &first["identifyContact"];
        assert_eq!(made["created"], true);
        assert_eq!(made["contact"]["name"], "pat@example.com", "the email stands in for a missing name");
        assert_eq!(made["contact"]["ownerId"], Value::Null);
        let id = made["contact"]["id"].as_str().expect("id").to_owned();

        // The same person again, by email only: updated, tags added, attributes merged.
        let second = app
            .as_key(&key, identify, json!({ "i": { "email": "pat@example.com", "name": "Pat", "tags": ["trial"], "attributes": { "step": 2, "source": null } } }))
            .await
            .ok();
        let found = &second["identifyContact"];
        assert_eq!(found["created"], false);
        assert_eq!(found["contact"]["id"], id.as_str());
        assert_eq!(found["contact"]["name"], "Pat");
        assert_eq!(found["contact"]["externalId"], "visitor-7");
        assert_eq!(found["contact"]["tags"], json!(["trial", "web"]));
        assert_eq!(found["contact"]["attributes"], json!({ "step": 2 }));

        // By external id only.
        let third = app.as_key(&key, identify, json!({ "i": { "externalId": "visitor-7" } })).await.ok();
        assert_eq!(third["identifyContact"]["contact"]["id"], id.as_str());
        // Conflicting identities are refused, nothing changes.
        app.create_contact(&owner, "Other", "other@example.com").await;
        let clash = app
            .as_key(&key, identify, json!({ "i": { "externalId": "visitor-7", "email": "other@example.com" } }))
            .await
            .expect_code("CONFLICT");
        assert_eq!(clash["errors"][0]["extensions"]["field"], "email");
        let neither = app.as_key(&key, identify, json!({ "i": { "name": "Nobody" } })).await.expect_code("BAD_USER_INPUT");
        assert_eq!(neither["errors"][0]["extensions"]["field"], "externalId");
        let (_, read_only) = app.create_api_key(&owner, "read", &["CONTACTS_READ"]).await;
        app.as_key(&read_only, identify, json!({ "i": { "email": "new@example.com" } })).await.expect_code("FORBIDDEN");
        let count = app.as_user(&owner, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(count["contacts"]["totalCount"], 2);
    }
}

/// Builds `contacts` contacts, each owned by the owner, tagged, with two conversations of
/// three messages, through aliased mutations (a few requests, not hundreds).
async fn populate(app: &TestApp, owner: &Account, contacts: usize) {
    let mut ids = Vec::new();
    for chunk in (0..contacts).collect::<Vec<_>>().chunks(25) {
        let fields: String = chunk
            .iter()
            .map(|n| format!("c{n}: createContact(input: {{ name: \"Contact {n}\", tags: [\"t{}\"] }}) {{ id }} ", n % 3))
            .collect();
        let data = app
            .as_user(owner, &format!("mutation {{ {fields} }}"), json!({}))
            .await
            .ok();
        ids.extend(
            chunk
                .iter()
                .map(|n| data[format!("c{n}")]["id"].as_str().expect("id").to_owned()),
        );
    }
    let mut conversations = Vec::new();
    for chunk in ids.chunks(12) {
        let fields: String = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                [0, 1].map(|k| format!("v{i}_{k}: startConversation(input: {{ contactId: \"{id}\", channel: SMS }}) {{ id }} "))
            })
            .collect();
        let data = app
            .as_user(owner, &format!("mutation {{ {fields} }}"), json!({}))
            .await
            .ok();
        conversations.extend(
            data.as_object()
                .expect("object")
                .values()
                .map(|v| v["id"].as_str().expect("id").to_owned()),
        );
    }
    for chunk in conversations.chunks(16) {
        let fields: String = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                [0, 1, 2].map(|k| format!("m{i}_{k}: postMessage(conversationId: \"{id}\", input: {{ author: CONTACT, body: \"message {k}\" }}) {{ id }} "))
            })
            .collect();
        app.as_user(owner, &format!("mutation {{ {fields} }}"), json!({}))
            .await
            .ok();
    }
}

/// Each contact with its owner and the last five messages of its latest conversation.
const DEEP: &str = "query($n: Int) { contacts(first: $n) { edges { node { id owner { name }
    conversations(first: 1) { edges { node { messages(last: 5) { edges { node { body } } } } } } } } } }";
/// Each contact with its owner, tags, and conversation counts (cheap enough for 100).
const WIDE: &str =
    "query($n: Int) { contacts(first: $n) { totalCount edges { node { id owner { name } tags
    conversations(first: 1) { totalCount } } } } }";
/// The README's dashboard query (without its tag filter).
const DASHBOARD: &str = "query($n: Int) { contacts(first: $n) { totalCount edges { node {
    id name tags owner { name }
    conversations(first: 1) { totalCount edges { node {
      id channel status summary
      messages(last: 5) { edges { node { author body createdAt } } } } } } } } } }";

/// The statements one request ran, apart from the background work of other tables.
fn own(seen: Vec<String>) -> Vec<String> {
    seen.into_iter()
        .filter(|sql| !sql.contains("outbox") && !sql.contains("api_key"))
        .collect()
}

async fn statements_for_page(
    app: &TestApp,
    owner: &Account,
    query: &str,
    first: usize,
) -> (Vec<String>, Value) {
    app.statements.watch();
    let data = app.as_user(owner, query, json!({ "n": first })).await.ok();
    let own = own(app.statements.take());
    // Shown when an assertion on the count fails.
    eprintln!("statements for a page of {first}: {own:#?}");
    (own, data)
}

fn counts(statements: &[String]) -> usize {
    statements
        .iter()
        .filter(|sql| sql.to_uppercase().contains("COUNT("))
        .count()
}

async fn nested_pages_cost_a_constant_number_of_statements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.sign_up("ann", "acme").await;
    populate(&app, &owner, 100).await;
    let (ten, data) = statements_for_page(&app, &owner, DEEP, 10).await;
    let edges = data["contacts"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 10);
    let node = &edges[0]["node"];
    assert_eq!(node["owner"]["name"], "ann");
    let messages = &node["conversations"]["edges"][0]["node"]["messages"]["edges"];
    assert_eq!(messages.as_array().map(Vec::len), Some(3));
    assert_eq!(messages[2]["node"]["body"], "message 2");
    let (fifty, data) = statements_for_page(&app, &owner, DEEP, 50).await;
    assert_eq!(data["contacts"]["edges"].as_array().map(Vec::len), Some(50));
    assert_eq!(
        ten.len(),
        fifty.len(),
        "a page of 50 contacts costs as many statements as a page of 10"
    );
    // Set-up (one statement on PostgreSQL, two on SQLite), the page, owners (memberships
    // with their users, joined), conversations, messages; no count that was not asked for.
    let most = if backend == Backend::Postgres { 5 } else { 6 };
    let run: Vec<&String> = ten
        .iter()
        .filter(|sql| !matches!(sql.trim(), "BEGIN" | "COMMIT"))
        .collect();
    assert!(run.len() <= most, "at most {most} statements: {run:#?}");
    assert_eq!(counts(&ten), 0, "nothing counted that was not selected");

    let (ten, _) = statements_for_page(&app, &owner, WIDE, 10).await;
    let (hundred, data) = statements_for_page(&app, &owner, WIDE, 100).await;
    assert_eq!(
        data["contacts"]["edges"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(data["contacts"]["totalCount"], 100);
    assert_eq!(
        data["contacts"]["edges"][99]["node"]["conversations"]["totalCount"],
        2
    );
    assert_eq!(
        ten.len(),
        hundred.len(),
        "a page of 100 costs as many statements as a page of 10"
    );
    assert_eq!(counts(&hundred), 2, "one count per selected totalCount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_pages_cost_a_constant_number_of_statements_sqlite() {
    nested_pages_cost_a_constant_number_of_statements(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_pages_cost_a_constant_number_of_statements_postgres() {
    nested_pages_cost_a_constant_number_of_statements(Backend::Postgres).await;
}

/// Batches never split: many dashboards at once (on the test's two worker threads, next
/// to the gateway's own work) cost exactly as many statements each as one alone. A batch
/// sent before every sibling of a page had asked would show up as an extra statement.
async fn batches_never_split_under_concurrent_load(backend: Backend) {
    // More requests than pooled connections: wait for one as long as a busy test machine
    // needs.
    let app = TestApp::spawn_with(backend, |config| {
        config.database.db_acquire_timeout_secs = 60;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    populate(&app, &owner, 100).await;
    let (alone, _) = statements_for_page(&app, &owner, DASHBOARD, 100).await;
    const AT_ONCE: usize = 24;
    for round in 0..3 {
        app.statements.watch();
        let pages = (0..AT_ONCE).map(|i| {
            let first = [100, 50, 100][(i + round) % 3];
            app.as_user(&owner, DASHBOARD, json!({ "n": first }))
        });
        for reply in futures_util::future::join_all(pages).await {
            let data = reply.ok();
            assert!(
                data["contacts"]["edges"]
                    .as_array()
                    .is_some_and(|e| e.len() >= 50)
            );
        }
        let seen = own(app.statements.take());
        assert_eq!(
            seen.len(),
            AT_ONCE * alone.len(),
            "round {round}: {AT_ONCE} dashboards at once cost {} statements each, alone {}",
            seen.len() as f64 / AT_ONCE as f64,
            alone.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_never_split_under_concurrent_load_sqlite() {
    batches_never_split_under_concurrent_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_never_split_under_concurrent_load_postgres() {
    batches_never_split_under_concurrent_load(Backend::Postgres).await;
}

/// The README promises its dashboard for 10, 50 or 100 contacts with the default limits,
/// and an answer's fields come in the order the query selected them (the GraphQL spec),
/// whichever field finished first (here `owner` and `tags` wait on loaders).
async fn the_dashboard_answers_100_contacts_in_selection_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.sign_up("ann", "acme").await;
    populate(&app, &owner, 100).await;
    let data = app
        .as_user(&owner, DASHBOARD, json!({ "n": 100 }))
        .await
        .ok();
    let keys = |value: &Value| -> Vec<String> {
        value.as_object().expect("object").keys().cloned().collect()
    };
    assert_eq!(keys(&data["contacts"]), ["totalCount", "edges"]);
    let edges = data["contacts"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 100);
    for edge in edges {
        let node = &edge["node"];
        assert_eq!(keys(node), ["id", "name", "tags", "owner", "conversations"]);
        assert_eq!(keys(&node["conversations"]), ["totalCount", "edges"]);
        let conversation = &node["conversations"]["edges"][0]["node"];
        assert_eq!(
            keys(conversation),
            ["id", "channel", "status", "summary", "messages"]
        );
        let message = &conversation["messages"]["edges"][0]["node"];
        assert_eq!(keys(message), ["author", "body", "createdAt"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_answers_100_contacts_in_selection_order_sqlite() {
    the_dashboard_answers_100_contacts_in_selection_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_answers_100_contacts_in_selection_order_postgres() {
    the_dashboard_answers_100_contacts_in_selection_order(Backend::Postgres).await;
}

async fn closed_conversations_get_summaries(backend: Backend) {
    const SECRET: &str = "operators-only-secret-value-0123456789";
    let app = TestApp::spawn_with(backend, |config| {
        config.cron_secret = Some(SECRET.parse().expect("secret"))
    })
    .await;
    let acme = app.sign_up("ann", "acme").await;
    let bobco = app.sign_up("bob", "bobco").await;
    let dana = app
        .create_contact(&acme, "Dana", "dana@customer.example.com")
        .await;
    let closed = start(&app, &acme, &dana, "WEB_CHAT").await;
    post(&app, &acme, &closed, "CONTACT", "Where is my order?").await;
    post(&app, &acme, &closed, "AI", "It ships tomorrow.").await;
    app.as_user(
        &acme,
        "mutation($id: ID!) { closeConversation(id: $id) { id } }",
        json!({ "id": closed }),
    )
    .await
    .ok();
    let open = start(&app, &acme, &dana, "SMS").await;
    post(&app, &acme, &open, "CONTACT", "Still talking").await;
    let eve = app
        .create_contact(&bobco, "Eve", "eve@customer.example.com")
        .await;
    let silent = start(&app, &bobco, &eve, "EMAIL").await;
    app.as_user(
        &bobco,
        "mutation($id: ID!) { closeConversation(id: $id) { id } }",
        json!({ "id": silent }),
    )
    .await
    .ok();

    let run = "mutation { runSystemJob(job: SUMMARIZE_CONVERSATIONS) { job failures organizations { organizationId processed failed } } }";
    let report = app.graphql(Some(SECRET), None, run, json!({})).await.ok();
    assert_eq!(report["runSystemJob"]["failures"], 0);
    let processed: std::collections::HashMap<String, u64> = report["runSystemJob"]["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .map(|o| {
            (
                o["organizationId"].as_str().expect("id").to_owned(),
                o["processed"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(processed[&acme.organization_id], 1);
    assert_eq!(processed[&bobco.organization_id], 1);

    let read = "query($id: ID!) { conversation(id: $id) { summary } }";
    let summary = app.as_user(&acme, read, json!({ "id": closed })).await.ok();
    assert_eq!(
        summary["conversation"]["summary"],
        "2 messages (1 from the contact, 0 from agents, 1 from the AI). Opened with: \"Where is my order?\" Last: \"It ships tomorrow.\""
    );
    let untouched = app.as_user(&acme, read, json!({ "id": open })).await.ok();
    assert_eq!(
        untouched["conversation"]["summary"],
        Value::Null,
        "open conversations wait"
    );
    let empty = app
        .as_user(&bobco, read, json!({ "id": silent }))
        .await
        .ok();
    assert_eq!(empty["conversation"]["summary"], "Closed without messages.");
    // A second run finds nothing left to do.
    let again = app.graphql(Some(SECRET), None, run, json!({})).await.ok();
    let total: u64 = again["runSystemJob"]["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .map(|o| o["processed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_conversations_get_summaries_sqlite() {
    closed_conversations_get_summaries(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_conversations_get_summaries_postgres() {
    closed_conversations_get_summaries(Backend::Postgres).await;
}
