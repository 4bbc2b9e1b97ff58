//! Accounts and sessions: signing up (and verifying the email), logging in, refreshing
//! and logging out, and `me`.

pub(crate) mod service;
pub(crate) mod sign_up;

pub use service::start_session;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::GqlResult;
use crate::graphql::guards::PeopleOnly;
use crate::graphql::pagination::Page;
use crate::graphql::{ContextExt, response_key};
use crate::organizations::Organization;
use crate::policy::MemberRole as Role;
use entity::user;

/// A person with an account.
#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(model: user::Model) -> Self {
        User {
            id: ID(model.id.to_string()),
            email: model.email,
            name: model.name,
            created_at: model.created_at,
        }
    }
}

/// Tokens for a signed-in session. Send `accessToken` as `Authorization: Bearer …`;
/// exchange `refreshToken` with `refreshSession` before `accessTokenExpiresAt`. Each
/// refresh token works once.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub user: User,
    /// The organization requests use when they send no `X-Organization-Id` header; null
    /// when the user belongs to none.
    pub organization: Option<Organization>,
}

/// What `signUp` answers. Without email verification (the server's default) it is a
/// signed-in session, as `logIn` answers, and `verificationPending` is false. When the
/// server requires email verification, every other field is null and
/// `verificationPending` is true: a link was mailed to the address, and `verifyEmail`
/// with its token creates the account and answers the session. That answer is the same
/// whether or not the address already has an account (its owner is told by mail).
#[derive(SimpleObject)]
pub struct SignUpPayload {
    /// Send as `Authorization: Bearer …`. Null while `verificationPending`.
    pub access_token: Option<String>,
    /// When `accessToken` stops working. Null while `verificationPending`.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// Exchange with `refreshSession`; works once. Null while `verificationPending`.
    pub refresh_token: Option<String>,
    /// The new user. Null while `verificationPending`.
    pub user: Option<User>,
    /// The new organization, of which the user is the OWNER. Null while
    /// `verificationPending`.
    pub organization: Option<Organization>,
    /// True when a verification link was mailed and nothing is signed in yet: follow the
    /// link (its token goes to `verifyEmail`) to create the account.
    pub verification_pending: bool,
}

impl SignUpPayload {
    fn pending() -> Self {
        SignUpPayload {
            access_token: None,
            access_token_expires_at: None,
            refresh_token: None,
            user: None,
            organization: None,
            verification_pending: true,
        }
    }
}

impl From<AuthPayload> for SignUpPayload {
    fn from(payload: AuthPayload) -> Self {
        SignUpPayload {
            access_token: Some(payload.access_token),
            access_token_expires_at: Some(payload.access_token_expires_at),
            refresh_token: Some(payload.refresh_token),
            user: Some(payload.user),
            organization: payload.organization,
            verification_pending: false,
        }
    }
}

/// One of your memberships.
#[derive(SimpleObject)]
pub struct Membership {
    pub role: Role,
    pub organization: Organization,
    pub joined_at: DateTime<Utc>,
    /// What your role lets you do in this organization (some only on what you own, or
    /// on roles up to your own: see `Permission`).
    pub permissions: Vec<crate::policy::Permission>,
}

/// You, and the organizations you belong to.
#[derive(SimpleObject)]
pub struct Me {
    pub user: User,
    pub memberships: Vec<Membership>,
    /// What you may do in this request's organization (`X-Organization-Id`, else your
    /// default one); empty when you have none there. An app hides what is not listed.
    pub permissions: Vec<crate::policy::Permission>,
}

#[derive(InputObject)]
pub struct SignUpInput {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    /// Your name, 1–200 characters.
    pub name: String,
    /// The first organization, created with you as its OWNER.
    pub organization_name: String,
    /// Its URL name: 3–64 of a-z, 0-9 and inner hyphens; unique.
    pub organization_slug: String,
    /// Keep the session for 30 days instead of one.
    #[graphql(default = false)]
    pub remember_me: bool,
}

#[derive(InputObject)]
pub struct LogInInput {
    pub email: String,
    pub password: String,
    /// Keep the session for 30 days instead of one.
    #[graphql(default = false)]
    pub remember_me: bool,
}

