//! Guards: permission rules declared on fields, so no resolver has to remember them.

use async_graphql::{Context, Guard};

use super::ContextExt;
use crate::error::AppError;
use entity::Role;

/// Admits callers whose role in the request's organization is at least `minimum`.
pub struct RoleGuard {
    minimum: Role,
}

impl RoleGuard {
    pub fn new(minimum: Role) -> Self {
        RoleGuard { minimum }
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let tenant = ctx.request()?.tenant()?;
        if tenant.role().at_least(self.minimum) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this needs the {} role or higher",
                format!("{:?}", self.minimum).to_uppercase()
            ))
            .into())
        }
    }
}
