//! Guards: the policy table's answer, declared on fields, so no resolver has to remember
//! it.

use async_graphql::{Context, Guard};

use super::ContextExt;
use crate::error::AppError;
use crate::policy::Permission;

/// Admits whoever holds the permission in the request's organization: a member whose
/// role is at least the rule's, or an API key holding the rule's scope (see
/// [`crate::policy::RULES`]). A rule's row condition (own rows, role ceiling) is checked
/// where the row is known, by the service.
pub struct Allow(pub Permission);

impl Guard for Allow {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        ctx.request()?.tenant_with(self.0)?;
        Ok(())
    }
}

/// Refuses API keys and the system principal on the account fields that are open to
/// anonymous callers (sign-up, log-in, token exchanges, password resets, accepting
/// invitations): they are for people, a key never reaches sessions, and the system
/// principal only runs system jobs.
pub struct PeopleOnly;

impl Guard for PeopleOnly {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.request()?.principal() {
            crate::identity::Principal::ApiKey(_) => {
                Err(AppError::forbidden(crate::identity::API_KEYS_REFUSED).into())
            }
            crate::identity::Principal::System => {
                Err(AppError::forbidden("the system principal may only run system jobs").into())
            }
            crate::identity::Principal::User(_) | crate::identity::Principal::Anonymous { .. } => {
                Ok(())
            }
        }
    }
}

/// Admits whoever reached the object that holds the field ([`crate::policy::Access::Parent`]):
/// it stands where a type's guard would otherwise apply to a field that must stay open,
/// such as a contact's `id` in the answer of a key that may write but not read contacts.
pub struct Reached;

impl Guard for Reached {
    async fn check(&self, _ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(())
    }
}
