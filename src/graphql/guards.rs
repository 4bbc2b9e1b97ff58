//! Guards: permission rules declared on fields, so no resolver has to remember them.

use async_graphql::{Context, Guard};

use super::ContextExt;
use crate::auth::api_keys::Scope;
use crate::error::AppError;
use crate::tenant::Actor;
use entity::Role;

/// Admits members whose role in the request's organization is at least `minimum`, and
/// API keys only when the field names a scope (`.or_scope(…)`) that the key holds.
pub struct RoleGuard {
    minimum: Role,
    scope: Option<Scope>,
}

impl RoleGuard {
    pub fn new(minimum: Role) -> Self {
        RoleGuard {
            minimum,
            scope: None,
        }
    }

    /// Also admits API keys holding `scope`.
    pub fn or_scope(self, scope: Scope) -> Self {
        RoleGuard {
            scope: Some(scope),
            ..self
        }
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let request = ctx.request()?;
        let tenant = match self.scope {
            Some(scope) => request.tenant_for(scope)?,
            None => request.tenant()?,
        };
        match tenant.actor() {
            Actor::Member(member) if member.role.at_least(self.minimum) => Ok(()),
            Actor::Member(_) => Err(AppError::forbidden(format!(
                "this needs the {} role or higher",
                format!("{:?}", self.minimum).to_uppercase()
            ))
            .into()),
            // `tenant_for` admitted the key: it holds the scope.
            Actor::ApiKey { .. } => Ok(()),
        }
    }
}

/// Refuses API keys on the account fields that are open to anonymous callers (sign-up,
/// log-in, token exchanges, password resets, accepting invitations): they are for
/// people, and a key never reaches sessions.
pub struct PeopleOnly;

impl Guard for PeopleOnly {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.request()?.principal() {
            crate::auth::Principal::ApiKey(_) => {
                Err(AppError::forbidden(crate::tenant::API_KEYS_REFUSED).into())
            }
            _ => Ok(()),
        }
    }
}
