//! Who acts: the principals authentication produces ([`Principal`]), the actor a
//! request binds inside one organization ([`Actor`]), API-key scopes, and the opaque
//! tokens that stand for sessions and links. `auth/` produces these, `tenant/` and
//! `policy` read them; this module reads neither.

mod opaque;
mod scopes;

pub use opaque::{hash_opaque_token, new_opaque_token};
pub use scopes::{KeyPrincipal, Scope, Scopes, missing_scope};

use entity::Role;
use uuid::Uuid;

use crate::error::AppError;

/// The one message for every refused key: revoked, expired, malformed and unknown keys
/// are indistinguishable to the caller.
pub const KEY_REFUSED: &str = "the API key is not valid";

/// Why an API key is refused a field that has no scope for keys.
pub const API_KEYS_REFUSED: &str =
    "API keys cannot use this field: it is for the organization's members";

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
    ApiKey(KeyPrincipal),
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
    /// What kind of caller this is, for logs: `user`, `api_key`, `system` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::ApiKey(_) => "api_key",
            Principal::System => "system",
            Principal::Anonymous { .. } => "anonymous",
        }
    }

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
            Principal::ApiKey(_) => Err(AppError::forbidden(API_KEYS_REFUSED)),
        }
    }
}

/// Who acts through a `TenantDb`.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A member of the organization, with their role.
    Member(Member),
    /// One of the organization's API keys, with its scopes.
    ApiKey { key_id: Uuid, scopes: Scopes },
}

/// A member acting in their organization.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub user_id: Uuid,
    pub role: Role,
}