/// One of your signed-in sessions (a device or browser).
#[derive(SimpleObject)]
pub struct Session {
    pub id: ID,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    pub remember_me: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// Ends unless refreshed before this.
    pub expires_at: DateTime<Utc>,
    /// The session of this request.
    pub current: bool,
}

impl crate::graphql::plain::PageNode for Session {}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    pub current_password: String,
    /// At least 10 characters.
    pub new_password: String,
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The signed-in user and their memberships.
    #[graphql(visible = "crate::policy::visible::not_keys")]
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Me> {
        Ok(service::me(ctx.request()?).await?)
    }

    /// Your live sessions, most recently used first. Only ever your own.
    #[graphql(
        visible = "crate::policy::visible::not_keys",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Page<Session, service::SessionCursor>> {
        Ok(service::sessions(ctx.request()?, first, after).await?)
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Creates an account and its first organization, and signs in. When the server
    /// requires email verification, it mails a link instead and signs nothing in
    /// (`verificationPending`); the answer is then the same whether or not the email has
    /// an account. Throttled per client address (`RATE_LIMITED`).
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> GqlResult<SignUpPayload> {
        Ok(sign_up::sign_up(ctx.request()?, ctx.services()?, response_key(ctx), input).await?)
    }

    /// Finishes a sign-up that mailed a verification link: creates the account and its
    /// organization, and signs in. The token works once, for 24 hours, and following one
    /// link of an address ends its other pending sign-ups. An unknown, used or expired
    /// token is `BAD_USER_INPUT` on `token`; a slug another organization took meanwhile is
    /// `CONFLICT` on `organizationSlug` (send another one with the same token).
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the verification email.")] token: String,
        #[graphql(
            desc = "A slug to use instead of the one chosen at sign-up, when that one was taken meanwhile."
        )]
        organization_slug: Option<String>,
    ) -> GqlResult<AuthPayload> {
        Ok(
            sign_up::verify_email(ctx.request()?, ctx.services()?, &token, organization_slug)
                .await?,
        )
    }

    /// Signs in with email and password.
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> GqlResult<AuthPayload> {
        Ok(service::log_in(ctx.request()?, ctx.services()?, response_key(ctx), input).await?)
    }

    /// Exchanges a refresh token for new tokens. A refresh token that was already used
    /// ends its whole session (it was probably stolen).
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> GqlResult<AuthPayload> {
        Ok(service::refresh(ctx.request()?, ctx.services()?, &refresh_token).await?)
    }

    /// Ends a session: the one of `refreshToken` if given, else the current one. Its
    /// access tokens stop working at once.
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: Option<String>) -> GqlResult<bool> {
        Ok(service::log_out(ctx.request()?, refresh_token.as_deref()).await?)
    }

    /// Ends one of your sessions (`NOT_FOUND` for anyone else's). Answers its id.
    #[graphql(visible = "crate::policy::visible::not_keys")]
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        service::revoke_session(ctx.request()?, &id).await?;
        Ok(id)
    }

    /// Ends all your sessions but this one. Answers how many ended.
    #[graphql(visible = "crate::policy::visible::not_keys")]
    async fn revoke_all_other_sessions(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(service::revoke_all_other_sessions(ctx.request()?).await?)
    }

    /// Changes your password; all your other sessions end.
    #[graphql(visible = "crate::policy::visible::not_keys")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> GqlResult<bool> {
        service::change_password(ctx.request()?, ctx.services()?, response_key(ctx), input).await?;
        Ok(true)
    }

    /// Emails a password reset link (valid 30 minutes, once) if an account has this
    /// email. Always answers true, whether or not one does.
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> GqlResult<bool> {
        service::request_password_reset(ctx.request()?, ctx.services()?, &email)?;
        Ok(true)
    }

    /// Sets a new password with a reset token; every session of the account ends, so
    /// sign in again afterwards.
    #[graphql(guard = "PeopleOnly", visible = "crate::policy::visible::not_keys")]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the reset email.")] token: String,
        #[graphql(desc = "At least 10 characters.")] new_password: String,
    ) -> GqlResult<bool> {
        service::reset_password(
            ctx.request()?,
            ctx.services()?,
            response_key(ctx),
            &token,
            new_password,
        )
        .await?;
        Ok(true)
    }
}
