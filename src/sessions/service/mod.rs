//! The rules of signing in and out, sessions and passwords (signing up: `sign_up.rs`).

mod reset;

pub use reset::*;

use uuid::Uuid;

use async_graphql::ID;

use super::{AuthPayload, ChangePasswordInput, LogInInput, Me, Membership, Session, User};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, Total, page, page_request};
use crate::input::parse_id;
use crate::input::{Email, Password};
use crate::mail::Mail;
use crate::organizations::Organization;
use crate::passwords::prework::Prework;
use crate::services::Services;
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
            permissions: crate::policy::permissions_of(m.membership.role),
            organization: m.organization.into(),
        })
        .collect();
    let permissions = request
        .bound_tenant()
        .and_then(|tenant| tenant.role())
        .map(crate::policy::permissions_of)
        .unwrap_or_default();
    Ok(Me {
        user: user.into(),
        memberships,
        permissions,
    })
}

pub async fn log_in(
    request: &RequestContext,
    services: &Services,
    field: &str,
    input: LogInInput,
) -> AppResult<AuthPayload> {
    let mut work = request.password_work(&services.passwords, field);
    work.charge(|| charge_log_in(request, services, &input))?;
    let (user, password_hash) = find_logging_in(request, &input).await?;
    let verified = work
        .verify("password", &input.password, password_hash.as_deref())
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(AppError::unauthenticated(INVALID_CREDENTIALS));
    };
    request.global().act_as_user(user.id).await?;
    let organization = default_organization(request, user.id).await?;
    start_session(request, services, user, input.remember_me, organization).await
}

/// `logIn`'s throttle: per account and per client address.
fn charge_log_in(
    request: &RequestContext,
    services: &Services,
    input: &LogInInput,
) -> AppResult<()> {
    services.throttle.attempt(
        &input.email.trim().to_lowercase(),
        request.client().ip.as_deref(),
    )
}

/// The account `logIn` names, and its password hash. A malformed email cannot match an
/// account; answering as for a wrong password (after the same work) tells nothing either
/// way. The hash is looked up either way (the nil id matches no one), so that whether
/// the account exists does not show in the time the answer takes.
async fn find_logging_in(
    request: &RequestContext,
    input: &LogInInput,
) -> AppResult<(Option<entity::user::Model>, Option<String>)> {
    let global = request.global();
    let user = match Email::parse("email", &input.email) {
        Ok(email) => global.find_user_by_email(email.as_str()).await?,
        Err(_) => None,
    };
    let password_hash = global
        .password_hash(user.as_ref().map_or(Uuid::nil(), |user| user.id))
        .await?;
    Ok((user, password_hash))
}

/// `logIn`'s work before its transaction (see `passwords::prework`).
pub async fn prepare_log_in(
    request: &RequestContext,
    services: &Services,
    input: LogInInput,
) -> AppResult<Prework> {
    let work = Prework::default().charged(charge_log_in(request, services, &input));
    if !work.admitted() {
        return Ok(work);
    }
    let (_, stored) = find_logging_in(request, &input).await?;
    Ok(work.verify("password", &input.password, stored))
}

