//! One audited change of an organization. Tenant table; rows are only ever inserted.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The user who acted, if a user did.
    pub actor_id: Option<Uuid>,
    /// The API key that acted, if a key did.
    pub api_key_id: Option<Uuid>,
    /// What happened, e.g. `member.role_updated`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// JSON: the relevant fields before and after.
    pub summary: String,
    pub client_ip: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
