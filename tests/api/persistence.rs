//! A restart keeps the data, the signing key and the sessions.

use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn data_keys_and_sessions_survive_a_restart(app) {
        let ann = app.sign_up("ann", "acme").await;
        app.create_contact(&ann, "Persistent", "kept@example.com").await;
        let app = app.restart().await;
        // The access token issued before the restart still verifies (same signing key).
        let data = app.as_user(&ann, "{ contacts { totalCount edges { node { name } } } }", json!({})).await.ok();
        assert_eq!(data["contacts"]["totalCount"], 1);
        assert_eq!(data["contacts"]["edges"][0]["node"]["name"], "Persistent");
        // The refresh token and the password still work.
        app.anonymous("mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }", json!({ "t": ann.refresh_token })).await.ok();
        app.anonymous("mutation($i: LogInInput!) { logIn(input: $i) { accessToken } }",
            json!({ "i": { "email": ann.email, "password": ann.password } })).await.ok();
    }
}
