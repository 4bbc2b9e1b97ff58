//! A user's membership in an organization, with their role. Tenant table.

use sea_orm::entity::prelude::*;

use crate::Role;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// A user is a member of an organization at most once, so the user id is the row's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub role: Role,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
