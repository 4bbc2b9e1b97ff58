//! An organization's API key, for partners' servers. Tenant table. Only the SHA-256 of
//! the secret is stored; during a rotation's grace period the previous secret's hash
//! is kept beside the new one.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The first characters of the current secret, for people to recognise it.
    pub prefix: String,
    #[sea_orm(unique)]
    pub secret_hash: Vec<u8>,
    /// The secret replaced by the last rotation, valid until `previous_expires_at`.
    #[sea_orm(unique)]
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_expires_at: Option<DateTimeUtc>,
    /// Space-separated scopes, e.g. `contacts:read contacts:write`.
    pub scopes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub rotated_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
