//! A CRM contact of an organization. Tenant table.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// Lowercased; unique within the organization when present.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The member responsible for this contact (the creator, unless reassigned).
    pub owner_id: Option<Uuid>,
    /// Private notes: only the owner and MANAGER or higher read them.
    pub notes: Option<String>,
    /// The contact's id in the partner's system; unique within the organization.
    pub external_id: Option<String>,
    /// Custom attributes: a JSON object, stored as text.
    pub attributes: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
