//! The rules of invitations.

mod accept;

pub use accept::{accept, prepare_accept};

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{
    AcceptInvitationInput, Invitation, InvitationPayload, InvitationStatus, InviteMemberInput,
};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{IdCursor, Page, newest_first, page_request};
use crate::identity::hash_opaque_token;
use crate::input::{Email, Name, Password, parse_id};
use crate::mail::Mail;
use crate::organizations::seats_in_use;
use crate::passwords::prework::Prework;
use crate::policy::{self, Permission as P};
use crate::services::Services;
use crate::sessions::{AuthPayload, start_session};
use crate::tenant::{RequestContext, TenantDb};
use entity::{Role, invitation, membership};

const TOKEN_PREFIX: &str = "tgi_";
const LIFETIME_DAYS: i64 = 7;

pub fn status_of(model: &invitation::Model, now: DateTime<Utc>) -> InvitationStatus {
    if model.accepted_at.is_some() {
        InvitationStatus::Accepted
    } else if model.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if model.expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    }
}

/// A new token: the organization's id (so acceptance knows where to look) and 256 random
/// bits. Only its SHA-256 is stored.
fn new_token(organization_id: Uuid) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 48];
    bytes[..16].copy_from_slice(organization_id.as_bytes());
    rand::rngs::OsRng.fill_bytes(&mut bytes[16..]);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_opaque_token(&token);
    (token, hash)
}

/// The organization a token belongs to, if it is well-formed.
fn organization_of(token: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.strip_prefix(TOKEN_PREFIX)?)
        .ok()?;
    if bytes.len() != 48 {
        return None;
    }
    Uuid::from_slice(&bytes[..16]).ok()
}

pub async fn list(
    db: &TenantDb,
    status: Option<InvitationStatus>,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Page<Invitation>> {
    let request = page_request::<IdCursor>(first, after)?;
    let now = Utc::now();
    let mut select = db.find::<invitation::Entity>();
    select = match status {
        None => select,
        Some(InvitationStatus::Accepted) => {
            select.filter(invitation::Column::AcceptedAt.is_not_null())
        }
        Some(InvitationStatus::Revoked) => select
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_not_null()),
        Some(InvitationStatus::Expired) => select
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::ExpiresAt.lte(now)),
        Some(InvitationStatus::Pending) => select
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(now)),
    };
    newest_first(db, select, &request, |row| row.id, Invitation::from).await
}

async fn ensure_free_seat(db: &TenantDb) -> AppResult<()> {
    let organization = db.organization().await?;
    let in_use = seats_in_use(db).await?;
    if in_use >= organization.seat_limit.max(0) as u64 {
        return Err(AppError::forbidden(format!(
            "all {} seats are taken (members and open invitations): raise the seat limit or revoke an invitation",
            organization.seat_limit
        )));
    }
    Ok(())
}

/// Mails the invitation's link. The token travels only this way, to the invited
/// mailbox: never in an API answer, so an inviter cannot accept in the invitee's name.
async fn send(
    request: &RequestContext,
    services: &Services,
    invitation: &invitation::Model,
    token: &str,
) -> AppResult<()> {
    let db = request.tenant()?;
    let url = services.app_link("accept-invitation", token);
    let organization = db.organization().await?;
    let inviter = request
        .global()
        .find_user(db.member()?.user_id)
        .await?
        .map(|user| user.name)
        .unwrap_or_else(|| "A member".to_owned());
    services
        .mailer
        .queue(
            request.global(),
            Mail {
                to: invitation.email.clone(),
                subject: format!("{inviter} invited you to {} on tenantgate", organization.name),
                body: format!(
                    "{inviter} invited you to join {} as {:?}.\n\nAccept the invitation: {url}\n\n\
                     The link works once and expires on {}. If you did not expect it, ignore this email.\n",
                    organization.name,
                    invitation.role,
                    invitation.expires_at.format("%Y-%m-%d %H:%M UTC"),
                ),
                kind: "invitation",
            },
        )
        .await
}

pub async fn invite(
    request: &RequestContext,
    services: &Services,
    input: InviteMemberInput,
) -> AppResult<InvitationPayload> {
    let db = request.tenant()?;
    let email = Email::parse("email", &input.email)?;
    let role = Role::from(input.role);
    policy::require_on_role(db.actor(), P::InviteMembers, role)?;
    db.lock_organization().await?;
    if db.member_by_email(email.as_str()).await?.is_some() {
        return Err(AppError::conflict(
            "email",
            "this person is already a member",
        ));
    }
    let now = Utc::now();
    let open = db
        .all(
            db.find::<invitation::Entity>()
                .filter(invitation::Column::Email.eq(email.as_str()))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null()),
        )
        .await?;
    for existing in open {
        if existing.expires_at > now {
            return Err(AppError::conflict(
                "email",
                "an invitation to this email is already pending: resend it instead",
            ));
        }
        // An expired one gives way to the new one.
        let mut row: invitation::ActiveModel = existing.into();
        row.revoked_at = Set(Some(now));
        db.update(row).await?;
    }
    ensure_free_seat(db).await?;
    let (token, hash) = new_token(db.organization_id());
    let created = db
        .insert(invitation::ActiveModel {
            organization_id: NotSet,
            id: Set(Uuid::now_v7()),
            email: Set(email.into_inner()),
            role: Set(role),
            token_hash: Set(hash),
            invited_by: Set(db.user_id()),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(LIFETIME_DAYS)),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
        })
        .await
        .map_err(|e| e.conflict_on("email", "an invitation to this email is already pending"))?;
    send(request, services, &created, &token).await?;
    db.audit(
        AuditAction::InvitationCreated,
        "invitation",
        Some(created.id.to_string()),
        json!({ "after": { "email": created.email, "role": created.role } }),
    )
    .await?;
    Ok(InvitationPayload {
        invitation: created.into(),
    })
}

