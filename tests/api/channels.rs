//! Channel configurations: their life cycle, the effective instructions at each level,
//! validation, who may read and write them (roles, API keys), the public widget look-up,
//! isolation between organizations, write-only credentials and read-only organizations.

use serde_json::{Value, json};
use tenantgate::config::DEFAULT_AGENT_INSTRUCTIONS;

use crate::helpers::{Account, Backend, Reply, TestApp};
use crate::on_both_databases;

const CONFIG: &str = "kind enabled provider model instructions settings hasCredentials
    effectiveInstructions { text source } createdAt updatedAt";

const ALL_SCOPES: [&str; 8] = [
    "CONTACTS_READ",
    "CONTACTS_READ_PII",
    "CONTACTS_WRITE",
    "CONVERSATIONS_READ",
    "CONVERSATIONS_WRITE",
    "EVENTS_WRITE",
    "ANALYTICS_READ",
    "CHANNELS_READ",
];

/// Credential values distinctive enough to be found anywhere they might leak.
const SECRET_API_KEY: &str = "sk-live-9f3a7c21-credential-canary";
const SECRET_TOKEN: &str = "auth-token-5e8d0b44-credential-canary";

fn web_chat() -> Value {
    json!({
        "enabled": true,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "settings": {
            "greeting": "Hi! How can we help?",
            "branding": { "color": "#0055ff", "logoUrl": "https://acme.example.com/logo.svg" },
            "escalationEmail": "support@acme.example.com",
        },
    })
}

fn sms() -> Value {
    json!({ "enabled": false, "provider": "anthropic", "model": "claude-haiku" })
}

async fn upsert(app: &TestApp, account: &Account, kind: &str, input: Value) -> Reply {
    app.as_user(
        account,
        &format!(
            "mutation($k: ChannelKind!, $i: UpsertChannelConfigInput!) {{
                upsertChannelConfig(kind: $k, input: $i) {{ {CONFIG} }} }}"
        ),
        json!({ "k": kind, "i": input }),
    )
    .await
}

async fn set_credentials(
    app: &TestApp,
    account: &Account,
    kind: &str,
    credentials: Value,
) -> Reply {
    app.as_user(
        account,
        &format!(
            "mutation($k: ChannelKind!, $c: JSON) {{
                setChannelCredentials(kind: $k, credentials: $c) {{ {CONFIG} }} }}"
        ),
        json!({ "k": kind, "c": credentials }),
    )
    .await
}

async fn delete(app: &TestApp, account: &Account, kind: &str) -> Reply {
    app.as_user(
        account,
        "mutation($k: ChannelKind!) { deleteChannelConfig(kind: $k) }",
        json!({ "k": kind }),
    )
    .await
}

async fn agent_instructions(app: &TestApp, account: &Account, text: Value) -> Reply {
    app.as_user(
        account,
        "mutation($t: String) { updateAgentInstructions(instructions: $t) { text source } }",
        json!({ "t": text }),
    )
    .await
}

async fn one(app: &TestApp, account: &Account, kind: &str) -> Reply {
    app.as_user(
        account,
        &format!("query($k: ChannelKind!) {{ channelConfig(kind: $k) {{ {CONFIG} }} }}"),
        json!({ "k": kind }),
    )
    .await
}

async fn list(app: &TestApp, account: &Account) -> Value {
    app.as_user(
        account,
        &format!("{{ channelConfigs {{ totalCount edges {{ node {{ {CONFIG} }} }} }} }}"),
        json!({}),
    )
    .await
    .ok()["channelConfigs"]
        .clone()
}

fn kinds(connection: &Value) -> Vec<&str> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"]["kind"].as_str().expect("kind"))
        .collect()
}

async fn audit_actions(app: &TestApp, account: &Account) -> Vec<String> {
    let data = app
        .as_user(
            account,
            "{ auditLog(first: 100) { edges { node { action } } } }",
            json!({}),
        )
        .await
        .ok();
    data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"]["action"].as_str().expect("action").to_owned())
        .filter(|action| action.starts_with("channel.") || action.starts_with("organization.agent"))
        .collect()
}

fn field_of(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("")
}

