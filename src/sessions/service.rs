//! The rules of signing up, in and out.

use uuid::Uuid;

use super::{AuthPayload, LogInInput, Me, Membership, SignUpInput, User};
use crate::error::{AppError, AppResult};
use crate::graphql::Services;
use crate::input::{Email, Name, Password, Slug};
use crate::organizations::{self, Organization};
use crate::tenant::{IssuedSession, RefreshOutcome, RequestContext};

const INVALID_CREDENTIALS: &str = "invalid email or password";

pub async fn me(request: &RequestContext) -> AppResult<Me> {
    let user_id = request.user()?.user_id;
    let global = request.global();
    let user = global
        .find_user(user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("this account no longer exists"))?;
    let memberships = global
        .memberships_of(user_id)
        .await?
        .into_iter()
        .map(|m| Membership {
            role: m.membership.role.into(),
            joined_at: m.membership.created_at,
            organization: m.organization.into(),
        })
        .collect();
    Ok(Me {
        user: user.into(),
        memberships,
    })
}

pub async fn sign_up(
    request: &RequestContext,
    services: &Services,
    input: SignUpInput,
) -> AppResult<AuthPayload> {
    let email = Email::parse("email", &input.email)?;
    let password = Password::parse("password", input.password)?;
    let name = Name::parse("name", &input.name, 200)?;
    let organization_name = Name::parse("organizationName", &input.organization_name, 200)?;
    let slug = Slug::parse("organizationSlug", &input.organization_slug)?;

    let global = request.global();
    if global.find_user_by_email(email.as_str()).await?.is_some() {
        return Err(AppError::conflict(
            "email",
            "an account with this email already exists",
        ));
    }
    if global
        .find_organization_by_slug(slug.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict("organizationSlug", "this slug is taken"));
    }
    let hash = services.passwords.hash(&password).await?;
    let user = global
        .create_user(email.into_inner(), name.into_inner(), hash)
        .await
        .map_err(|e| e.conflict_on("email", "an account with this email already exists"))?;
    global.act_as_user(user.id).await?;
    let organization =
        organizations::create(global, organization_name, slug, user.id, "organizationSlug").await?;
    let session = global
        .start_session(
            user.id,
            input.remember_me,
            services.session_lifetime(input.remember_me),
            request.client(),
        )
        .await?;
    payload(services, user.into(), Some(organization.into()), session)
}

pub async fn log_in(
    request: &RequestContext,
    services: &Services,
    input: LogInInput,
) -> AppResult<AuthPayload> {
    let global = request.global();
    // A malformed email cannot match an account; answering as for a wrong password
    // (after the same work) tells nothing either way.
    let user = match Email::parse("email", &input.email) {
        Ok(email) => global.find_user_by_email(email.as_str()).await?,
        Err(_) => None,
    };
    let verified = services
        .passwords
        .verify(
            &input.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(AppError::unauthenticated(INVALID_CREDENTIALS));
    };
    global.act_as_user(user.id).await?;
    let organization = default_organization(request, user.id).await?;
    let session = global
        .start_session(
            user.id,
            input.remember_me,
            services.session_lifetime(input.remember_me),
            request.client(),
        )
        .await?;
    payload(services, user.into(), organization, session)
}

pub async fn refresh(
    request: &RequestContext,
    services: &Services,
    presented: &str,
) -> AppResult<AuthPayload> {
    let global = request.global();
    let session = match global
        .refresh(presented.trim(), |remember| {
            services.session_lifetime(remember)
        })
        .await?
    {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Rejected(reason) => return Err(AppError::unauthenticated(reason)),
    };
    let user = global
        .find_user(session.session.user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("this account no longer exists"))?;
    global.act_as_user(user.id).await?;
    let organization = default_organization(request, user.id).await?;
    payload(services, user.into(), organization, session)
}

pub async fn log_out(request: &RequestContext, refresh_token: Option<&str>) -> AppResult<bool> {
    let global = request.global();
    let (user_id, session_id) = match refresh_token {
        Some(token) => match global.session_of_refresh_token(token.trim()).await? {
            Some(session) => (session.user_id, session.id),
            None => return Err(AppError::unauthenticated("the refresh token is invalid")),
        },
        None => {
            let user = request.user()?;
            (user.user_id, user.session_id)
        }
    };
    global
        .revoke_session(user_id, session_id, "logged_out")
        .await?;
    Ok(true)
}

/// The organization a session starts in: the user's oldest membership.
async fn default_organization(
    request: &RequestContext,
    user_id: Uuid,
) -> AppResult<Option<Organization>> {
    Ok(request
        .global()
        .memberships_of(user_id)
        .await?
        .into_iter()
        .next()
        .map(|m| m.organization.into()))
}

fn payload(
    services: &Services,
    user: User,
    organization: Option<Organization>,
    session: IssuedSession,
) -> AppResult<AuthPayload> {
    let organization_id = organization
        .as_ref()
        .and_then(|org| Uuid::parse_str(&org.id).ok());
    let access = services.tokens.issue_access_token(
        session.session.user_id,
        session.session.id,
        organization_id,
    )?;
    Ok(AuthPayload {
        access_token: access.token,
        access_token_expires_at: access.expires_at,
        refresh_token: session.refresh_token,
        user,
        organization,
    })
}
