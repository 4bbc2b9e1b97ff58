//! The audit log's writer.

use super::*;

/// What an audit entry records, by its stored name (`member.role_updated`). The log's
/// vocabulary is `audit::AuditAction`; the guard only writes it.
pub trait AuditName: Copy {
    fn as_str(self) -> &'static str;
}

impl TenantDb {
    /// Writes an audit row for a change made in this request (in its transaction, so the
    /// row exists exactly when the change does). Audit rows are written even while the
    /// organization is read-only: the changes that remain allowed are audited too.
    pub async fn audit(
        &self,
        action: impl AuditName,
        target_type: &str,
        target_id: Option<String>,
        summary: serde_json::Value,
    ) -> AppResult<()> {
        audit_log::ActiveModel {
            organization_id: Set(self.organization_id),
            id: Set(Uuid::now_v7()),
            actor_id: Set(self.user_id()),
            api_key_id: Set(match &self.actor {
                Actor::ApiKey { key_id, .. } => Some(*key_id),
                Actor::Member(_) => None,
            }),
            action: Set(action.as_str().to_owned()),
            target_type: Set(target_type.to_owned()),
            target_id: Set(target_id),
            summary: Set(summary.to_string()),
            client_ip: Set(self.client_ip.clone()),
            created_at: Set(Utc::now()),
        }
        .insert(self.tx())
        .await?;
        Ok(())
    }
}
