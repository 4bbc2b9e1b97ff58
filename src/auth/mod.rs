//! Who is calling. Authentication turns request headers into a [`Principal`]; nothing
//! downstream reads headers again.
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
pub mod password;
pub mod prework;
pub mod secrets;
pub mod throttle;
pub mod tokens;

use uuid::Uuid;

use sha2::Digest;

use crate::error::AppError;

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A person, by a valid access token.
    User(UserPrincipal),
    /// Nobody, or somebody whose credential was refused (`rejected` says why).
    Anonymous { rejected: Option<String> },
    /// The operators' scheduler, by `Authorization: Bearer <CRON_SECRET>`. It belongs to no
    /// organization and may only run system jobs.
    System,
    /// A partner's server, by one organization's API key: only that organization, only
    /// the key's scopes.
    ApiKey(api_keys::KeyPrincipal),
}

/// A signed-in person, as their access token says.
#[derive(Clone, Debug)]
pub struct UserPrincipal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// The organization used when the request names none.
    pub default_organization_id: Option<Uuid>,
}

impl Principal {
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(user) => Some(user),
            Principal::Anonymous { .. } | Principal::System | Principal::ApiKey(_) => None,
        }
    }

    /// The signed-in user, or `UNAUTHENTICATED` with the reason their credential failed.
    pub fn require_user(&self) -> Result<&UserPrincipal, AppError> {
        match self {
            Principal::User(user) => Ok(user),
            Principal::Anonymous {
                rejected: Some(reason),
            } => Err(AppError::unauthenticated(reason.clone())),
            Principal::Anonymous { rejected: None } => {
                Err(AppError::unauthenticated("sign in to do this"))
            }
            Principal::System => Err(AppError::forbidden(
                "the system principal may only run system jobs",
            )),
            Principal::ApiKey(_) => Err(AppError::forbidden(crate::tenant::API_KEYS_REFUSED)),
        }
    }
}

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

/// Reads the credential headers of a request. Fails only when a key could not be
/// looked up (the database is unavailable) or `address` presented too many keys that
/// match nothing (`RATE_LIMITED`); a refused credential makes the request anonymous,
/// remembering why.
pub async fn authenticate(
    headers: &http::HeaderMap,
    tokens: &tokens::TokenService,
    system: Option<&SystemSecret>,
    api_keys: &api_keys::ApiKeys,
    address: Option<&str>,
) -> Result<Principal, AppError> {
    let rejected = |reason: &str| Principal::Anonymous {
        rejected: Some(reason.to_owned()),
    };
    let authorization = headers.get(http::header::AUTHORIZATION);
    if let Some(key) = headers.get(API_KEY_HEADER) {
        if authorization.is_some() {
            return Ok(rejected(
                "send either an Authorization header or an x-api-key header, not both",
            ));
        }
        let Ok(key) = key.to_str() else {
            return Ok(rejected(api_keys::REFUSED));
        };
        return match api_keys.verify(key, address).await {
            Ok(principal) => Ok(Principal::ApiKey(principal)),
            Err(AppError::Unauthenticated(reason)) => Ok(rejected(&reason)),
            Err(error) => Err(error),
        };
    }
    let Some(value) = authorization else {
        return Ok(Principal::Anonymous { rejected: None });
    };
    let Ok(value) = value.to_str() else {
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

/// The header partners send their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";
