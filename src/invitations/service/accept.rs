//! Accepting an invitation: by a signed-in person, or by someone who signs up with it.

use super::*;

/// `acceptInvitation`'s work before its transaction: the password of a new account
/// hashed, when the token names a pending invitation and nobody is signed in.
pub async fn prepare_accept(
    request: &RequestContext,
    input: AcceptInvitationInput,
) -> AppResult<Prework> {
    let work = Prework::default();
    let token = input.token.trim();
    let (None, Some(organization_id), Some(password)) = (
        request.principal().user(),
        organization_of(token),
        input.password,
    ) else {
        return Ok(work);
    };
    let Ok(password) = Password::parse("password", password) else {
        return Ok(work);
    };
    let global = request.global();
    let invitation = global
        .find_invitation(organization_id, &hash_opaque_token(token))
        .await?
        .map(|verified| verified.invitation().clone())
        .filter(|invitation| status_of(invitation, Utc::now()) == InvitationStatus::Pending);
    // As `accept` does: a new account only where the invited email has none.
    let creates_account = match invitation {
        Some(invitation) => global
            .find_user_by_email(&invitation.email)
            .await?
            .is_none(),
        None => false,
    };
    Ok(if creates_account {
        work.hash("password", &password)
    } else {
        work
    })
}

pub async fn accept(
    request: &RequestContext,
    services: &Services,
    field: &str,
    input: AcceptInvitationInput,
) -> AppResult<AuthPayload> {
    let not_found = || AppError::not_found("invitation");
    let token = input.token.trim();
    let organization_id = organization_of(token).ok_or_else(not_found)?;
    let global = request.global();
    let ip = request.client().ip.clone();

    // Find the invitation inside its organization (the token names it).
    let verified = global
        .find_invitation(organization_id, &hash_opaque_token(token))
        .await?
        .ok_or_else(not_found)?;
    let invitation = verified.invitation().clone();
    match status_of(&invitation, Utc::now()) {
        InvitationStatus::Pending => {}
        InvitationStatus::Expired => {
            return Err(AppError::invalid(
                "token",
                "has expired: ask an admin of the organization to resend the invitation",
            ));
        }
        InvitationStatus::Accepted | InvitationStatus::Revoked => return Err(not_found()),
    }

    // Who accepts: the signed-in user (with the invited email) or a new account.
    let user = match request.principal().user() {
        Some(principal) => {
            let user = global
                .find_user(principal.user_id)
                .await?
                .ok_or_else(|| AppError::unauthenticated("this account no longer exists"))?;
            if user.email != invitation.email {
                return Err(AppError::forbidden(
                    "this invitation was sent to another email address",
                ));
            }
            user
        }
        None => {
            if global
                .find_user_by_email(&invitation.email)
                .await?
                .is_some()
            {
                return Err(AppError::unauthenticated(
                    "an account with the invited email exists: sign in, then accept the invitation",
                ));
            }
            let name = Name::parse("name", input.name.as_deref().unwrap_or(""), 200)?;
            let password = Password::parse("password", input.password.unwrap_or_default())?;
            let hash = request
                .password_work(&services.passwords, field)
                .hash("password", &password)
                .await?;
            global
                .create_user(invitation.email.clone(), name.into_inner(), hash)
                .await
                .map_err(|e| e.conflict_on("email", "an account with this email already exists"))?
        }
    };
    global.act_as_user(user.id).await?;

    let scope = global.enter_by_invitation(&verified, user.id, ip).await?;
    let db = scope.db();
    inviter_may_still_grant(db, &invitation).await?;
    let now = Utc::now();
    db.insert(membership::ActiveModel {
        organization_id: NotSet,
        user_id: Set(user.id),
        role: Set(invitation.role),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .await
    .map_err(|e| e.conflict_on("token", "you are already a member of this organization"))?;
    let mut row: invitation::ActiveModel = invitation.clone().into();
    row.accepted_at = Set(Some(now));
    row.accepted_by = Set(Some(user.id));
    db.update(row).await?;
    db.audit(
        AuditAction::InvitationAccepted,
        "invitation",
        Some(invitation.id.to_string()),
        json!({ "after": { "email": invitation.email, "role": invitation.role, "userId": user.id } }),
    )
    .await?;
    let organization = db.organization().await?;
    scope.leave().await?;

    start_session(request, services, user, false, Some(organization.into())).await
}
