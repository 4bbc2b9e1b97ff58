//! A sign-up waiting for its email to be verified: what the person chose (the password
//! only as its argon2 hash) and the SHA-256 of the mailed token. Nothing else exists for
//! it until the token is presented; verifying deletes it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_sign_up")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lowercased and trimmed, as `user.email`.
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub organization_name: String,
    pub organization_slug: String,
    pub remember_me: bool,
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
