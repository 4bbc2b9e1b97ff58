//! A tenant's members: read with their user rows, and removed.

use super::*;

impl TenantDb {
    /// The members with these user ids, each with their user row, in one statement
    /// (absent ones are simply missing).
    pub async fn members_by_user_ids(
        &self,
        user_ids: &[Uuid],
    ) -> AppResult<Vec<(membership::Model, user::Model)>> {
        use sea_orm::{JoinType, QuerySelect};
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        // The entities declare no relations of their own.
        let membership_user = membership::Entity::belongs_to(user::Entity)
            .from(membership::Column::UserId)
            .to(user::Column::Id)
            .into();
        let rows = self
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.is_in(user_ids.iter().copied()))
            .join(JoinType::InnerJoin, membership_user)
            .select_also(user::Entity)
            .all(self.tx())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(membership, user)| Some((membership, user?)))
            .collect())
    }

    /// Members with their user rows, for the given page of memberships.
    pub async fn with_users(
        &self,
        memberships: Vec<membership::Model>,
    ) -> AppResult<Vec<(membership::Model, user::Model)>> {
        let ids: Vec<Uuid> = memberships.iter().map(|m| m.user_id).collect();
        let users: std::collections::HashMap<Uuid, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .all(self.tx())
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(memberships
            .into_iter()
            .filter_map(|m| {
                let user = users.get(&m.user_id)?.clone();
                Some((m, user))
            })
            .collect())
    }

    /// The member whose account has this email, if any.
    pub async fn member_by_email(&self, email: &str) -> AppResult<Option<membership::Model>> {
        let Some(user) = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(self.tx())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.eq(user.id))
            .one(self.tx())
            .await?)
    }
}
