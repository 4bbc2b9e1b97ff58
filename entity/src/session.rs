//! A signed-in session: one per log-in, the family of all refresh tokens rotated from it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub remember_me: bool,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    /// The refresh lifetime: the session cannot be refreshed after this.
    pub expires_at: DateTimeUtc,
    /// Set on log-out, on revocation and when a rotated refresh token is reused.
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