pub async fn resend(
    request: &RequestContext,
    services: &Services,
    id: &ID,
) -> AppResult<InvitationPayload> {
    let db = request.tenant()?;
    let existing = db.get::<invitation::Entity>(parse_id("id", id)?).await?;
    // A fresh link to an invitation is as good as granting its role.
    policy::require_on_role(db.actor(), P::ResendInvitations, existing.role)?;
    let now = Utc::now();
    match status_of(&existing, now) {
        InvitationStatus::Accepted | InvitationStatus::Revoked => {
            return Err(AppError::conflict(
                "id",
                "this invitation was already accepted or revoked",
            ));
        }
        // An expired invitation holds no seat until it is renewed.
        InvitationStatus::Expired => {
            db.lock_organization().await?;
            ensure_free_seat(db).await?
        }
        InvitationStatus::Pending => {}
    }
    let (token, hash) = new_token(db.organization_id());
    let mut row: invitation::ActiveModel = existing.into();
    row.token_hash = Set(hash);
    row.expires_at = Set(now + Duration::days(LIFETIME_DAYS));
    let updated = db.update(row).await?;
    send(request, services, &updated, &token).await?;
    db.audit(
        AuditAction::InvitationResent,
        "invitation",
        Some(updated.id.to_string()),
        json!({ "after": { "email": updated.email, "expiresAt": updated.expires_at } }),
    )
    .await?;
    Ok(InvitationPayload {
        invitation: updated.into(),
    })
}

pub async fn revoke(db: &TenantDb, id: &ID) -> AppResult<invitation::Model> {
    let existing = db.get::<invitation::Entity>(parse_id("id", id)?).await?;
    policy::require_on_role(db.actor(), P::RevokeInvitations, existing.role)?;
    if matches!(
        status_of(&existing, Utc::now()),
        InvitationStatus::Accepted | InvitationStatus::Revoked
    ) {
        return Err(AppError::conflict(
            "id",
            "this invitation was already accepted or revoked",
        ));
    }
    let mut row: invitation::ActiveModel = existing.into();
    row.revoked_at = Set(Some(Utc::now()));
    let revoked = db.update(row).await?;
    db.audit(
        AuditAction::InvitationRevoked,
        "invitation",
        Some(revoked.id.to_string()),
        json!({ "before": { "email": revoked.email, "role": revoked.role } }),
    )
    .await?;
    Ok(revoked)
}

/// An invitation is only as good as its inviter: accepting it re-checks that they are
/// still a member who may grant its role (a removed or demoted admin's invitations are
/// revoked when that happens; this also holds for any that slipped through).
async fn inviter_may_still_grant(db: &TenantDb, invitation: &invitation::Model) -> AppResult<()> {
    let refused = || {
        AppError::forbidden(
            "the person who invited you can no longer grant this role: ask an admin of the organization to invite you again",
        )
    };
    let inviter = invitation.invited_by.ok_or_else(refused)?;
    let membership = db
        .lookup::<membership::Entity>(inviter)
        .await?
        .ok_or_else(refused)?;
    if policy::role_holds_on_role(membership.role, P::InviteMembers, invitation.role) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Revokes the pending invitations `inviter` sent that their standing no longer covers:
/// all of them when they left or were removed (`role` is `None`), those above what
/// `role` may grant after a demotion. Answers the revoked invitations' ids.
pub async fn revoke_issued_by(
    db: &TenantDb,
    inviter: Uuid,
    role: Option<Role>,
) -> AppResult<Vec<Uuid>> {
    let now = Utc::now();
    let pending = db
        .all(
            db.find::<invitation::Entity>()
                .filter(invitation::Column::InvitedBy.eq(inviter))
                .filter(invitation::Column::AcceptedAt.is_null())
                .filter(invitation::Column::RevokedAt.is_null()),
        )
        .await?;
    let mut revoked = Vec::new();
    for invitation in pending {
        let still_covered = role.is_some_and(|role| {
            policy::role_holds_on_role(role, P::InviteMembers, invitation.role)
        });
        if still_covered {
            continue;
        }
        revoked.push(invitation.id);
        let mut row: invitation::ActiveModel = invitation.into();
        row.revoked_at = Set(Some(now));
        db.update(row).await?;
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests;
