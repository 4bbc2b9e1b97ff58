//! The organization directory, memberships, invitations and the public part of a
//! channel.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Statement,
};
use uuid::Uuid;

use super::*;

/// A membership of the signed-in user, with its organization.
pub struct MembershipWithOrganization {
    pub membership: membership::Model,
    pub organization: organization::Model,
}

impl GlobalDb {
    // ---- organizations -----------------------------------------------------------------

    pub async fn find_organization_by_slug(
        &self,
        slug: &str,
    ) -> AppResult<Option<organization::Model>> {
        Ok(organization::Entity::find()
            .filter(organization::Column::Slug.eq(slug))
            .one(self.tx())
            .await?)
    }

    /// Creates an organization with `owner` as its OWNER, and audits it there.
    pub async fn found_organization(
        &self,
        name: String,
        slug: String,
        owner: Uuid,
        seat_limit: i32,
        client_ip: Option<String>,
        founded: impl crate::tenant::AuditName,
    ) -> Result<organization::Model, WriteError> {
        let now = Utc::now();
        let organization = organization::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            slug: Set(slug),
            status: Set(OrganizationStatus::Trial),
            plan: Set("free".to_owned()),
            seat_limit: Set(seat_limit),
            agent_instructions: Set(None),
            // The migration's default (365 days) is the one place that number lives.
            event_retention_days: sea_orm::ActiveValue::NotSet,
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.tx())
        .await?;
        let scope = self
            .enter_organization(organization.id, owner, Role::Owner, client_ip)
            .await?;
        membership::ActiveModel {
            organization_id: Set(organization.id),
            user_id: Set(owner),
            role: Set(Role::Owner),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.tx())
        .await?;
        scope
            .db()
            .audit(
                founded,
                "organization",
                Some(organization.id.to_string()),
                serde_json::json!({ "after": { "name": organization.name, "slug": organization.slug } }),
            )
            .await?;
        scope.leave().await?;
        Ok(organization)
    }

    /// Looks an invitation up by its token's hash, inside the organization the token
    /// names. The answer is the only key to [`enter_by_invitation`](Self::enter_by_invitation).
    pub async fn find_invitation(
        &self,
        organization_id: Uuid,
        token_hash: &[u8],
    ) -> AppResult<Option<VerifiedInvitation>> {
        let Ok(scope) = self
            .enter_organization(organization_id, Uuid::nil(), Role::Viewer, None)
            .await
        else {
            return Ok(None);
        };
        let found = invitation::Entity::find()
            .filter(invitation::Column::OrganizationId.eq(organization_id))
            .filter(invitation::Column::TokenHash.eq(token_hash.to_vec()))
            .one(self.tx())
            .await?;
        scope.leave().await?;
        Ok(found.map(VerifiedInvitation))
    }

    /// The public part of one organization's channel (what a web chat widget shows
    /// before anyone signs in), looked up by the organization's slug: `None` when the
    /// organization or its channel does not exist. Only `enabled` and `settings` are
    /// read; the channel's instructions, provider, model and credentials never leave
    /// the database on this path.
    ///
    /// On PostgreSQL the read runs inside the organization under row-level security,
    /// through the database function `public_channel_config`, which binds that one
    /// statement to the organization and restores the request's binding when it returns
    /// (and which answers only the public columns). Entering the organization with
    /// `enter_organization` would leave the request bound to
    /// it across several statements; that suits mutations, whose fields run one at a
    /// time, but the fields of a query run concurrently on the request's transaction, and
    /// a statement of another field landing in between would read under this binding.
    /// One statement rules that out by construction.
    pub async fn public_channel_config(
        &self,
        organization_slug: &str,
        kind: ChannelKind,
    ) -> AppResult<Option<PublicChannel>> {
        let Some(organization) = self.find_organization_by_slug(organization_slug).await? else {
            return Ok(None);
        };
        let found = if self.db.is_postgres() {
            let row = self
                .tx()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT enabled, settings FROM public_channel_config($1, $2)",
                    [organization.id.into(), kind.into()],
                ))
                .await?;
            match row {
                Some(row) => Some((
                    row.try_get::<bool>("", "enabled")?,
                    row.try_get::<String>("", "settings")?,
                )),
                None => None,
            }
        } else {
            channel_config::Entity::find()
                .select_only()
                .columns([
                    channel_config::Column::Enabled,
                    channel_config::Column::Settings,
                ])
                .filter(channel_config::Column::OrganizationId.eq(organization.id))
                .filter(channel_config::Column::Kind.eq(kind))
                .into_tuple::<(bool, String)>()
                .one(self.tx())
                .await?
        };
        Ok(found.map(|(enabled, settings)| PublicChannel {
            kind,
            enabled,
            settings,
        }))
    }

    /// Binds the request to the organization of an invitation being accepted, acting as
    /// `user_id` with the invited role.
    pub async fn enter_by_invitation(
        &self,
        invitation: &VerifiedInvitation,
        user_id: Uuid,
        client_ip: Option<String>,
    ) -> AppResult<OrganizationScope> {
        self.enter_organization(
            invitation.0.organization_id,
            user_id,
            invitation.0.role,
            client_ip,
        )
        .await
    }

    /// Binds the request to an organization its caller is not (yet) a member of: only
    /// for founding an organization and accepting an invitation, so it stays private to
    /// the guard. On PostgreSQL this sets `app.organization_id`;
    /// [`OrganizationScope::leave`] restores the request's own.
    async fn enter_organization(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        client_ip: Option<String>,
    ) -> AppResult<OrganizationScope> {
        let organization = organization::Entity::find_by_id(organization_id)
            .one(self.tx())
            .await?
            .ok_or(AppError::not_found("organization"))?;
        let previous = if self.db.is_postgres() {
            crate::tenant::binding::swap_organization(self.tx(), organization_id).await?
        } else {
            None
        };
        Ok(OrganizationScope {
            db: TenantDb::new(
                self.tx.clone(),
                organization_id,
                crate::identity::Actor::Member(crate::identity::Member { user_id, role }),
                organization.status,
                client_ip,
            ),
            previous,
            tx: self.tx.clone(),
        })
    }
}

/// An invitation found by its token: proof that the caller holds the token, and the
/// only way to enter its organization before being a member.
pub struct VerifiedInvitation(invitation::Model);

impl VerifiedInvitation {
    pub fn invitation(&self) -> &invitation::Model {
        &self.0
    }
}

/// The public part of a channel configuration: see [`GlobalDb::public_channel_config`].
pub struct PublicChannel {
    pub kind: ChannelKind,
    pub enabled: bool,
    /// The channel's settings, a JSON object as text.
    pub settings: String,
}
