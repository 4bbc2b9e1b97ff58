//! Who is calling. Authentication turns the credentials a request presented (read from
//! its headers by the HTTP layer, `http::caller`) into an [`identity::Principal`];
//! nothing downstream reads headers again.
//!
//! - `Authorization: Bearer <access JWT>` → a user (see [`tokens`]);
//! - `Authorization: Bearer <CRON_SECRET>` → the system principal;
//! - `x-api-key: tg_live_…` → one organization's API key (see [`api_keys`]);
//! - nothing → anonymous.
//!
//! A credential that is present but invalid does not fail the request outright: the
//! request runs as anonymous and remembers why, so that operations open to anyone
//! (`logIn`, `refreshSession`) still work while a browser holds an expired token, and
//! everything else answers `UNAUTHENTICATED` with the reason.

pub mod api_keys;
pub mod keys;
pub mod secrets;
pub mod throttle;
pub mod tokens;

use sha2::Digest;

use crate::error::AppError;
use crate::identity::{self, Principal, UserPrincipal};

/// The operators' shared secret, compared in constant time (through SHA-256, so the
/// comparison does not even depend on the length).
#[derive(Clone)]
pub struct SystemSecret(Vec<u8>);

impl SystemSecret {
    pub fn new(secret: &str) -> Self {
        SystemSecret(sha2::Sha256::digest(secret.as_bytes()).to_vec())
    }

    fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        sha2::Sha256::digest(presented.as_bytes())
            .as_slice()
            .ct_eq(&self.0)
            .into()
    }
}

/// The credentials a request presented, as the HTTP layer read them from its headers:
/// `Some(None)` is a header that is there but is not text.
#[derive(Clone, Copy, Debug, Default)]
pub struct Presented<'a> {
    /// `Authorization`.
    pub authorization: Option<Option<&'a str>>,
    /// `x-api-key`.
    pub api_key: Option<Option<&'a str>>,
}

/// Verifies the credentials a request presented. Fails only when a key could not be
/// looked up (the database is unavailable) or `address` presented too many keys that
/// match nothing (`RATE_LIMITED`); a refused credential makes the request anonymous,
/// remembering why.
pub async fn authenticate(
    presented: Presented<'_>,
    tokens: &tokens::TokenService,
    system: Option<&SystemSecret>,
    api_keys: &api_keys::ApiKeys,
    address: Option<&str>,
) -> Result<Principal, AppError> {
    let rejected = |reason: &str| Principal::Anonymous {
        rejected: Some(reason.to_owned()),
    };
    if let Some(key) = presented.api_key {
        if presented.authorization.is_some() {
            return Ok(rejected(
                "send either an Authorization header or an x-api-key header, not both",
            ));
        }
        let Some(key) = key else {
            return Ok(rejected(identity::KEY_REFUSED));
        };
        return match api_keys.verify(key, address).await {
            Ok(principal) => Ok(Principal::ApiKey(principal)),
            Err(AppError::Unauthenticated(reason)) => Ok(rejected(&reason)),
            Err(error) => Err(error),
        };
    }
    let Some(value) = presented.authorization else {
        return Ok(Principal::Anonymous { rejected: None });
    };
    let Some(value) = value else {
        return Ok(rejected("the Authorization header is not valid text"));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Ok(rejected(
            "the Authorization header must be `Bearer <token>`",
        ));
    };
    let token = token.trim();
    if let Some(system) = system
        && system.matches(token)
    {
        return Ok(Principal::System);
    }
    Ok(match tokens.verify_access_token(token).await {
        Ok(claims) => Principal::User(UserPrincipal {
            user_id: claims.sub,
            session_id: claims.sid,
            default_organization_id: claims.org,
        }),
        Err(reason) => rejected(reason),
    })
}
