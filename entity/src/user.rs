//! A person who can sign in. Users are global: one user may belong to many organizations.
//!
//! The table also holds the argon2 hash of the user's password, in `password_hash`, which
//! this model leaves out on purpose: on PostgreSQL the request role may not read that
//! column, so a plain `find()` must not select it. The hash is written and read only by
//! the gateway's credential functions (`GlobalDb::create_user`, `password_hash`,
//! `set_password_hash`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stored lowercased and trimmed, so the unique constraint is case-insensitive.
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
