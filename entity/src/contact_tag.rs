//! A tag on a contact. Tenant table; one row per contact and tag.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_tag")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: Uuid,
    /// Lowercased, 1–64 characters.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
}

impl ActiveModelBehavior for ActiveModel {}
