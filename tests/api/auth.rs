//! Signing up, logging in, refresh rotation and reuse, log-out, forged tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::on_both_databases;

const ME: &str = "{ me { user { id email name } memberships { role organization { id slug } } } }";
const LOG_IN: &str = "mutation($input: LogInInput!) { logIn(input: $input) {
    accessToken refreshToken user { id email } organization { id slug } } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) {
    accessToken refreshToken user { id } organization { id } } }";

async fn log_in(app: &TestApp, email: &str, password: &str) -> crate::helpers::Reply {
    app.anonymous(
        LOG_IN,
        json!({ "input": { "email": email, "password": password } }),
    )
    .await
}

async fn me_with(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.graphql(Some(token), None, ME, json!({})).await
}

fn sign_up_input(email: &str, password: &str, slug: &str) -> Value {
    json!({ "input": {
        "email": email, "password": password, "name": "Ann",
        "organizationName": "Acme", "organizationSlug": slug } })
}

const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { user { id } organization { slug } } }";

/// Re-encodes a token's payload after `change`, keeping the original signature.
fn tamper(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
    change(&mut payload);
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

on_both_databases! {
    async fn sign_up_creates_the_user_their_organization_and_an_owner_membership(app) {
        let ann = app.sign_up("ann", "acme").await;
        let me = me_with(&app, &ann.access_token).await.ok();
        assert_eq!(me["me"]["user"]["email"], "ann@acme.example.com");
        assert_eq!(me["me"]["memberships"][0]["role"], "OWNER");
        assert_eq!(me["me"]["memberships"][0]["organization"]["slug"], "acme");
        assert_eq!(me["me"]["memberships"][0]["organization"]["id"], ann.organization_id.as_str());
    }

    async fn sign_up_refuses_a_taken_email_or_slug(app) {
        app.sign_up("ann", "acme").await;
        let body = app
            .anonymous(SIGN_UP, sign_up_input("ANN@acme.example.com", "long enough password", "other"))
            .await
            .expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
        let body = app
            .anonymous(SIGN_UP, sign_up_input("bob@example.com", "long enough password", "acme"))
            .await
            .expect_code("CONFLICT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "organizationSlug");
    }

    async fn sign_up_validates_every_field(app) {
        for (input, field) in [
            (sign_up_input("not-an-email", "long enough password", "acme"), "email"),
            (sign_up_input("ann@example.com", "short", "acme"), "password"),
            (sign_up_input("ann@example.com", "long enough password", "Bad Slug!"), "organizationSlug"),
            (sign_up_input("ann@example.com", "long enough password", "api"), "organizationSlug"),
        ] {
            let body = app.anonymous(SIGN_UP, input).await.expect_code("BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        let mut blank_name = sign_up_input("ann@example.com", "long enough password", "acme");
        blank_name["input"]["name"] = json!("   ");
        let body = app.anonymous(SIGN_UP, blank_name).await.expect_code("BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "name");
        // Nothing was created by the failed attempts.
        let found = app
            .anonymous("{ organizationBySlug(slug: \"acme\") { id } }", json!({}))
            .await
            .ok();
        assert!(found["organizationBySlug"].is_null());
    }

    async fn log_in_accepts_the_right_password_only_and_tells_nothing_about_accounts(app) {
        let ann = app.sign_up("ann", "acme").await;
        let data = log_in(&app, &ann.email.to_uppercase(), &ann.password).await.ok();
        assert_eq!(data["logIn"]["user"]["id"], ann.user_id.as_str());
        assert_eq!(data["logIn"]["organization"]["slug"], "acme");
        let token = data["logIn"]["accessToken"].as_str().expect("token");
        me_with(&app, token).await.ok();

        let wrong = log_in(&app, &ann.email, "wrong password!!").await.expect_code("UNAUTHENTICATED");
        let unknown = log_in(&app, "nobody@example.com", "wrong password!!").await.expect_code("UNAUTHENTICATED");
        assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
        assert!(wrong["data"].is_null());
    }

    async fn refresh_rotates_the_token_and_reuse_revokes_the_whole_session(app) {
        let ann = app.sign_up("ann", "acme").await;
        let first = app.anonymous(REFRESH, json!({ "t": ann.refresh_token })).await.ok();
        let second_token = first["refreshSession"]["refreshToken"].as_str().expect("rotated").to_owned();
        assert_ne!(second_token, ann.refresh_token);
        let new_access = first["refreshSession"]["accessToken"].as_str().expect("access").to_owned();
        me_with(&app, &new_access).await.ok();

        // The first token again: a reuse. It fails, and it ends the session for everyone
        // holding any of its tokens.
        app.anonymous(REFRESH, json!({ "t": ann.refresh_token })).await.expect_code("UNAUTHENTICATED");
        app.anonymous(REFRESH, json!({ "t": second_token })).await.expect_code("UNAUTHENTICATED");
        me_with(&app, &new_access).await.expect_code("UNAUTHENTICATED");
        me_with(&app, &ann.access_token).await.expect_code("UNAUTHENTICATED");

        // Other sessions of the same user are untouched.
        let again = log_in(&app, &ann.email, &ann.password).await.ok();
        me_with(&app, again["logIn"]["accessToken"].as_str().expect("token")).await.ok();
    }

    async fn refresh_refuses_unknown_tokens(app) {
        app.anonymous(REFRESH, json!({ "t": "tgr_made-up" })).await.expect_code("UNAUTHENTICATED");
    }

    async fn an_expired_or_broken_access_token_does_not_block_logging_in_again(app) {
        let ann = app.sign_up("ann", "acme").await;
        let reply = app
            .graphql(
                Some("not.a.token"),
                None,
                LOG_IN,
                json!({ "input": { "email": ann.email, "password": ann.password } }),
            )
            .await;
        reply.ok();
        let reply = app.graphql(Some("not.a.token"), None, ME, json!({})).await.expect_code("UNAUTHENTICATED");
        assert_eq!(reply["errors"][0]["message"], "the access token is invalid");
    }

    async fn log_out_ends_the_session_and_its_access_token_at_once(app) {
        let ann = app.sign_up("ann", "acme").await;
        let out = app.as_user(&ann, "mutation { logOut }", json!({})).await.ok();
        assert_eq!(out["logOut"], true);
        me_with(&app, &ann.access_token).await.expect_code("UNAUTHENTICATED");
        app.anonymous(REFRESH, json!({ "t": ann.refresh_token })).await.expect_code("UNAUTHENTICATED");

        // Logging out by refresh token works without an access token.
        let again = log_in(&app, &ann.email, &ann.password).await.ok();
        let refresh = again["logIn"]["refreshToken"].as_str().expect("refresh");
        let access = again["logIn"]["accessToken"].as_str().expect("access");
        app.anonymous("mutation($t: String) { logOut(refreshToken: $t) }", json!({ "t": refresh })).await.ok();
        me_with(&app, access).await.expect_code("UNAUTHENTICATED");
    }

    async fn forged_tokens_are_refused(app) {
        let ann = app.sign_up("ann", "acme").await;
        let bob = app.sign_up("bob", "bobco").await;

        // The payload changed to another user, signature kept.
        let as_bob = tamper(&ann.access_token, |claims| claims["sub"] = json!(bob.user_id));
        me_with(&app, &as_bob).await.expect_code("UNAUTHENTICATED");

        // A longer life, signature kept.
        let longer = tamper(&ann.access_token, |claims| claims["exp"] = json!(4_102_444_800u64));
        me_with(&app, &longer).await.expect_code("UNAUTHENTICATED");

        // `alg: none` with no signature.
        let parts: Vec<&str> = ann.access_token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        for unsigned in [format!("{none_header}.{}.", parts[1]), format!("{none_header}.{}", parts[1])] {
            me_with(&app, &unsigned).await.expect_code("UNAUTHENTICATED");
        }

        // An HS256 token "signed" with the published public key (algorithm confusion).
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("jwks").json().await.expect("json");
        let kid = jwks["keys"][0]["kid"].as_str().expect("kid");
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid }).to_string());
        let confused = format!("{header}.{}.{}", parts[1], parts[2]);
        me_with(&app, &confused).await.expect_code("UNAUTHENTICATED");

        // A header without the access-token type.
        let untyped = URL_SAFE_NO_PAD.encode(json!({ "alg": "EdDSA", "kid": kid }).to_string());
        me_with(&app, &format!("{untyped}.{}.{}", parts[1], parts[2])).await.expect_code("UNAUTHENTICATED");

        // Garbage and the wrong scheme.
        me_with(&app, "garbage").await.expect_code("UNAUTHENTICATED");
        let reply = app
            .send(app.client.post(app.url("/graphql")).header("authorization", format!("Basic {}", ann.access_token)).json(&json!({ "query": ME })))
            .await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));

        // The genuine token still works.
        me_with(&app, &ann.access_token).await.ok();
    }

    async fn the_jwks_publishes_the_ed25519_verification_key(app) {
        let ann = app.sign_up("ann", "acme").await;
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("jwks").json().await.expect("json");
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert!(key.get("d").is_none(), "the private key must never be published");
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(ann.access_token.split('.').next().expect("header")).expect("base64"),
        ).expect("json");
        assert_eq!(header["kid"], key["kid"]);
        assert_eq!(header["alg"], "EdDSA");
    }
}

on_both_databases! {
    async fn two_refreshes_racing_with_one_token_never_both_win(app) {
        let ann = app.sign_up("ann", "acme").await;
        let (first, second) = tokio::join!(
            app.anonymous(REFRESH, json!({ "t": ann.refresh_token })),
            app.anonymous(REFRESH, json!({ "t": ann.refresh_token })),
        );
        let won = [&first, &second].iter().filter(|r| r.code().is_none()).count();
        assert!(won <= 1, "both refreshes succeeded: {} / {}", first.body, second.body);
        // Whoever lost presented a used token: the whole session is over, winner included.
        if won == 1 {
            let winner = if first.code().is_none() { &first } else { &second };
            let token = winner.body["data"]["refreshSession"]["accessToken"].as_str().expect("token");
            me_with(&app, token).await.expect_code("UNAUTHENTICATED");
        }
        me_with(&app, &ann.access_token).await.expect_code("UNAUTHENTICATED");
    }
}
