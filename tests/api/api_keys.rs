//! API keys: their life cycle, what each scope opens, what no key ever reaches, the
//! verification cache (no SQL when warm, revocation at once and on other nodes), the
//! written-behind `lastUsedAt`, and the rate limits per key and per organization.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Account, Backend, Reply, TestApp};
use crate::on_both_databases;

const REFUSED: &str = "the API key is not valid";
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

fn assert_refused(reply: &Reply, what: &str) {
    assert_eq!(
        reply.code(),
        Some("UNAUTHENTICATED"),
        "{what}: {}",
        reply.body
    );
    assert_eq!(
        reply.body["errors"][0]["message"], REFUSED,
        "{what}: every refused key gets the same message"
    );
}

async fn contact_count(app: &TestApp, key: &str) -> Reply {
    app.as_key(key, "{ contacts { totalCount } }", json!({}))
        .await
}

async fn list_keys(app: &TestApp, admin: &Account) -> Value {
    app.as_user(
        admin,
        "{ apiKeys { totalCount edges { node { id name prefix scopes status createdBy createdAt
            expiresAt lastUsedAt rotatedAt previousSecretExpiresAt revokedAt } } } }",
        json!({}),
    )
    .await
    .ok()["apiKeys"]
        .clone()
}

async fn rotate(app: &TestApp, admin: &Account, id: &str, grace: Option<i32>) -> Reply {
    app.as_user(
        admin,
        "mutation($id: ID!, $g: Int) { rotateApiKey(id: $id, gracePeriodSeconds: $g) {
            secret apiKey { id prefix status rotatedAt previousSecretExpiresAt } } }",
        json!({ "id": id, "g": grace }),
    )
    .await
}

async fn revoke(app: &TestApp, admin: &Account, id: &str) -> Reply {
    app.as_user(
        admin,
        "mutation($id: ID!) { revokeApiKey(id: $id) { id status revokedAt } }",
        json!({ "id": id }),
    )
    .await
}

