//! The role a member holds in an organization.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Roles, highest first. Stored as lowercase text so both databases read it alike.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "owner")]
    Owner,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "manager")]
    Manager,
    #[sea_orm(string_value = "member")]
    Member,
    #[sea_orm(string_value = "viewer")]
    Viewer,
}

impl Role {
    /// Higher is more powerful; used to compare roles, never stored.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 5,
            Role::Admin => 4,
            Role::Manager => 3,
            Role::Member => 2,
            Role::Viewer => 1,
        }
    }

    /// Whether this role is at least `other`.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }
}