/// Starts a session for a user who just proved who they are, and answers its tokens.
pub async fn start_session(
    request: &RequestContext,
    services: &Services,
    user: entity::user::Model,
    remember_me: bool,
    organization: Option<Organization>,
) -> AppResult<AuthPayload> {
    let session = request
        .global()
        .start_session(
            user.id,
            remember_me,
            services.session_lifetime(remember_me),
            request.client(),
        )
        .await?;
    issue_payload(services, user.into(), organization, session)
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
    issue_payload(services, user.into(), organization, session)
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
    let ended = global
        .revoke_session(user_id, session_id, "logged_out")
        .await?;
    if ended
        && request
            .principal()
            .user()
            .is_some_and(|user| user.user_id == user_id)
    {
        audit_account_change(request, AuditAction::SessionLoggedOut, user_id).await?;
    }
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

/// Tokens for a session that just started or refreshed.
fn issue_payload(
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

pub(crate) struct SessionCursor(usize);

impl CursorKey for SessionCursor {
    fn encode(&self) -> String {
        format!("s1:{}", self.0)
    }
    fn decode(raw: &str) -> Option<Self> {
        raw.strip_prefix("s1:")?.parse().ok().map(SessionCursor)
    }
}

pub async fn sessions(
    request: &RequestContext,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Page<Session, SessionCursor>> {
    let user = request.user()?;
    let page_request = page_request::<SessionCursor>(first, after)?;
    // A person has a handful of sessions: page over the ordered list in memory.
    let all = request.global().live_sessions(user.user_id).await?;
    let total = Total::Known(all.len() as u64);
    let start = page_request
        .after
        .as_ref()
        .map_or(0, |c| c.0.saturating_add(1));
    let rows: Vec<(usize, crate::tenant::SessionRow)> = all
        .into_iter()
        .enumerate()
        .skip(start)
        .take(page_request.limit as usize + 1)
        .collect();
    let current = user.session_id;
    Ok(page(
        rows,
        &page_request,
        total,
        |(index, _)| SessionCursor(*index),
        |(_, session)| Session {
            id: ID(session.id.to_string()),
            current: session.id == current,
            user_agent: session.user_agent,
            client_ip: session.client_ip,
            remember_me: session.remember_me,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
        },
    ))
}

/// Audits a change to the caller's account in the request's organization, when bound.
async fn audit_account_change(
    request: &RequestContext,
    action: AuditAction,
    target: Uuid,
) -> AppResult<()> {
    if let Ok(db) = request.tenant() {
        db.audit(
            action,
            "user",
            Some(target.to_string()),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(())
}

pub async fn revoke_session(request: &RequestContext, id: &ID) -> AppResult<()> {
    let user = request.user()?;
    let session_id = parse_id("id", id)?;
    if !request
        .global()
        .revoke_session(user.user_id, session_id, "revoked")
        .await?
    {
        return Err(AppError::not_found("session"));
    }
    audit_account_change(request, AuditAction::SessionRevoked, user.user_id).await
}

pub async fn revoke_all_other_sessions(request: &RequestContext) -> AppResult<u64> {
    let user = request.user()?;
    let ended = request
        .global()
        .revoke_sessions_except(user.user_id, Some(user.session_id), "revoked")
        .await?;
    audit_account_change(request, AuditAction::SessionRevokedOthers, user.user_id).await?;
    Ok(ended)
}

pub async fn change_password(
    request: &RequestContext,
    services: &Services,
    field: &str,
    input: ChangePasswordInput,
) -> AppResult<()> {
    let principal = request.user()?;
    let global = request.global();
    let user = global
        .find_user(principal.user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("this account no longer exists"))?;
    let mut work = request.password_work(&services.passwords, field);
    work.charge(|| charge_change_password(request, services, &user))?;
    let password_hash = global.password_hash(user.id).await?;
    if !work
        .verify(
            "currentPassword",
            &input.current_password,
            password_hash.as_deref(),
        )
        .await?
    {
        return Err(AppError::invalid(
            "currentPassword",
            "is not your current password",
        ));
    }
    let new_password = Password::parse("newPassword", input.new_password)?;
    let hash = work.hash("newPassword", &new_password).await?;
    global.set_password_hash(user.id, hash).await?;
    global
        .revoke_sessions_except(user.id, Some(principal.session_id), "password_changed")
        .await?;
    audit_account_change(request, AuditAction::UserPasswordChanged, user.id).await
}

/// `changePassword`'s throttle: its own bucket, so guessing through here is throttled
/// like log-ins without eating the account's log-in attempts.
fn charge_change_password(
    request: &RequestContext,
    services: &Services,
    user: &entity::user::Model,
) -> AppResult<()> {
    services.throttle.attempt(
        &format!("change-password:{}", user.email),
        request.client().ip.as_deref(),
    )
}

/// `changePassword`'s work before its transaction: the current password checked, the
/// new one hashed when it would be.
pub async fn prepare_change_password(
    request: &RequestContext,
    services: &Services,
    input: ChangePasswordInput,
) -> AppResult<Prework> {
    let principal = request.user()?;
    let global = request.global();
    let Some(user) = global.find_user(principal.user_id).await? else {
        return Ok(Prework::default());
    };
    let stored = global.password_hash(user.id).await?;
    let work = Prework::default()
        .charged(charge_change_password(request, services, &user))
        .verify("currentPassword", &input.current_password, stored);
    Ok(match Password::parse("newPassword", input.new_password) {
        Ok(new_password) => work.hash_if_matched("newPassword", &new_password, "currentPassword"),
        Err(_) => work,
    })
}
