//! Access tokens: short-lived EdDSA JWTs, signed with the keys of `keys`. A verified
//! token is remembered for a few minutes by its hash (its expiry is still checked on
//! every use). Opaque tokens, for sessions and links, are `identity::new_opaque_token`.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::keys::KeyStore;
use crate::error::AppError;

/// The `typ` header of access tokens (RFC 9068), checked so no other JWT passes for one.
const ACCESS_TOKEN_TYPE: &str = "at+jwt";
const LEEWAY_SECS: u64 = 30;
const EXPIRED: &str = "the access token has expired";

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: Uuid,
    /// The session the token was issued for; revoking it ends the token too.
    pub sid: Uuid,
    /// The user's default organization when the token was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct TokenService {
    keys: Arc<KeyStore>,
    issuer: String,
    audience: String,
    ttl: Duration,
    /// Tokens whose signature was verified, by their SHA-256 (the token itself is a
    /// bearer credential and is not kept): an Ed25519 verification was about a tenth of
    /// a small query's CPU. Expiry is checked on every use; a session's revocation is
    /// checked by the database on every request whatever this says.
    verified: moka::future::Cache<[u8; 32], AccessClaims>,
}

/// A freshly issued access token.
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl TokenService {
    pub fn new(keys: Arc<KeyStore>, issuer: String, audience: String, ttl: Duration) -> Self {
        TokenService {
            keys,
            issuer,
            audience,
            ttl,
            verified: moka::future::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
        }
    }

    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    pub fn issue_access_token(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        organization_id: Option<Uuid>,
    ) -> Result<IssuedAccessToken, AppError> {
        let now = chrono::Utc::now();
        let expires_at = now + chrono::Duration::from_std(self.ttl).map_err(AppError::internal)?;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            sid: session_id,
            org: organization_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let (kid, key) = self.keys.signing_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &key).map_err(AppError::internal)?;
        Ok(IssuedAccessToken { token, expires_at })
    }

    /// Checks signature (EdDSA only), `kid`, `typ`, `iss`, `aud` and `exp`. The error is a
    /// reason fit for the client.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, &'static str> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest).await {
            let now = chrono::Utc::now().timestamp();
            // As `jsonwebtoken` decides it, with the same leeway.
            if claims.exp.saturating_add(LEEWAY_SECS as i64) < now {
                self.verified.invalidate(&digest).await;
                return Err(EXPIRED);
            }
            return Ok(claims);
        }
        let claims = self.verify_signature(token).await?;
        self.verified.insert(digest, claims.clone()).await;
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<AccessClaims, &'static str> {
        const INVALID: &str = "the access token is invalid";
        let header = jsonwebtoken::decode_header(token).map_err(|_| INVALID)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(INVALID);
        }
        let kid = header.kid.ok_or(INVALID)?;
        let key = self.keys.verifying_key(&kid).await.ok_or(INVALID)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => EXPIRED,
                _ => INVALID,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::MasterKey;
    use crate::config::DatabaseConfig;
    use crate::identity::{hash_opaque_token, new_opaque_token};

    async fn key_store() -> Arc<KeyStore> {
        let config = DatabaseConfig {
            db_max_connections: 1,
            ..DatabaseConfig::new("sqlite::memory:")
        };
        let db = crate::tenant::connect(&config).await.expect("connect");
        crate::tenant::migrate(&db).await.expect("migrate");
        Arc::new(
            KeyStore::load_or_create(db, MasterKey::generate())
                .await
                .expect("keys"),
        )
    }

    fn service(keys: &Arc<KeyStore>, issuer: &str, audience: &str) -> TokenService {
        TokenService::new(
            keys.clone(),
            issuer.into(),
            audience.into(),
            Duration::from_secs(900),
        )
    }

    fn sign(keys: &KeyStore, claims: &AccessClaims, typ: Option<&str>) -> String {
        let (kid, key) = keys.signing_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    #[tokio::test]
    async fn a_verified_token_still_expires_and_a_changed_one_is_verified_again() {
        let keys = key_store().await;
        let tokens = service(&keys, "tenantgate", "tenantgate-api");
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: "tenantgate".into(),
            aud: "tenantgate-api".into(),
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            org: None,
            iat: now - 10,
            exp: now + 60,
        };
        let token = sign(&keys, &claims, Some(ACCESS_TOKEN_TYPE));
        assert!(tokens.verify_access_token(&token).await.is_ok());
        // The same token, remembered as verified, once its time is up (as if the clock
        // had moved past its expiry and leeway).
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let lapsed = AccessClaims {
            exp: now - LEEWAY_SECS as i64 - 1,
            ..claims.clone()
        };
        tokens.verified.insert(digest, lapsed).await;
        assert_eq!(
            tokens.verify_access_token(&token).await.err(),
            Some(EXPIRED)
        );
        // A token that differs in one character of its claims is not the remembered one.
        let at = token.find('.').expect("a JWT") + 4;
        let mut forged = token.clone().into_bytes();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ASCII");
        assert!(tokens.verify_access_token(&forged).await.is_err());
    }

    #[tokio::test]
    async fn tokens_verify_only_for_their_issuer_audience_type_and_lifetime() {
        let keys = key_store().await;
        let tokens = service(&keys, "tenantgate", "tenantgate-api");
        let user = Uuid::now_v7();
        let session = Uuid::now_v7();
        let issued = tokens
            .issue_access_token(user, session, None)
            .expect("issue");
        let claims = tokens
            .verify_access_token(&issued.token)
            .await
            .expect("valid");
        assert_eq!((claims.sub, claims.sid), (user, session));

        assert!(
            service(&keys, "someone-else", "tenantgate-api")
                .verify_access_token(&issued.token)
                .await
                .is_err()
        );
        assert!(
            service(&keys, "tenantgate", "another-api")
                .verify_access_token(&issued.token)
                .await
                .is_err()
        );

        let now = chrono::Utc::now().timestamp();
        let expired = AccessClaims {
            iss: "tenantgate".into(),
            aud: "tenantgate-api".into(),
            sub: user,
            sid: session,
            org: None,
            iat: now - 3600,
            exp: now - 120,
        };
        assert_eq!(
            tokens
                .verify_access_token(&sign(&keys, &expired, Some(ACCESS_TOKEN_TYPE)))
                .await
                .err(),
            Some("the access token has expired")
        );
        let fresh = AccessClaims {
            exp: now + 600,
            ..expired
        };
        assert!(
            tokens
                .verify_access_token(&sign(&keys, &fresh, Some(ACCESS_TOKEN_TYPE)))
                .await
                .is_ok()
        );
        assert!(
            tokens
                .verify_access_token(&sign(&keys, &fresh, Some("JWT")))
                .await
                .is_err()
        );
        assert!(
            tokens
                .verify_access_token(&sign(&keys, &fresh, None))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn another_deployments_keys_are_not_trusted() {
        let ours = service(&key_store().await, "tenantgate", "tenantgate-api");
        let theirs = service(&key_store().await, "tenantgate", "tenantgate-api");
        let foreign = theirs
            .issue_access_token(Uuid::now_v7(), Uuid::now_v7(), None)
            .expect("issue");
        assert!(ours.verify_access_token(&foreign.token).await.is_err());
    }

    #[test]
    fn opaque_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_opaque_token("tgr_");
        let (b, _) = new_opaque_token("tgr_");
        assert_ne!(a, b);
        assert!(a.starts_with("tgr_") && a.len() > 40);
        assert_eq!(hash_opaque_token(&a), hash_a);
        assert_eq!(hash_a.len(), 32);
    }
}