on_both_databases! {
    async fn a_key_is_created_shown_once_used_rotated_and_revoked(app) {
        let owner = app.sign_up("ann", "acme").await;
        let created = app
            .as_user(
                &owner,
                "mutation { createApiKey(input: { name: \"  Zapier sync  \", scopes: [CONTACTS_WRITE, CONTACTS_READ, CONTACTS_READ] }) {
                    secret apiKey { id name prefix scopes status createdBy expiresAt lastUsedAt revokedAt } } }",
                json!({}),
            )
            .await
            .ok();
        let payload = &created["createApiKey"];
        let secret = payload["secret"].as_str().expect("secret").to_owned();
        let id = payload["apiKey"]["id"].as_str().expect("id").to_owned();
        assert!(secret.starts_with("tg_live_"), "{secret}");
        assert!(secret.len() >= 8 + 22, "at least 128 random bits: {secret}");
        let prefix = payload["apiKey"]["prefix"].as_str().expect("prefix");
        assert!(secret.starts_with(prefix) && prefix.len() < secret.len() / 2);
        assert_eq!(payload["apiKey"]["name"], "Zapier sync");
        assert_eq!(payload["apiKey"]["scopes"], json!(["CONTACTS_READ", "CONTACTS_WRITE"]));
        assert_eq!(payload["apiKey"]["status"], "ACTIVE");
        assert_eq!(payload["apiKey"]["createdBy"], owner.user_id.as_str());

        // The secret is shown once: the key type has no field for it, the list shows the
        // prefix only, and the database keeps a hash.
        let asked = app.as_user(&owner, "{ apiKeys { edges { node { secret } } } }", json!({})).await;
        assert!(asked.body["errors"].is_array(), "{}", asked.body);
        let listed = list_keys(&app, &owner).await;
        assert_eq!(listed["totalCount"], 1);
        assert!(!listed.to_string().contains(&secret));
        assert_eq!(app.count_rows("SELECT count(*) FROM api_key WHERE length(secret_hash) = 32").await, 1);

        // The key works, as its organization.
        let made = app
            .as_key(&secret, "mutation { createContact(input: { name: \"From the partner\" }) { id ownerId } }", json!({}))
            .await
            .ok();
        assert_eq!(made["createContact"]["ownerId"], Value::Null, "a key's contacts have no owner");
        let seen = app.as_user(&owner, "{ contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(seen["contacts"]["totalCount"], 1);

        // Rotation without a grace period: the old secret stops at once.
        let rotated = rotate(&app, &owner, &id, None).await.ok();
        let second = rotated["rotateApiKey"]["secret"].as_str().expect("secret").to_owned();
        assert_ne!(second, secret);
        assert_eq!(rotated["rotateApiKey"]["apiKey"]["id"], id.as_str());
        assert!(second.starts_with(rotated["rotateApiKey"]["apiKey"]["prefix"].as_str().expect("prefix")));
        assert_eq!(rotated["rotateApiKey"]["apiKey"]["previousSecretExpiresAt"], Value::Null);
        assert_refused(&contact_count(&app, &secret).await, "the rotated-out secret");
        assert_eq!(contact_count(&app, &second).await.ok()["contacts"]["totalCount"], 1);

        // With a grace period both work until it ends.
        let rotated = rotate(&app, &owner, &id, Some(3600)).await.ok();
        let third = rotated["rotateApiKey"]["secret"].as_str().expect("secret").to_owned();
        assert!(rotated["rotateApiKey"]["apiKey"]["previousSecretExpiresAt"].is_string());
        contact_count(&app, &second).await.ok();
        contact_count(&app, &third).await.ok();
        assert_eq!(
            rotate(&app, &owner, &id, Some(-1)).await.expect_code("BAD_USER_INPUT")["errors"][0]["extensions"]["field"],
            "gracePeriodSeconds"
        );

        // Revocation ends both secrets on the next request.
        let revoked = revoke(&app, &owner, &id).await.ok();
        assert_eq!(revoked["revokeApiKey"]["status"], "REVOKED");
        assert_refused(&contact_count(&app, &third).await, "a revoked key");
        assert_refused(&contact_count(&app, &second).await, "a revoked key's grace secret");
        // Revoking again changes nothing; a revoked key cannot be rotated back to life.
        let again = revoke(&app, &owner, &id).await.ok();
        assert_eq!(again["revokeApiKey"]["revokedAt"], revoked["revokeApiKey"]["revokedAt"]);
        rotate(&app, &owner, &id, None).await.expect_code("CONFLICT");

        let listed = list_keys(&app, &owner).await;
        assert_eq!(listed["edges"][0]["node"]["status"], "REVOKED");
        let active = app.as_user(&owner, "{ apiKeys(status: ACTIVE) { totalCount } }", json!({})).await.ok();
        assert_eq!(active["apiKeys"]["totalCount"], 0);
        let audit = app
            .as_user(&owner, "{ auditLog(filter: { targetId: \"x\" }) { totalCount } a: auditLog { edges { node { action targetId summary } } } }", json!({}))
            .await
            .ok();
        let actions: Vec<&str> = audit["a"]["edges"].as_array().expect("entries").iter()
            .filter(|e| e["node"]["targetId"] == id.as_str())
            .map(|e| e["node"]["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions, ["api_key.revoked", "api_key.rotated", "api_key.rotated", "api_key.created"]);
        assert!(!audit.to_string().contains(&third), "no secret in the audit log");
    }

    async fn bad_input_to_create_api_key_names_the_field(app) {
        let owner = app.sign_up("ann", "acme").await;
        let cases = [
            (json!({ "name": "", "scopes": ["CONTACTS_READ"] }), "name"),
            (json!({ "name": "x".repeat(101), "scopes": ["CONTACTS_READ"] }), "name"),
            (json!({ "name": "ok", "scopes": [] }), "scopes"),
            (json!({ "name": "ok", "scopes": ["CONTACTS_READ"], "expiresAt": "2001-01-01T00:00:00Z" }), "expiresAt"),
        ];
        for (input, field) in cases {
            let reply = app
                .as_user(&owner, "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }", json!({ "i": input }))
                .await;
            let body = reply.expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        let unknown_scope = app
            .as_user(&owner, "mutation { createApiKey(input: { name: \"x\", scopes: [MEMBERS_WRITE] }) { secret } }", json!({}))
            .await;
        assert!(unknown_scope.body["errors"].is_array());
        assert_eq!(list_keys(&app, &owner).await["totalCount"], 0, "nothing was created");
    }

    async fn refused_keys_are_indistinguishable(app) {
        let owner = app.sign_up("ann", "acme").await;
        let other = app.sign_up("bob", "bobco").await;
        let (_, good) = app.create_api_key(&owner, "good", &["CONTACTS_READ"]).await;
        contact_count(&app, &good).await.ok();

        // Expired: the expiry is moved into the past before the key is first used.
        let expiring = app
            .as_user(&owner, "mutation { createApiKey(input: { name: \"short\", scopes: [CONTACTS_READ], expiresAt: \"2999-01-01T00:00:00Z\" }) { secret apiKey { id } } }", json!({}))
            .await
            .ok();
        let expired = expiring["createApiKey"]["secret"].as_str().expect("secret").to_owned();
        app.execute("UPDATE api_key SET expires_at = created_at WHERE name = 'short'")
        .await;
        let listed = list_keys(&app, &owner).await;
        assert!(listed.to_string().contains("EXPIRED"), "{listed}");

        let mut broken_checksum = good.clone();
        let last = broken_checksum.pop().expect("a character");
        broken_checksum.push(if last == 'a' { 'b' } else { 'a' });
        let organization: uuid::Uuid = owner.organization_id.parse().expect("uuid");
        let unknown = tenantgate::auth::api_keys::generate(organization).secret;
        let elsewhere = tenantgate::auth::api_keys::generate(other.organization_id.parse().expect("uuid")).secret;

        app.statements.watch();
        for (key, what) in [
            (broken_checksum.as_str(), "a key with a wrong checksum"),
            ("tg_live_short", "a truncated key"),
            ("sk_live_0000000000000000000000000000000000000000000000000000000000000", "a foreign format"),
            ("", "an empty key"),
        ] {
            assert_refused(&contact_count(&app, key).await, what);
        }
        let looked_up = app.statements.take();
        assert!(
            !looked_up.iter().any(|sql| sql.contains("api_key")),
            "malformed keys are refused without a look-up: {looked_up:?}"
        );
        assert_refused(&contact_count(&app, &unknown).await, "an unknown key");
        assert_refused(&contact_count(&app, &elsewhere).await, "a key naming another organization");
        assert_refused(&contact_count(&app, &expired).await, "an expired key");
        // A refused key is not a session for the anonymous account fields either.
        let both = app
            .client
            .post(app.url("/graphql"))
            .header("x-api-key", &good)
            .bearer_auth(&owner.access_token)
            .json(&json!({ "query": "{ contacts { totalCount } }" }));
        app.send(both).await.expect_code("UNAUTHENTICATED");
    }

    async fn each_scope_opens_only_its_fields(app) {
        let owner = app.sign_up("ann", "acme").await;
        let contact = app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        app.as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { notes: \"owner's note\" }) { id } }", json!({ "id": contact }))
            .await
            .ok();
        let (_, read) = app.create_api_key(&owner, "read", &["CONTACTS_READ"]).await;
        let (_, pii) = app.create_api_key(&owner, "pii", &["CONTACTS_READ", "CONTACTS_READ_PII"]).await;
        let (_, write) = app.create_api_key(&owner, "write", &["CONTACTS_WRITE"]).await;
        let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| !s.starts_with("CONTACTS")).collect();
        let (_, unrelated) = app.create_api_key(&owner, "unrelated", &others).await;

        let read_one = "query($id: ID!) { contact(id: $id) { id name email phone } }";
        // contacts:read: names, not personal data.
        let reply = app.as_key(&read, read_one, json!({ "id": contact })).await;
        assert_eq!(reply.body["data"]["contact"]["name"], "Dana");
        assert_eq!(reply.body["data"]["contact"]["email"], Value::Null);
        assert_eq!(reply.body["data"]["contact"]["phone"], Value::Null);
        assert_eq!(reply.code(), Some("FORBIDDEN"));
        assert!(!reply.body.to_string().contains("dana@customer"));
        // contacts:read_pii: personal data too.
        let data = app.as_key(&pii, read_one, json!({ "id": contact })).await.ok();
        assert_eq!(data["contact"]["email"], "dana@customer.example.com");
        assert_eq!(data["contact"]["phone"], "+15550100000");
        // Private notes are for people, whatever the scopes.
        let notes = app.as_key(&pii, "query($id: ID!) { contact(id: $id) { notes } }", json!({ "id": contact })).await;
        assert_eq!(notes.code(), Some("FORBIDDEN"));
        assert!(!notes.body.to_string().contains("owner's note"));
        // Reading needs contacts:read: write-only and unrelated keys are refused.
        for key in [&write, &unrelated] {
            app.as_key(key, "{ contacts { totalCount } }", json!({})).await.expect_code("FORBIDDEN");
            app.as_key(key, read_one, json!({ "id": contact })).await.expect_code("FORBIDDEN");
        }
        // Writing needs contacts:write.
        let create = "mutation($i: CreateContactInput!) { createContact(input: $i) { id } }";
        for key in [&read, &pii, &unrelated] {
            app.as_key(key, create, json!({ "i": { "name": "No" } })).await.expect_code("FORBIDDEN");
            app.as_key(key, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"No\" }) { id } }", json!({ "id": contact }))
                .await
                .expect_code("FORBIDDEN");
            app.as_key(key, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": contact }))
                .await
                .expect_code("FORBIDDEN");
        }
        // An email is unique in the organization, so setting one would tell a key that
        // cannot read emails whether it is taken: that needs contacts:read_pii.
        app.as_key(&write, create, json!({ "i": { "name": "Dana", "email": "dana@customer.example.com" } }))
            .await
            .expect_code("FORBIDDEN");
        // The answer of a write holds what the key may read: the id, not the contact.
        let payload = app
            .as_key(&write, "mutation($id: ID!) { updateContact(id: $id, input: {}) { id name externalId attributes } }", json!({ "id": contact }))
            .await;
        assert_eq!(payload.code(), Some("FORBIDDEN"));
        assert!(!payload.body.to_string().contains("Dana"), "{}", payload.body);
        let made = app
            .as_key(&write, create, json!({ "i": { "name": "Eve", "phone": "+15550100001" } }))
            .await
            .ok();
        let eve = made["createContact"]["id"].as_str().expect("id").to_owned();
        // A key cannot assign owners (it cannot see members) or write private notes.
        app.as_key(&write, create, json!({ "i": { "name": "Owned", "ownerId": owner.user_id } }))
            .await
            .expect_code("FORBIDDEN");
        app.as_key(&write, create, json!({ "i": { "name": "Noted", "notes": "x" } }))
            .await
            .expect_code("FORBIDDEN");
        // contacts:write changes any contact of the organization, the owner's too.
        app.as_key(&write, "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Dana B.\" }) { id } }", json!({ "id": contact }))
            .await
            .ok();
        app.as_key(&write, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": eve }))
            .await
            .ok();
        let left = app.as_user(&owner, "{ contacts { totalCount edges { node { name notes } } } }", json!({})).await.ok();
        assert_eq!(left["contacts"]["totalCount"], 1);
        assert_eq!(left["contacts"]["edges"][0]["node"]["name"], "Dana B.");
        assert_eq!(left["contacts"]["edges"][0]["node"]["notes"], "owner's note");
    }

    async fn no_key_reaches_people_sessions_or_settings(app) {
        let owner = app.sign_up("ann", "acme").await;
        let other = app.sign_up("bob", "bobco").await;
        let (key_id, key) = app.create_api_key(&owner, "everything", &ALL_SCOPES).await;
        let uid = owner.user_id.as_str();
        // Every root field, classified: open to keys, or refused with FORBIDDEN. A new
        // field fails this test until it is classified here.
        let open = [
            "contacts", "contact", "createContact", "updateContact", "deleteContact", "identifyContact", "trackEvent", "analytics",
            "conversations", "conversation", "startConversation", "postMessage", "closeConversation",
            "organizationBySlug", "channelConfigs", "channelConfig", "agentInstructions", "publicChannelConfig",
            "channelIdentities",
        ];
        let refused: Vec<(&str, String)> = vec![
            ("me", "{ me { user { id } } }".into()),
            ("sessions", "{ sessions { totalCount } }".into()),
            ("organization", "{ organization { id name } }".into()),
            ("members", "{ members { totalCount } }".into()),
            ("invitations", "{ invitations { totalCount } }".into()),
            ("apiKeys", "{ apiKeys { totalCount } }".into()),
            ("auditLog", "{ auditLog { totalCount } }".into()),
            ("events", "{ events { totalCount } }".into()),
            ("signUp", "mutation { signUp(input: { email: \"k@k.example.com\", password: \"long enough password\", name: \"K\", organizationName: \"K\", organizationSlug: \"kkk\" }) { accessToken } }".into()),
            ("logIn", format!("mutation {{ logIn(input: {{ email: \"{}\", password: \"{}\" }}) {{ accessToken }} }}", owner.email, owner.password)),
            ("refreshSession", format!("mutation {{ refreshSession(refreshToken: \"{}\") {{ accessToken }} }}", owner.refresh_token)),
            ("logOut", format!("mutation {{ logOut(refreshToken: \"{}\") }}", owner.refresh_token)),
            ("revokeSession", format!("mutation {{ revokeSession(id: \"{uid}\") }}")),
            ("revokeAllOtherSessions", "mutation { revokeAllOtherSessions }".into()),
            ("changePassword", "mutation { changePassword(input: { currentPassword: \"a\", newPassword: \"bbbbbbbbbbbb\" }) }".into()),
            ("requestPasswordReset", format!("mutation {{ requestPasswordReset(email: \"{}\") }}", owner.email)),
            ("verifyEmail", "mutation { verifyEmail(token: \"tgv_x\") { accessToken } }".into()),
            ("resetPassword", "mutation { resetPassword(token: \"t\", newPassword: \"bbbbbbbbbbbb\") }".into()),
            ("createOrganization", "mutation { createOrganization(input: { name: \"K\", slug: \"kkkk\" }) { id } }".into()),
            ("updateOrganization", "mutation { updateOrganization(input: { name: \"Hijacked\" }) { id } }".into()),
            ("deleteOrganization", "mutation { deleteOrganization(confirmSlug: \"acme\") }".into()),
            ("transferOwnership", format!("mutation {{ transferOwnership(userId: \"{uid}\") {{ userId }} }}")),
            ("inviteMember", "mutation { inviteMember(input: { email: \"x@x.example.com\", role: OWNER }) { invitation { id } } }".into()),
            ("resendInvitation", format!("mutation {{ resendInvitation(id: \"{uid}\") {{ invitation {{ id }} }} }}")),
            ("revokeInvitation", format!("mutation {{ revokeInvitation(id: \"{uid}\") {{ id }} }}")),
            ("acceptInvitation", "mutation { acceptInvitation(input: { token: \"t\", name: \"K\", password: \"bbbbbbbbbbbb\" }) { accessToken } }".into()),
            ("updateMemberRole", format!("mutation {{ updateMemberRole(userId: \"{uid}\", role: VIEWER) {{ userId }} }}")),
            ("removeMember", format!("mutation {{ removeMember(userId: \"{uid}\") }}")),
            ("leaveOrganization", "mutation { leaveOrganization }".into()),
            ("createApiKey", "mutation { createApiKey(input: { name: \"more\", scopes: [CONTACTS_READ] }) { secret } }".into()),
            ("rotateApiKey", format!("mutation {{ rotateApiKey(id: \"{key_id}\") {{ secret }} }}")),
            ("revokeApiKey", format!("mutation {{ revokeApiKey(id: \"{key_id}\") {{ id }} }}")),
            ("runSystemJob", "mutation { runSystemJob(job: PURGE_EXPIRED) { job } }".into()),
            ("upsertChannelConfig", "mutation { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: true, provider: \"p\", model: \"m\" }) { kind } }".into()),
            ("setChannelCredentials", "mutation { setChannelCredentials(kind: WEB_CHAT, credentials: { token: \"t\" }) { kind } }".into()),
            ("deleteChannelConfig", "mutation { deleteChannelConfig(kind: WEB_CHAT) }".into()),
            ("updateAgentInstructions", "mutation { updateAgentInstructions(instructions: \"x\") { source } }".into()),
            ("claimChannelIdentity", "mutation { claimChannelIdentity(input: { kind: PHONE_NUMBER, value: \"+15550100199\" }) { id } }".into()),
            ("releaseChannelIdentity", format!("mutation {{ releaseChannelIdentity(id: \"{key_id}\") }}")),
        ];

        let schema = app
            .as_user(&owner, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }", json!({}))
            .await
            .ok();
        let mut roots: Vec<String> = ["queryType", "mutationType"].iter()
            .flat_map(|t| schema["__schema"][t]["fields"].as_array().expect("fields").clone())
            .map(|f| f["name"].as_str().expect("name").to_owned())
            .collect();
        roots.sort();
        let mut classified: Vec<String> = open.iter().map(|s| s.to_string())
            .chain(refused.iter().map(|(name, _)| name.to_string()))
            .collect();
        classified.sort();
        assert_eq!(roots, classified, "classify every root field as open to keys or refused");

        for (name, query) in &refused {
            let reply = app.as_key(&key, query, json!({})).await;
            assert_eq!(reply.code(), Some("FORBIDDEN"), "{name}: {}", reply.body);
        }
        // Nothing changed: the owner is still the owner, the key still exists, the
        // session still works, the organization kept its name.
        let after = app
            .as_user(&owner, "{ organization { name } members { totalCount edges { node { role } } } apiKeys(status: ACTIVE) { totalCount } invitations { totalCount } }", json!({}))
            .await
            .ok();
        assert_eq!(after["organization"]["name"], "acme Inc.");
        assert_eq!(after["members"]["edges"][0]["node"]["role"], "OWNER");
        assert_eq!(after["apiKeys"]["totalCount"], 1);
        assert_eq!(after["invitations"]["totalCount"], 0);

        // Public look-ups stay public; another organization is out of reach.
        let public = app.as_key(&key, "{ organizationBySlug(slug: \"bobco\") { name } }", json!({})).await.ok();
        assert_eq!(public["organizationBySlug"]["name"], "bobco Inc.");
        let elsewhere = app
            .client
            .post(app.url("/graphql"))
            .header("x-api-key", &key)
            .header("x-organization-id", &other.organization_id)
            .json(&json!({ "query": "{ contacts { totalCount } }" }));
        app.send(elsewhere).await.expect_code("FORBIDDEN");
        // A key sees its own organization's contacts only.
        let b_contact = app.create_contact(&other, "Bobco customer", "c@bobco.example.com").await;
        let probe = app.as_key(&key, "query($id: ID!) { contact(id: $id) { name } }", json!({ "id": b_contact })).await;
        assert_eq!(probe.code(), Some("NOT_FOUND"));
        assert!(!probe.body.to_string().contains("Bobco customer"));
        assert_eq!(app.as_key(&key, "{ contacts { totalCount } }", json!({})).await.ok()["contacts"]["totalCount"], 0);
    }

    async fn introspection_is_off_for_keys(app) {
        let owner = app.sign_up("ann", "acme").await;
        let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
        for query in [
            "{ __schema { types { name } } }",
            "{ __type(name: \"Contact\") { fields { name } } }",
            "query { ...F } fragment F on Query { __schema { queryType { name } } }",
        ] {
            let reply = app.as_key(&key, query, json!({})).await;
            assert_eq!(reply.code(), Some("FORBIDDEN"), "{query}: {}", reply.body);
            assert!(!reply.body.to_string().contains("Contact\""));
        }
        let typename = app.as_key(&key, "{ __typename contacts { totalCount } }", json!({})).await.ok();
        assert_eq!(typename["__typename"], "Query");
        // People keep introspection.
        app.as_user(&owner, "{ __schema { queryType { name } } }", json!({})).await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_can_open_introspection_to_keys() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.api_keys.api_key_introspection = true;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    let data = app
        .as_key(&key, "{ __schema { queryType { name } } }", json!({}))
        .await
        .ok();
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");

    // A key sees only the fields its scopes let it use; a person sees them all.
    let fields_of = |data: &Value, kind: &str| -> Vec<String> {
        data[kind]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|field| field["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let seen = {
        let (app, key) = (&app, &key);
        types_seen(move |query| async move { app.as_key(key, &query, json!({})).await }).await
    };
    let queries = fields_of(&seen, "query");
    assert!(queries.contains(&"contacts".to_owned()), "{queries:?}");
    for hidden in [
        "me",
        "members",
        "invitations",
        "apiKeys",
        "auditLog",
        "conversations",
        "analytics",
    ] {
        assert!(
            !queries.contains(&hidden.to_owned()),
            "{hidden} in {queries:?}"
        );
    }
    let mutations = fields_of(&seen, "mutation");
    for hidden in [
        "createContact",
        "inviteMember",
        "removeMember",
        "createApiKey",
        "signUp",
        "logIn",
        "runSystemJob",
    ] {
        assert!(
            !mutations.contains(&hidden.to_owned()),
            "{hidden} in {mutations:?}"
        );
    }
    let contact = fields_of(&seen, "contact");
    assert!(
        contact.contains(&"name".to_owned()) && contact.contains(&"tags".to_owned()),
        "{contact:?}"
    );
    for hidden in [
        "email",
        "phone",
        "attributes",
        "notes",
        "owner",
        "conversations",
    ] {
        assert!(
            !contact.contains(&hidden.to_owned()),
            "{hidden} in {contact:?}"
        );
    }
    let everything = {
        let (app, owner) = (&app, &owner);
        types_seen(move |query| async move { app.as_user(owner, &query, json!({})).await }).await
    };
    for (kind, name) in [
        ("query", "members"),
        ("mutation", "inviteMember"),
        ("contact", "email"),
    ] {
        assert!(
            fields_of(&everything, kind).contains(&name.to_owned()),
            "{kind}.{name}"
        );
    }
}

/// The fields of `Query`, `Mutation` and `Contact` as `send` sees them, under the keys
/// `query`, `mutation` and `contact`: a request per type, one introspection field each.
async fn types_seen<F, R>(send: F) -> Value
where
    F: Fn(String) -> R,
    R: std::future::Future<Output = crate::helpers::Reply>,
{
    let mut seen = json!({});
    for name in ["Query", "Mutation", "Contact"] {
        let query = format!("{{ __type(name: \"{name}\") {{ fields {{ name }} }} }}");
        seen[name.to_lowercase()] = send(query).await.ok()["__type"].clone();
    }
    seen
}

async fn warm_key_costs_no_sql(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        // No write-behind during the measurement.
        config.api_keys.api_key_usage_flush_secs = 3600;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    let touches_keys = |statements: &[String]| {
        statements
            .iter()
            .filter(|sql| sql.contains("api_key"))
            .count()
    };

    app.statements.watch();
    contact_count(&app, &key).await.ok();
    let cold = app.statements.take();
    assert_eq!(
        touches_keys(&cold),
        1,
        "a cold key is looked up once: {cold:?}"
    );

    for _ in 0..3 {
        app.statements.watch();
        contact_count(&app, &key).await.ok();
        let warm = app.statements.take();
        assert_eq!(
            touches_keys(&warm),
            0,
            "a warm key is verified without SQL: {warm:?}"
        );
        // What remains is the request itself: one statement binds it to the key's
        // organization, the others are the query's own.
        let binding: Vec<&String> = warm
            .iter()
            .filter(|sql| !sql.contains("contact") && !sql.contains("outbox"))
            .collect();
        assert_eq!(binding.len(), 1, "{warm:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_key_costs_no_sql_sqlite() {
    warm_key_costs_no_sql(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_key_costs_no_sql_postgres() {
    warm_key_costs_no_sql(Backend::Postgres).await;
}

async fn revocation_reaches_every_node(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        // SQLite has no notifications: other nodes trust a key for the cache lifetime.
        if backend == Backend::Sqlite {
            config.api_keys.api_key_cache_ttl_secs = Some(1);
        }
    })
    .await;
    let other_node = app.replica().await;
    let owner = app.sign_up("ann", "acme").await;
    let (id, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    contact_count(&app, &key).await.ok();
    contact_count(&other_node, &key).await.ok();

    revoke(&app, &owner, &id).await.ok();
    assert_refused(
        &contact_count(&app, &key).await,
        "on the revoking node, at once",
    );
    let started = Instant::now();
    let limit = match backend {
        Backend::Postgres => Duration::from_secs(3),
        Backend::Sqlite => Duration::from_secs(4),
    };
    loop {
        let reply = contact_count(&other_node, &key).await;
        if reply.code() == Some("UNAUTHENTICATED") {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "the other node still accepts the revoked key after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_every_node_sqlite() {
    revocation_reaches_every_node(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_every_node_postgres() {
    revocation_reaches_every_node(Backend::Postgres).await;
}

async fn last_used_is_written_behind(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.api_keys.api_key_usage_flush_secs = 1;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    assert_eq!(
        list_keys(&app, &owner).await["edges"][0]["node"]["lastUsedAt"],
        Value::Null
    );
    app.statements.watch();
    for _ in 0..5 {
        contact_count(&app, &key).await.ok();
    }
    let during = app.statements.take();
    assert!(
        !during
            .iter()
            .any(|sql| sql.contains("UPDATE") && sql.contains("api_key")),
        "requests do not write lastUsedAt themselves: {during:?}"
    );
    let started = Instant::now();
    loop {
        let listed = list_keys(&app, &owner).await;
        if listed["edges"][0]["node"]["lastUsedAt"].is_string() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "lastUsedAt was never written"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_is_written_behind_sqlite() {
    last_used_is_written_behind(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_is_written_behind_postgres() {
    last_used_is_written_behind(Backend::Postgres).await;
}

async fn rate_limits(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.api_keys.api_key_rate = 1;
        config.api_keys.api_key_burst = 3;
        config.api_keys.organization_rate = 1;
        config.api_keys.organization_burst = 5;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let other = app.sign_up("bob", "bobco").await;
    let (_, noisy) = app
        .create_api_key(&owner, "noisy", &["CONTACTS_READ"])
        .await;
    let (_, sibling) = app
        .create_api_key(&owner, "sibling", &["CONTACTS_READ"])
        .await;
    let (_, neighbour) = app
        .create_api_key(&other, "neighbour", &["CONTACTS_READ"])
        .await;

    for _ in 0..3 {
        contact_count(&app, &noisy).await.ok();
    }
    let limited = app
        .client
        .post(app.url("/graphql"))
        .header("x-api-key", &noisy)
        .json(&json!({ "query": "{ contacts { totalCount } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status().as_u16(), 429);
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header");
    assert!(retry_after >= 1);
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));

    // The noisy key's own bucket is empty; its sibling has the rest of the
    // organization's budget, then the organization is limited as a whole.
    contact_count(&app, &sibling).await.ok();
    contact_count(&app, &sibling).await.ok();
    contact_count(&app, &sibling)
        .await
        .expect_code("RATE_LIMITED");
    // Another organization does not notice, and neither do the organization's people.
    for _ in 0..3 {
        contact_count(&app, &neighbour).await.ok();
    }
    app.as_user(&owner, "{ contacts { totalCount } }", json!({}))
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_key_and_per_organization_sqlite() {
    rate_limits(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_key_and_per_organization_postgres() {
    rate_limits(Backend::Postgres).await;
}

on_both_databases! {
    async fn keys_follow_their_organization(app) {
        let owner = app.sign_up("ann", "acme").await;
        let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ", "CONTACTS_WRITE"]).await;
        app.create_contact(&owner, "Dana", "dana@customer.example.com").await;
        // Suspended: reads go on, writes are refused.
        app.as_user(&owner, "mutation { updateOrganization(input: { status: SUSPENDED }) { status } }", json!({}))
            .await
            .ok();
        assert_eq!(contact_count(&app, &key).await.ok()["contacts"]["totalCount"], 1);
        app.as_key(&key, "mutation { createContact(input: { name: \"No\" }) { id } }", json!({}))
            .await
            .expect_code("FORBIDDEN");
        // Deleted: the key is refused like any invalid key.
        app.as_user(&owner, "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({}))
            .await
            .ok();
        assert_refused(&contact_count(&app, &key).await, "a key of a deleted organization");
    }

    async fn only_admins_manage_keys(app) {
        let owner = app.sign_up("ann", "acme").await;
        let admin = app.join(&owner, "adam", "ADMIN").await;
        let manager = app.join(&owner, "mia", "MANAGER").await;
        let (id, _) = app.create_api_key(&admin, "admin's", &["CONTACTS_READ"]).await;
        for query in [
            "{ apiKeys { totalCount } }".to_owned(),
            "mutation { createApiKey(input: { name: \"x\", scopes: [CONTACTS_READ] }) { secret } }".to_owned(),
            format!("mutation {{ rotateApiKey(id: \"{id}\") {{ secret }} }}"),
            format!("mutation {{ revokeApiKey(id: \"{id}\") {{ id }} }}"),
        ] {
            app.as_user(&manager, &query, json!({})).await.expect_code("FORBIDDEN");
        }
        assert_eq!(list_keys(&app, &owner).await["totalCount"], 1);
        revoke(&app, &owner, &id).await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_without_naming_anyone() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.api_keys.api_key_rate = 1;
        config.api_keys.api_key_burst = 1;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    contact_count(&app, &key).await.ok();
    contact_count(&app, &key).await.expect_code("RATE_LIMITED");
    assert_refused(
        &contact_count(&app, "tg_live_nonsense").await,
        "a malformed key",
    );

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let page = response.text().await.expect("page");
    let value = |name: &str| -> u64 {
        page.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from {page}"))
    };
    assert!(value("tenantgate_http_responses_total{class=\"2xx\"}") >= 3);
    assert!(
        value("tenantgate_http_responses_total{class=\"4xx\"}") >= 1,
        "the 429"
    );
    assert_eq!(
        value("tenantgate_api_key_verifications_total{result=\"accepted\"}"),
        2
    );
    assert_eq!(
        value("tenantgate_api_key_verifications_total{result=\"refused\"}"),
        1
    );
    assert_eq!(value("tenantgate_rate_limited_total"), 1);
    assert!(value("tenantgate_sql_statements_total") > 0);
    assert_eq!(value("tenantgate_api_key_cache_entries"), 1);
    assert!(value("tenantgate_db_connections{state=\"open\"}") >= 1);
    for private in [
        owner.organization_id.as_str(),
        "acme",
        "tg_live_",
        owner.email.as_str(),
    ] {
        assert!(!page.contains(private), "the page names {private}");
    }
}

/// The SQL statements one refused request with `key` costs.
async fn refusal_cost(app: &TestApp, key: &str) -> u64 {
    let before = app.statements.executed();
    assert_refused(&contact_count(app, key).await, key);
    app.statements.executed() - before
}

/// Forged keys (well formed: the checksum is public) cost one look-up each, stay out of
/// the key cache, and an address that keeps presenting them is held back, while a
/// partner's key that is already verified keeps working from there.
async fn forged_keys_are_remembered_apart_and_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.api_keys.api_key_refusals_per_address = 5;
    })
    .await;
    let owner = app.sign_up("ann", "acme").await;
    let (_, key) = app.create_api_key(&owner, "k", &["CONTACTS_READ"]).await;
    contact_count(&app, &key).await.ok();
    let cached = app.metric("tenantgate_api_key_cache_entries").await;
    let organization: uuid::Uuid = owner.organization_id.parse().expect("id");
    let forge = || tenantgate::auth::api_keys::generate(organization).secret;

    // What a refused request costs without any key look-up (a malformed key is refused
    // by its checksum alone).
    let baseline = refusal_cost(&app, "tg_live_nonsense").await;
    let forged = forge();
    assert!(
        refusal_cost(&app, &forged).await > baseline,
        "a new forged key is looked up"
    );
    assert_eq!(
        refusal_cost(&app, &forged).await,
        baseline,
        "a refusal is remembered: presenting the key again costs no look-up"
    );
    for _ in 0..4 {
        assert_refused(&contact_count(&app, &forge()).await, "another forged key");
    }
    let held = contact_count(&app, &forge()).await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert_eq!(held.code(), Some("RATE_LIMITED"));
    let before = app.statements.executed();
    let held = contact_count(&app, &forge()).await;
    assert_eq!(held.code(), Some("RATE_LIMITED"));
    assert_eq!(
        app.statements.executed(),
        before,
        "held back: answered before any statement"
    );
    // The partner's verified key still works from the same address.
    contact_count(&app, &key).await.ok();
    assert_eq!(
        app.metric("tenantgate_api_key_cache_entries").await,
        cached,
        "refusals never enter the key cache"
    );
}

#[tokio::test]
async fn forged_keys_are_remembered_apart_and_throttled_per_address_sqlite() {
    forged_keys_are_remembered_apart_and_throttled_per_address(Backend::Sqlite).await;
}

#[tokio::test]
async fn forged_keys_are_remembered_apart_and_throttled_per_address_postgres() {
    forged_keys_are_remembered_apart_and_throttled_per_address(Backend::Postgres).await;
}
