//! Provider identities: claimed by admins, each held by one organization platform-wide,
//! read with the channels, released.

use serde_json::{Value, json};

use crate::on_both_databases;

const CLAIM: &str = "mutation($k: ChannelIdentityKind!, $v: String!) { claimChannelIdentity(input: { kind: $k, value: $v }) { id kind value channels createdAt } }";
const LIST: &str = "query($k: ChannelIdentityKind) { channelIdentities(kind: $k) { totalCount edges { node { id kind value channels } } } }";
const RELEASE: &str = "mutation($id: ID!) { releaseChannelIdentity(id: $id) }";

on_both_databases! {
    async fn admins_claim_list_and_release_identities_in_their_normal_form(app) {
        let owner = app.sign_up("owner", "acme").await;
        let admin = app.join(&owner, "admin", "ADMIN").await;
        let phone = app.as_user(&admin, CLAIM, json!({ "k": "PHONE_NUMBER", "v": " +1 (555) 010-0199 " })).await.ok();
        let phone = &phone["claimChannelIdentity"];
        assert_eq!(phone["value"], "+15550100199");
        assert_eq!(phone["channels"], json!(["SMS", "VOICE"]));
        let inbox = app.as_user(&admin, CLAIM, json!({ "k": "INBOUND_EMAIL", "v": "Support@Acme.Example" })).await.ok();
        assert_eq!(inbox["claimChannelIdentity"]["value"], "support@acme.example");
        assert_eq!(inbox["claimChannelIdentity"]["channels"], json!(["EMAIL"]));
        app.as_user(&admin, CLAIM, json!({ "k": "WHATSAPP_PHONE_NUMBER_ID", "v": "106540352242922" })).await.ok();
        app.as_user(&admin, CLAIM, json!({ "k": "RETELL_AGENT_ID", "v": "agent_3f9a" })).await.ok();

        let all = app.as_user(&owner, LIST, json!({})).await.ok();
        assert_eq!(all["channelIdentities"]["totalCount"], 4);
        // Newest first.
        assert_eq!(all["channelIdentities"]["edges"][0]["node"]["kind"], "RETELL_AGENT_ID");
        let phones = app.as_user(&owner, LIST, json!({ "k": "PHONE_NUMBER" })).await.ok();
        assert_eq!(phones["channelIdentities"]["totalCount"], 1);

        let id = phone["id"].as_str().expect("id");
        let released = app.as_user(&admin, RELEASE, json!({ "id": id })).await.ok();
        assert_eq!(released["releaseChannelIdentity"], id);
        app.as_user(&admin, RELEASE, json!({ "id": id })).await.expect_code("NOT_FOUND");
        // Released, it may be claimed again.
        app.as_user(&admin, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.ok();

        let audit = app.as_user(&owner, "{ auditLog(filter: { action: \"channel_identity.claimed\" }) { totalCount } released: auditLog(filter: { action: \"channel_identity.released\" }) { totalCount } }", json!({})).await.ok();
        assert_eq!(audit["auditLog"]["totalCount"], 5);
        assert_eq!(audit["released"]["totalCount"], 1);
    }

    async fn an_identity_belongs_to_one_organization_and_a_claim_says_not_whose(app) {
        let acme = app.sign_up("ann", "acme").await;
        let bobco = app.sign_up("bob", "bobco").await;
        app.as_user(&acme, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.ok();
        // The same number, written otherwise, by another organization and by its holder.
        let elsewhere = app.as_user(&bobco, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+1 555 010 0199" })).await.expect_code("CONFLICT");
        let again = app.as_user(&acme, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.expect_code("CONFLICT");
        assert_eq!(elsewhere["errors"][0]["message"], again["errors"][0]["message"], "the answer tells who holds it");
        assert_eq!(elsewhere["errors"][0]["extensions"]["field"], "value");
        assert!(!elsewhere.to_string().contains("acme"), "{elsewhere}");
        // Kinds are separate namespaces: digits as a WhatsApp id are another identity.
        app.as_user(&bobco, CLAIM, json!({ "k": "WHATSAPP_PHONE_NUMBER_ID", "v": "15550100199" })).await.ok();
        let listed = app.as_user(&bobco, LIST, json!({})).await.ok();
        assert_eq!(listed["channelIdentities"]["totalCount"], 1);
        // Deleting an organization frees what it held.
        app.as_user(&acme, "mutation { deleteOrganization(confirmSlug: \"acme\") }", json!({})).await.ok();
        app.as_user(&bobco, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.ok();
    }

    async fn bad_identities_are_refused_with_the_field_and_nothing_written(app) {
        let owner = app.sign_up("owner", "acme").await;
        for (kind, value) in [
            ("PHONE_NUMBER", "5550100199"),
            ("PHONE_NUMBER", "+1 555 CALL NOW"),
            ("PHONE_NUMBER", "+12"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1065-4035"),
            ("WHATSAPP_PHONE_NUMBER_ID", ""),
            ("RETELL_AGENT_ID", "agent one"),
            ("INBOUND_EMAIL", "not an address"),
        ] {
            let body = app.as_user(&owner, CLAIM, json!({ "k": kind, "v": value })).await.expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], "value", "{kind} {value:?}: {body}");
        }
        let listed = app.as_user(&owner, LIST, json!({})).await.ok();
        assert_eq!(listed["channelIdentities"]["totalCount"], 0);
    }

    async fn an_organization_holds_a_bounded_number_of_identities(app) {
        let owner = app.sign_up("owner", "acme").await;
        for n in 0..100 {
            app.as_user(&owner, CLAIM, json!({ "k": "RETELL_AGENT_ID", "v": format!("agent_{n}") })).await.ok();
        }
        let body = app.as_user(&owner, CLAIM, json!({ "k": "RETELL_AGENT_ID", "v": "agent_100" })).await.expect_code("BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().expect("message").contains("at most 100"), "{body}");
    }

    async fn members_below_admin_and_keys_read_or_write_only_as_the_rules_say(app) {
        let owner = app.sign_up("owner", "acme").await;
        let manager = app.join(&owner, "manager", "MANAGER").await;
        app.as_user(&manager, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.expect_code("FORBIDDEN");
        app.as_user(&manager, LIST, json!({})).await.expect_code("FORBIDDEN");
        let claimed = app.as_user(&owner, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100199" })).await.ok();
        let id = claimed["claimChannelIdentity"]["id"].clone();

        let (_, reader) = app.create_api_key(&owner, "Reader", &["CHANNELS_READ"]).await;
        let read = app.as_key(&reader, LIST, json!({})).await.ok();
        assert_eq!(read["channelIdentities"]["totalCount"], 1);
        app.as_key(&reader, RELEASE, json!({ "id": id })).await.expect_code("FORBIDDEN");
        app.as_key(&reader, CLAIM, json!({ "k": "PHONE_NUMBER", "v": "+15550100100" })).await.expect_code("FORBIDDEN");
        let (_, other) = app.create_api_key(&owner, "Contacts", &["CONTACTS_READ"]).await;
        app.as_key(&other, LIST, json!({})).await.expect_code("FORBIDDEN");
        let still: Value = app.as_user(&owner, LIST, json!({})).await.ok();
        assert_eq!(still["channelIdentities"]["totalCount"], 1);
    }
}
