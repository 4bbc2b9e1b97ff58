//! The audit log: who changed what in the organization, when and from where. Rows are
//! written by the changes themselves, in their transaction (see `TenantDb::audit`);
//! reading them needs ADMIN or higher.

mod actions;

pub use actions::AuditAction;

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter};

use crate::error::{AppResult, GqlResult};
use crate::graphql::ContextExt;
use crate::graphql::guards::Allow;
use crate::graphql::pagination::{IdCursor, Page, newest_first, page_request};
use crate::input::parse_id;
use crate::policy::Permission as P;
use crate::tenant::TenantDb;
use entity::audit_log;

/// One audited change.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub id: ID,
    /// The user who made the change, if a person did.
    pub actor_id: Option<ID>,
    /// The API key that made the change, if a partner's key did.
    pub api_key_id: Option<ID>,
    /// What happened: `organization.updated`, `member.role_updated`, `invitation.created`, …
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// The relevant fields `before` and `after` the change.
    pub summary: Json<serde_json::Value>,
    pub client_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl crate::graphql::plain::PageNode for AuditEntry {}

impl From<audit_log::Model> for AuditEntry {
    fn from(model: audit_log::Model) -> Self {
        AuditEntry {
            id: ID(model.id.to_string()),
            actor_id: model.actor_id.map(|id| ID(id.to_string())),
            api_key_id: model.api_key_id.map(|id| ID(id.to_string())),
            action: model.action,
            target_type: model.target_type,
            target_id: model.target_id,
            summary: Json(serde_json::from_str(&model.summary).unwrap_or(serde_json::Value::Null)),
            client_ip: model.client_ip,
            created_at: model.created_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Only this action, e.g. `member.removed`.
    pub action: Option<String>,
    /// Only changes made by this user.
    pub actor_id: Option<ID>,
    /// Only changes made with this API key.
    pub api_key_id: Option<ID>,
    /// Only changes to this target.
    pub target_id: Option<String>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The organization's audit log, newest first. ADMIN or higher.
    #[graphql(
        guard = "Allow(P::ReadAuditLog)",
        visible = "crate::policy::visible::read_audit_log",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditFilter>,
    ) -> GqlResult<Page<AuditEntry>> {
        Ok(list(
            ctx.request()?.tenant()?,
            first,
            after,
            filter.unwrap_or_default(),
        )
        .await?)
    }
}

async fn list(
    db: &TenantDb,
    first: Option<i32>,
    after: Option<String>,
    filter: AuditFilter,
) -> AppResult<Page<AuditEntry>> {
    let request = page_request::<IdCursor>(first, after)?;
    let mut select = db.find::<audit_log::Entity>();
    if let Some(action) = filter.action {
        select = select.filter(audit_log::Column::Action.eq(action.trim()));
    }
    if let Some(actor) = &filter.actor_id {
        select = select.filter(audit_log::Column::ActorId.eq(parse_id("filter.actorId", actor)?));
    }
    if let Some(key) = &filter.api_key_id {
        select = select.filter(audit_log::Column::ApiKeyId.eq(parse_id("filter.apiKeyId", key)?));
    }
    if let Some(target) = filter.target_id {
        select = select.filter(audit_log::Column::TargetId.eq(target.trim()));
    }
    newest_first(db, select, &request, |row| row.id, AuditEntry::from).await
}