/// How many rows of `channel_config` hold `needle` in their sealed credentials' bytes.
async fn sealed_rows_containing(app: &TestApp, needle: &str) -> i64 {
    let sql = match app.backend {
        Backend::Sqlite => format!(
            "SELECT count(*) FROM channel_config WHERE instr(credentials_sealed, CAST('{needle}' AS BLOB)) > 0"
        ),
        Backend::Postgres => format!(
            "SELECT count(*) FROM channel_config WHERE position(convert_to('{needle}', 'UTF8') IN credentials_sealed) > 0"
        ),
    };
    app.count_rows(&sql).await
}

on_both_databases! {
    async fn a_channel_is_configured_listed_given_credentials_and_deleted(app) {
        let owner = app.sign_up("ann", "acme").await;
        assert_eq!(list(&app, &owner).await["totalCount"], 0);
        let missing = one(&app, &owner, "WEB_CHAT").await.expect_code("NOT_FOUND");
        assert!(missing["data"]["channelConfig"].is_null(), "{missing}");

        let created = upsert(&app, &owner, "WEB_CHAT", web_chat()).await.ok()["upsertChannelConfig"].clone();
        assert_eq!(created["kind"], "WEB_CHAT");
        assert_eq!(created["enabled"], true);
        assert_eq!(created["provider"], "openai");
        assert_eq!(created["model"], "gpt-4o-mini");
        assert_eq!(created["instructions"], Value::Null);
        assert_eq!(created["settings"], web_chat()["settings"]);
        assert_eq!(created["hasCredentials"], false);
        assert_eq!(created["effectiveInstructions"]["source"], "SYSTEM");
        assert_eq!(created["effectiveInstructions"]["text"], DEFAULT_AGENT_INSTRUCTIONS);
        assert_eq!(one(&app, &owner, "WEB_CHAT").await.ok()["channelConfig"], created);

        // Listed in the order of the enum (not the stored names'), a page at a time.
        upsert(&app, &owner, "EMAIL", sms()).await.ok();
        let made = upsert(&app, &owner, "SMS", sms()).await.ok();
        assert_eq!(made["upsertChannelConfig"]["settings"], json!({}), "settings default to an empty object");
        assert_eq!(kinds(&list(&app, &owner).await), ["WEB_CHAT", "SMS", "EMAIL"]);
        let page = app
            .as_user(&owner, "{ channelConfigs(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { kind } } } }", json!({}))
            .await
            .ok()["channelConfigs"]
            .clone();
        assert_eq!(page["totalCount"], 3);
        assert_eq!(kinds(&page), ["WEB_CHAT", "SMS"]);
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let rest = app
            .as_user(&owner, "query($a: String) { channelConfigs(first: 2, after: $a) { pageInfo { hasNextPage } edges { node { kind } } } }",
                json!({ "a": page["pageInfo"]["endCursor"] }))
            .await
            .ok()["channelConfigs"]
            .clone();
        assert_eq!(kinds(&rest), ["EMAIL"]);
        assert_eq!(rest["pageInfo"]["hasNextPage"], false);
        let body = app.as_user(&owner, "{ channelConfigs(after: \"bm9wZQ\") { totalCount } }", json!({})).await.expect_code("BAD_USER_INPUT");
        assert_eq!(field_of(&body), "after");

        // Credentials: set, kept by a replacing upsert, cleared with null.
        let with = set_credentials(&app, &owner, "WEB_CHAT", json!({ "apiKey": SECRET_API_KEY })).await.ok();
        assert_eq!(with["setChannelCredentials"]["hasCredentials"], true);
        let replaced = upsert(&app, &owner, "WEB_CHAT", json!({
            "enabled": false, "provider": "mistral", "model": "small", "instructions": "Be brief.",
        }))
        .await
        .ok()["upsertChannelConfig"]
            .clone();
        assert_eq!(replaced["hasCredentials"], true, "an upsert leaves the credentials alone");
        assert_eq!(replaced["settings"], json!({}), "an upsert replaces the whole configuration");
        assert_eq!(replaced["createdAt"], created["createdAt"]);
        let time = |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339");
        assert!(time(&replaced["updatedAt"]) >= time(&created["updatedAt"]));
        let cleared = set_credentials(&app, &owner, "WEB_CHAT", Value::Null).await.ok();
        assert_eq!(cleared["setChannelCredentials"]["hasCredentials"], false);
        let body = set_credentials(&app, &owner, "VOICE", json!({ "apiKey": "x" })).await.expect_code("NOT_FOUND");
        assert!(body["data"].is_null());

        // Deleting answers the kind; a second time there is nothing to delete.
        assert_eq!(delete(&app, &owner, "SMS").await.ok()["deleteChannelConfig"], "SMS");
        delete(&app, &owner, "SMS").await.expect_code("NOT_FOUND");
        assert_eq!(kinds(&list(&app, &owner).await), ["WEB_CHAT", "EMAIL"]);

        assert_eq!(audit_actions(&app, &owner).await, [
            "channel.deleted", "channel.credentials_cleared", "channel.upserted",
            "channel.credentials_set", "channel.upserted", "channel.upserted", "channel.upserted",
        ]);
        let entry = app
            .as_user(&owner, "{ auditLog(first: 1, filter: { action: \"channel.deleted\" }) { edges { node { targetType targetId summary } } } }", json!({}))
            .await
            .ok()["auditLog"]["edges"][0]["node"]
            .clone();
        assert_eq!(entry["targetType"], "channel");
        assert_eq!(entry["targetId"], "SMS");
        assert_eq!(entry["summary"]["before"]["provider"], "anthropic");
    }

    async fn effective_instructions_come_from_the_channel_the_organization_or_the_system(app) {
        let owner = app.sign_up("ann", "acme").await;
        let default = "{ agentInstructions { text source } }";
        let system = json!({ "text": DEFAULT_AGENT_INSTRUCTIONS, "source": "SYSTEM" });
        assert_eq!(app.as_user(&owner, default, json!({})).await.ok()["agentInstructions"], system);

        upsert(&app, &owner, "WEB_CHAT", web_chat()).await.ok();
        let mut own = sms();
        own["instructions"] = json!("Reply by SMS in at most 160 characters.");
        upsert(&app, &owner, "SMS", own).await.ok();
        let effective = |connection: &Value, kind: &str| {
            connection["edges"].as_array().expect("edges").iter()
                .find(|edge| edge["node"]["kind"] == kind)
                .map(|edge| edge["node"]["effectiveInstructions"].clone())
                .expect("the channel")
        };
        let listed = list(&app, &owner).await;
        assert_eq!(effective(&listed, "WEB_CHAT"), system);
        assert_eq!(effective(&listed, "SMS")["source"], "CHANNEL");
        assert_eq!(effective(&listed, "SMS")["text"], "Reply by SMS in at most 160 characters.");

        // The organization's default sits between the channel and the system.
        let organization = json!({ "text": "Answer in French.", "source": "ORGANIZATION" });
        let updated = agent_instructions(&app, &owner, json!("Answer in French.")).await.ok();
        assert_eq!(updated["updateAgentInstructions"], organization);
        assert_eq!(app.as_user(&owner, default, json!({})).await.ok()["agentInstructions"], organization);
        let listed = list(&app, &owner).await;
        assert_eq!(effective(&listed, "WEB_CHAT"), organization);
        assert_eq!(effective(&listed, "SMS")["source"], "CHANNEL");

        // A channel whose instructions become empty falls back to the organization.
        let mut blank = sms();
        blank["instructions"] = json!("   ");
        let fallen = upsert(&app, &owner, "SMS", blank).await.ok();
        assert_eq!(fallen["upsertChannelConfig"]["instructions"], Value::Null);
        assert_eq!(fallen["upsertChannelConfig"]["effectiveInstructions"], organization);

        // Clearing the organization's default (null or empty) leaves the system's.
        let cleared = agent_instructions(&app, &owner, json!("")).await.ok();
        assert_eq!(cleared["updateAgentInstructions"], system);
        agent_instructions(&app, &owner, json!("Answer in German.")).await.ok();
        let cleared = agent_instructions(&app, &owner, Value::Null).await.ok();
        assert_eq!(cleared["updateAgentInstructions"], system);
        assert_eq!(effective(&list(&app, &owner).await, "SMS"), system);
        assert_eq!(audit_actions(&app, &owner).await.iter().filter(|a| a.starts_with("organization.")).count(), 4);
    }

    async fn bad_channel_input_is_refused_naming_the_field(app) {
        let owner = app.sign_up("ann", "acme").await;
        let with = |field: &str, value: Value| {
            let mut input = web_chat();
            input[field] = value;
            input
        };
        let cases = [
            (with("provider", json!("")), "provider"),
            (with("provider", json!("p".repeat(101))), "provider"),
            (with("model", json!("  ")), "model"),
            (with("model", json!("m".repeat(101))), "model"),
            (with("instructions", json!("i".repeat(20_001))), "instructions"),
            (with("settings", json!("a string")), "settings"),
            (with("settings", json!([1, 2])), "settings"),
            (with("settings", json!({ "blob": "x".repeat(16 * 1024) })), "settings"),
            (with("settings", json!({ "greeting": 42 })), "settings.greeting"),
            (with("settings", json!({ "greeting": "g".repeat(501) })), "settings.greeting"),
            (with("settings", json!({ "branding": "blue" })), "settings.branding"),
        ];
        for (input, field) in cases {
            let body = upsert(&app, &owner, "WEB_CHAT", input).await.expect_code("BAD_USER_INPUT");
            assert_eq!(field_of(&body), field, "{body}");
        }
        assert_eq!(list(&app, &owner).await["totalCount"], 0, "nothing was created");
        // The limits themselves are allowed.
        let mut longest = with("instructions", json!("i".repeat(20_000)));
        longest["settings"] = json!({ "greeting": "g".repeat(500) });
        upsert(&app, &owner, "WEB_CHAT", longest).await.ok();

        for credentials in [json!("a string"), json!([]), json!({}), json!({ "k": "x".repeat(16 * 1024) })] {
            let body = set_credentials(&app, &owner, "WEB_CHAT", credentials).await.expect_code("BAD_USER_INPUT");
            assert_eq!(field_of(&body), "credentials", "{body}");
        }
        let omitted = app
            .as_user(&owner, "mutation { setChannelCredentials(kind: WEB_CHAT) { hasCredentials } }", json!({}))
            .await
            .expect_code("BAD_USER_INPUT");
        assert_eq!(field_of(&omitted), "credentials");
        let body = agent_instructions(&app, &owner, json!("i".repeat(20_001))).await.expect_code("BAD_USER_INPUT");
        assert_eq!(field_of(&body), "instructions");
        let kind = app
            .as_user(&owner, "mutation { deleteChannelConfig(kind: FAX) }", json!({}))
            .await;
        assert_eq!(kind.code(), Some("BAD_USER_INPUT"), "{}", kind.body);
        assert_eq!(one(&app, &owner, "WEB_CHAT").await.ok()["channelConfig"]["hasCredentials"], false);
    }

    async fn only_admins_and_owners_read_and_change_channels(app) {
        let owner = app.sign_up("ann", "acme").await;
        upsert(&app, &owner, "WEB_CHAT", web_chat()).await.ok();
        let reads = [
            "{ channelConfigs { totalCount edges { node { kind provider } } } }",
            "{ channelConfig(kind: WEB_CHAT) { kind provider } }",
            "{ agentInstructions { text source } }",
        ];
        let writes = [
            "mutation { upsertChannelConfig(kind: SMS, input: { enabled: true, provider: \"p\", model: \"m\" }) { kind } }",
            "mutation { setChannelCredentials(kind: WEB_CHAT, credentials: { token: \"t\" }) { hasCredentials } }",
            "mutation { updateAgentInstructions(instructions: \"Be nice.\") { source } }",
            "mutation { deleteChannelConfig(kind: SMS) }",
        ];
        for role in ["MANAGER", "MEMBER", "VIEWER"] {
            let account = app.join(&owner, &role.to_lowercase(), role).await;
            for query in reads.iter().chain(writes.iter()) {
                let reply = app.as_user(&account, query, json!({})).await;
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{role}: {query}: {}", reply.body);
                assert!(!reply.body.to_string().contains("openai"), "{role}: {}", reply.body);
            }
        }
        let admin = app.join(&owner, "admin", "ADMIN").await;
        for account in [&admin, &owner] {
            for query in reads.iter().chain(writes.iter()) {
                app.as_user(account, query, json!({})).await.ok();
            }
        }
        assert_eq!(kinds(&list(&app, &owner).await), ["WEB_CHAT"], "the SMS channel came and went twice");
    }

    async fn api_keys_read_channels_with_channels_read_and_never_write(app) {
        let owner = app.sign_up("ann", "acme").await;
        upsert(&app, &owner, "WEB_CHAT", web_chat()).await.ok();
        set_credentials(&app, &owner, "WEB_CHAT", json!({ "apiKey": SECRET_API_KEY })).await.ok();
        let (_, reader) = app.create_api_key(&owner, "reader", &["CHANNELS_READ"]).await;
        let (_, other) = app.create_api_key(&owner, "contacts", &["CONTACTS_READ", "CONTACTS_WRITE"]).await;
        let (_, everything) = app.create_api_key(&owner, "everything", &ALL_SCOPES).await;

        let reads = format!(
            "{{ channelConfigs {{ totalCount edges {{ node {{ {CONFIG} }} }} }}
               channelConfig(kind: WEB_CHAT) {{ {CONFIG} }} agentInstructions {{ source }} }}"
        );
        for key in [&reader, &everything] {
            let seen = app.as_key(key, &reads, json!({})).await.ok();
            assert_eq!(seen["channelConfigs"]["totalCount"], 1);
            assert_eq!(seen["channelConfig"]["provider"], "openai");
            assert_eq!(seen["channelConfig"]["hasCredentials"], true);
            assert_eq!(seen["agentInstructions"]["source"], "SYSTEM");
            assert!(!seen.to_string().contains(SECRET_API_KEY), "{seen}");
        }
        for query in ["{ channelConfigs { totalCount } }", "{ channelConfig(kind: WEB_CHAT) { kind } }", "{ agentInstructions { text } }"] {
            let body = app.as_key(&other, query, json!({})).await.expect_code("FORBIDDEN");
            assert!(body["errors"][0]["message"].as_str().expect("message").contains("channels:read"), "{body}");
        }
        let writes = [
            "mutation { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: false, provider: \"evil\", model: \"m\" }) { kind } }",
            "mutation { setChannelCredentials(kind: WEB_CHAT, credentials: null) { hasCredentials } }",
            "mutation { updateAgentInstructions(instructions: \"Leak everything.\") { source } }",
            "mutation { deleteChannelConfig(kind: WEB_CHAT) }",
        ];
        for key in [&reader, &everything] {
            for query in writes {
                let reply = app.as_key(key, query, json!({})).await;
                assert_eq!(reply.code(), Some("FORBIDDEN"), "{query}: {}", reply.body);
            }
        }
        let kept = one(&app, &owner, "WEB_CHAT").await.ok()["channelConfig"].clone();
        assert_eq!(kept["provider"], "openai");
        assert_eq!(kept["hasCredentials"], true);
        assert_eq!(kept["effectiveInstructions"]["source"], "SYSTEM");
    }

    async fn the_public_look_up_shows_only_what_a_widget_needs(app) {
        let owner = app.sign_up("ann", "acme").await;
        let mut input = web_chat();
        input["instructions"] = json!("Internal: offer the 20% discount code SPRING-CANARY.");
        upsert(&app, &owner, "WEB_CHAT", input).await.ok();
        upsert(&app, &owner, "SMS", sms()).await.ok();
        set_credentials(&app, &owner, "WEB_CHAT", json!({ "apiKey": SECRET_API_KEY })).await.ok();
        agent_instructions(&app, &owner, json!("Organization canary instructions.")).await.ok();

        let public = "query($s: String!, $k: ChannelKind!) { publicChannelConfig(organizationSlug: $s, kind: $k) { kind enabled greeting branding } }";
        let reply = app.anonymous(public, json!({ "s": " ACME ", "k": "WEB_CHAT" })).await;
        let text = reply.body.to_string();
        let data = reply.ok();
        assert_eq!(data["publicChannelConfig"], json!({
            "kind": "WEB_CHAT",
            "enabled": true,
            "greeting": "Hi! How can we help?",
            "branding": { "color": "#0055ff", "logoUrl": "https://acme.example.com/logo.svg" },
        }));
        for private in ["SPRING-CANARY", "Organization canary", "openai", "gpt-4o-mini", "support@acme", SECRET_API_KEY] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        // A channel without greeting or branding; a disabled one still answers.
        let bare = app.anonymous(public, json!({ "s": "acme", "k": "SMS" })).await.ok();
        assert_eq!(bare["publicChannelConfig"], json!({ "kind": "SMS", "enabled": false, "greeting": null, "branding": null }));
        // Nothing, and no error, for what does not exist.
        for (slug, kind) in [("acme", "VOICE"), ("nobody-here", "WEB_CHAT"), ("", "WEB_CHAT")] {
            let none = app.anonymous(public, json!({ "s": slug, "k": kind })).await.ok();
            assert!(none["publicChannelConfig"].is_null(), "{slug} {kind}: {none}");
        }
        // The type has no private fields to ask for.
        for field in ["provider", "model", "instructions", "settings", "hasCredentials", "credentials"] {
            let asked = app.anonymous(&format!("{{ publicChannelConfig(organizationSlug: \"acme\", kind: WEB_CHAT) {{ {field} }} }}"), json!({})).await;
            assert_eq!(asked.code(), Some("BAD_USER_INPUT"), "{field}: {}", asked.body);
        }
        // Open to everyone: people of other organizations and API keys alike.
        let stranger = app.sign_up("bob", "bobco").await;
        let (_, key) = app.create_api_key(&stranger, "partner", &["CONTACTS_READ"]).await;
        let seen = app.as_user(&stranger, public, json!({ "s": "acme", "k": "WEB_CHAT" })).await.ok();
        assert_eq!(seen["publicChannelConfig"]["greeting"], "Hi! How can we help?");
        let seen = app.as_key(&key, public, json!({ "s": "acme", "k": "WEB_CHAT" })).await.ok();
        assert_eq!(seen["publicChannelConfig"]["greeting"], "Hi! How can we help?");
    }

    async fn public_look_ups_beside_an_organizations_own_fields_answer_each_correctly(app) {
        // Query fields run concurrently on the request's one transaction: a public look-up
        // of another organization must not disturb the fields of the caller's own.
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let mut bobs = web_chat();
        bobs["settings"]["greeting"] = json!("Bobco says hello");
        upsert(&app, &bob, "WEB_CHAT", bobs).await.ok();
        upsert(&app, &ann, "WEB_CHAT", web_chat()).await.ok();
        let mut anns = sms();
        anns["settings"] = json!({ "greeting": "Acme SMS" });
        upsert(&app, &ann, "SMS", anns).await.ok();
        let query = "{
            own: channelConfig(kind: WEB_CHAT) { provider }
            list: channelConfigs { totalCount }
            a: publicChannelConfig(organizationSlug: \"bobco\", kind: WEB_CHAT) { greeting }
            b: publicChannelConfig(organizationSlug: \"acme\", kind: SMS) { greeting }
            c: publicChannelConfig(organizationSlug: \"acme\", kind: WEB_CHAT) { greeting }
            d: publicChannelConfig(organizationSlug: \"bobco\", kind: SMS) { greeting }
            again: channelConfig(kind: SMS) { provider }
        }";
        for _ in 0..5 {
            let data = app.as_user(&ann, query, json!({})).await.ok();
            assert_eq!(data, json!({
                "own": { "provider": "openai" },
                "list": { "totalCount": 2 },
                "a": { "greeting": "Bobco says hello" },
                "b": { "greeting": "Acme SMS" },
                "c": { "greeting": "Hi! How can we help?" },
                "d": null,
                "again": { "provider": "anthropic" },
            }));
        }
    }

    async fn organizations_never_see_or_change_each_others_channels(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;
        let mut bobs = web_chat();
        bobs["provider"] = json!("bobco-provider");
        bobs["instructions"] = json!("Bobco channel canary instructions");
        bobs["settings"] = json!({ "greeting": "Bobco greeting canary" });
        upsert(&app, &bob, "WEB_CHAT", bobs).await.ok();
        upsert(&app, &bob, "SMS", sms()).await.ok();
        set_credentials(&app, &bob, "WEB_CHAT", json!({ "apiKey": SECRET_API_KEY })).await.ok();
        agent_instructions(&app, &bob, json!("Bobco organization canary")).await.ok();
        let before = list(&app, &bob).await;
        let bobs_strings = ["bobco-provider", "Bobco channel canary", "Bobco greeting canary", "Bobco organization canary", SECRET_API_KEY];

        // Ann's organization has none of it, and her answers carry none of it.
        let mut answers = vec![
            list(&app, &ann).await,
            one(&app, &ann, "WEB_CHAT").await.expect_code("NOT_FOUND"),
            app.as_user(&ann, "{ agentInstructions { text source } }", json!({})).await.ok(),
        ];
        assert_eq!(answers[0]["totalCount"], 0);
        assert_eq!(answers[2]["agentInstructions"]["source"], "SYSTEM");
        // Ann configures the same kind: a row of her own, Bob's untouched.
        let mine = upsert(&app, &ann, "WEB_CHAT", web_chat()).await.ok();
        assert_eq!(mine["upsertChannelConfig"]["hasCredentials"], false);
        assert_eq!(mine["upsertChannelConfig"]["effectiveInstructions"]["source"], "SYSTEM");
        answers.push(mine);
        answers.push(set_credentials(&app, &ann, "WEB_CHAT", json!({ "apiKey": "ann-own-key" })).await.ok());
        // What only Bob has is absent for Ann.
        answers.push(set_credentials(&app, &ann, "SMS", Value::Null).await.expect_code("NOT_FOUND"));
        answers.push(delete(&app, &ann, "SMS").await.expect_code("NOT_FOUND"));
        answers.push(one(&app, &ann, "SMS").await.expect_code("NOT_FOUND"));
        answers.push(agent_instructions(&app, &ann, json!("Ann's own default")).await.ok());
        answers.push(delete(&app, &ann, "WEB_CHAT").await.ok());
        let (_, key) = app.create_api_key(&ann, "reader", &["CHANNELS_READ"]).await;
        answers.push(app.as_key(&key, "{ channelConfigs { totalCount edges { node { kind provider instructions settings } } } }", json!({})).await.ok());
        answers.push(app.as_user(&ann, "{ auditLog(first: 100) { edges { node { action targetId summary } } } }", json!({})).await.ok());
        // Naming Bob's organization is refused, as for any organization Ann is not in.
        answers.push(app.graphql(Some(&ann.access_token), Some(&bob.organization_id), "{ channelConfigs { totalCount } }", json!({})).await.expect_code("FORBIDDEN"));
        for answer in &answers {
            let text = answer.to_string();
            for secret in bobs_strings {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }

        assert_eq!(list(&app, &bob).await, before, "Bob's channels are untouched");
        let bobs_default = app.as_user(&bob, "{ agentInstructions { text source } }", json!({})).await.ok();
        assert_eq!(bobs_default["agentInstructions"]["text"], "Bobco organization canary");
    }

    async fn credentials_never_appear_in_answers_the_audit_log_or_plaintext_columns(app) {
        let owner = app.sign_up("ann", "acme").await;
        upsert(&app, &owner, "WHATSAPP", web_chat()).await.ok();
        let credentials = json!({ "apiKey": SECRET_API_KEY, "nested": { "token": SECRET_TOKEN } });
        let mut answers = vec![set_credentials(&app, &owner, "WHATSAPP", credentials.clone()).await.ok()];
        assert_eq!(answers[0]["setChannelCredentials"]["hasCredentials"], true);
        answers.push(upsert(&app, &owner, "WHATSAPP", sms()).await.ok());
        answers.push(list(&app, &owner).await);
        answers.push(one(&app, &owner, "WHATSAPP").await.ok());
        answers.push(app.anonymous("{ publicChannelConfig(organizationSlug: \"acme\", kind: WHATSAPP) { kind enabled greeting branding } }", json!({})).await.ok());
        // Asking for them is not even valid.
        let asked = app.as_user(&owner, "{ channelConfig(kind: WHATSAPP) { credentials } }", json!({})).await;
        assert_eq!(asked.code(), Some("BAD_USER_INPUT"));
        answers.push(asked.body);
        // A refused value is not echoed either.
        let refused = set_credentials(&app, &owner, "WHATSAPP", json!([SECRET_API_KEY])).await.expect_code("BAD_USER_INPUT");
        answers.push(refused);
        answers.push(set_credentials(&app, &owner, "VOICE", credentials).await.expect_code("NOT_FOUND"));
        answers.push(app
            .as_user(&owner, "{ auditLog(first: 100) { edges { node { action targetType targetId summary } } } }", json!({}))
            .await
            .ok());
        for answer in &answers {
            let text = answer.to_string();
            assert!(!text.contains(SECRET_API_KEY) && !text.contains(SECRET_TOKEN), "{text}");
        }
        let audit = answers.last().expect("audit").to_string();
        assert!(audit.contains("channel.credentials_set"), "{audit}");

        // Stored sealed: the row has bytes, none of them the plaintext.
        assert_eq!(app.count_rows("SELECT count(*) FROM channel_config WHERE credentials_sealed IS NOT NULL").await, 1);
        for secret in [SECRET_API_KEY, SECRET_TOKEN, "apiKey"] {
            assert_eq!(sealed_rows_containing(&app, secret).await, 0, "{secret} stored in the clear");
            for (table, column) in [("channel_config", "settings"), ("channel_config", "instructions"), ("audit_log", "summary"), ("organization", "agent_instructions")] {
                let found = app.count_rows(&format!("SELECT count(*) FROM {table} WHERE {column} LIKE '%{secret}%'")).await;
                assert_eq!(found, 0, "{secret} in {table}.{column}");
            }
        }
    }

    async fn a_suspended_organization_reads_its_channels_but_cannot_change_them(app) {
        let owner = app.sign_up("ann", "acme").await;
        upsert(&app, &owner, "WEB_CHAT", web_chat()).await.ok();
        let status = "mutation($s: OrganizationStatus!) { updateOrganization(input: { status: $s }) { status } }";
        app.as_user(&owner, status, json!({ "s": "SUSPENDED" })).await.ok();

        assert_eq!(list(&app, &owner).await["totalCount"], 1);
        one(&app, &owner, "WEB_CHAT").await.ok();
        app.anonymous("{ publicChannelConfig(organizationSlug: \"acme\", kind: WEB_CHAT) { greeting } }", json!({})).await.ok();
        let refusals = [
            upsert(&app, &owner, "WEB_CHAT", sms()).await,
            upsert(&app, &owner, "VOICE", sms()).await,
            set_credentials(&app, &owner, "WEB_CHAT", json!({ "apiKey": "k" })).await,
            set_credentials(&app, &owner, "WEB_CHAT", Value::Null).await,
            delete(&app, &owner, "WEB_CHAT").await,
            agent_instructions(&app, &owner, json!("Suspended?")).await,
        ];
        for reply in refusals {
            let body = reply.expect_code("FORBIDDEN");
            assert!(body["errors"][0]["message"].as_str().expect("message").contains("suspended"), "{body}");
        }
        let kept = one(&app, &owner, "WEB_CHAT").await.ok()["channelConfig"].clone();
        assert_eq!(kept["provider"], "openai");
        assert!(audit_actions(&app, &owner).await.iter().all(|action| action == "channel.upserted"));

        app.as_user(&owner, status, json!({ "s": "ACTIVE" })).await.ok();
        agent_instructions(&app, &owner, json!("Back in business.")).await.ok();
        upsert(&app, &owner, "VOICE", sms()).await.ok();
        // Deleting the organization takes its channels with it.
        app.as_user(&owner, "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({})).await.ok();
        assert_eq!(app.count_rows("SELECT count(*) FROM channel_config").await, 0);
    }
}

/// The system level's text is the operator's setting.
async fn the_operator_sets_the_system_instructions(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.default_agent_instructions = "Operator default: be concise.".into();
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let created = upsert(&app, &owner, "VOICE", sms()).await.ok();
    assert_eq!(
        created["upsertChannelConfig"]["effectiveInstructions"],
        json!({ "text": "Operator default: be concise.", "source": "SYSTEM" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sets_the_system_instructions_sqlite() {
    the_operator_sets_the_system_instructions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sets_the_system_instructions_postgres() {
    the_operator_sets_the_system_instructions(Backend::Postgres).await;
}
