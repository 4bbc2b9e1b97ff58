//! A refresh token of a session, stored as its SHA-256 hash. Rotated tokens stay as rows
//! so that a reused one is recognised and revokes its whole session.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// When this token was exchanged for its successor; a second use is a reuse.
    pub rotated_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
