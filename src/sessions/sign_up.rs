//! Signing up, with or without email verification.
//!
//! Without verification (the default) `signUp` creates the account and its first
//! organization at once and signs in; a taken email answers `CONFLICT`, which tells
//! whether an email has an account: only the per-address throttle slows that down.
//!
//! With verification (`--require-email-verification`) `signUp` answers the same whatever
//! the email: it mails the owner of a taken email a warning and creates nothing, and for
//! a new email it stores a pending sign-up and mails a link. `verifyEmail` with the
//! link's token creates the account and signs in. Until then there is no user row, so
//! `logIn` answers as for a wrong password.

use std::time::Duration;

use super::service::start_session;
use super::{AuthPayload, SignUpInput, SignUpPayload};
use crate::error::{AppError, AppResult};
use crate::input::{Email, Name, Password, Slug};
use crate::mail::Mail;
use crate::organizations;
use crate::passwords::prework::{PasswordWork, Prework};
use crate::services::Services;
use crate::tenant::{NewSignUp, RequestContext};

/// How long a verification link works.
const VERIFICATION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

const EMAIL_TAKEN: &str = "an account with this email already exists";

/// A sign-up form that passed its rules.
struct Form {
    email: Email,
    password: Password,
    name: Name,
    organization_name: Name,
    slug: Slug,
    remember_me: bool,
}

impl Form {
    fn parse(input: SignUpInput) -> AppResult<Form> {
        Ok(Form {
            email: Email::parse("email", &input.email)?,
            password: Password::parse("password", input.password)?,
            name: Name::parse("name", &input.name, 200)?,
            organization_name: Name::parse("organizationName", &input.organization_name, 200)?,
            slug: Slug::parse("organizationSlug", &input.organization_slug)?,
            remember_me: input.remember_me,
        })
    }
}

/// An account to open: the user, their first organization, and a session.
struct NewAccount {
    email: String,
    name: String,
    password_hash: String,
    organization_name: Name,
    slug: Slug,
    remember_me: bool,
}

pub async fn sign_up(
    request: &RequestContext,
    services: &Services,
    field: &str,
    input: SignUpInput,
) -> AppResult<SignUpPayload> {
    let form = Form::parse(input)?;
    let mut work = request.password_work(&services.passwords, field);
    work.charge(|| charge_sign_up(request, services, &form))?;
    if services.require_email_verification {
        return sign_up_with_verification(request, services, work, form).await;
    }

    let global = request.global();
    if global
        .find_user_by_email(form.email.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict("email", EMAIL_TAKEN));
    }
    ensure_slug_free(request, &form.slug, "this slug is taken").await?;
    let password_hash = work.hash("password", &form.password).await?;
    let account = NewAccount {
        email: form.email.into_inner(),
        name: form.name.into_inner(),
        password_hash,
        organization_name: form.organization_name,
        slug: form.slug,
        remember_me: form.remember_me,
    };
    Ok(open_account(request, services, account, "email")
        .await?
        .into())
}

/// `signUp`'s throttle, charged after the checks of the form alone (they reveal nothing
/// and cost nothing), before anything looks at the data: sign-ups per client address,
/// and with email verification the mail one address receives, whoever asks from
/// wherever (as password reset requests are; new and taken emails count alike).
fn charge_sign_up(request: &RequestContext, services: &Services, form: &Form) -> AppResult<()> {
    if let Some(address) = request.client().ip.as_deref() {
        services.throttle.sign_up_from(address)?;
    }
    if services.require_email_verification {
        services
            .throttle
            .attempt(&format!("sign-up:{}", form.email.as_str()), None)?;
    }
    Ok(())
}

/// `signUp`'s work before its transaction: the password hashed.
pub async fn prepare_sign_up(
    request: &RequestContext,
    services: &Services,
    input: SignUpInput,
) -> AppResult<Prework> {
    let Ok(form) = Form::parse(input) else {
        return Ok(Prework::default());
    };
    Ok(Prework::default()
        .charged(charge_sign_up(request, services, &form))
        .hash("password", &form.password))
}

/// The same answer, the same statements but one, and the same password hash whether or
/// not the email has an account; what differs goes by mail to the address's owner.
async fn sign_up_with_verification(
    request: &RequestContext,
    services: &Services,
    mut work: PasswordWork<'_>,
    form: Form,
) -> AppResult<SignUpPayload> {
    // Slugs are public (`organizationBySlug`): saying one is taken reveals no account.
    ensure_slug_free(request, &form.slug, "this slug is taken").await?;
    // Hashed in both cases, so the time of the answer does not tell them apart.
    let password_hash = work.hash("password", &form.password).await?;
    let global = request.global();
    let mail = match global.find_user_by_email(form.email.as_str()).await? {
        Some(user) => Mail {
            to: user.email,
            subject: "Someone tried to sign up with your email".to_owned(),
            body: format!(
                "Someone tried to create a tenantgate account with this email address, \
                 which already has one. Nothing was created or changed.\n\n\
                 If it was you, log in at {app} instead, or reset your password there if \
                 you forgot it. If it was not you, ignore this email.\n",
                app = services.app_url.trim_end_matches('/'),
            ),
            kind: "sign_up_existing_account",
        },
        None => {
            let token = global
                .create_pending_sign_up(
                    NewSignUp {
                        email: form.email.as_str().to_owned(),
                        name: form.name.into_inner(),
                        password_hash,
                        organization_name: form.organization_name.into_inner(),
                        organization_slug: form.slug.into_inner(),
                        remember_me: form.remember_me,
                    },
                    VERIFICATION_LIFETIME,
                )
                .await?;
            Mail {
                to: form.email.into_inner(),
                subject: "Confirm your email for tenantgate".to_owned(),
                // No text of the form (names) in the body: anyone may type anyone's
                // address, and this server should not carry their words to it.
                body: format!(
                    "Confirm your email address to finish creating your tenantgate \
                     account:\n\n{link}\n\n\
                     The link works once, for 24 hours. If you did not sign up, ignore this \
                     email: no account is created.\n",
                    link = services.app_link("verify-email", &token),
                ),
                kind: "email_verification",
            }
        }
    };
    // In the request's transaction: a rolled-back request mails nothing.
    services.mailer.queue(global, mail).await?;
    Ok(SignUpPayload::pending())
}

/// Creates the account of a pending sign-up from its mailed token, and signs in.
/// `organization_slug` replaces the slug chosen at sign-up when another organization
/// took that one meanwhile.
pub async fn verify_email(
    request: &RequestContext,
    services: &Services,
    token: &str,
    organization_slug: Option<String>,
) -> AppResult<AuthPayload> {
    // Counted with the address's log-in attempts, as password resets are: following the
    // link signs in.
    if let Some(address) = request.client().ip.as_deref() {
        services.throttle.attempt_from(address)?;
    }
    let replacement = organization_slug
        .map(|slug| Slug::parse("organizationSlug", &slug))
        .transpose()?;
    let global = request.global();
    let Some(pending) = global.consume_pending_sign_up(token.trim()).await? else {
        return Err(AppError::invalid(
            "token",
            "is invalid, used or expired: sign up again",
        ));
    };
    // Only the mailbox's owner holds the token, so saying the email is taken is safe.
    // (An invitation may have created the account meanwhile.)
    if global.find_user_by_email(&pending.email).await?.is_some() {
        return Err(AppError::conflict(
            "token",
            "an account with this email already exists: log in, or reset your password",
        ));
    }
    let slug = match replacement {
        Some(slug) => slug,
        None => Slug::parse("organizationSlug", &pending.organization_slug)?,
    };
    ensure_slug_free(
        request,
        &slug,
        "this slug was taken since you signed up: choose another and send it as \
         `organizationSlug` with the same token",
    )
    .await?;
    let account = NewAccount {
        email: pending.email,
        name: pending.name,
        password_hash: pending.password_hash,
        organization_name: Name::parse("organizationName", &pending.organization_name, 200)?,
        slug,
        remember_me: pending.remember_me,
    };
    open_account(request, services, account, "token").await
}

async fn ensure_slug_free(request: &RequestContext, slug: &Slug, taken: &str) -> AppResult<()> {
    if request
        .global()
        .find_organization_by_slug(slug.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict("organizationSlug", taken));
    }
    Ok(())
}

/// Creates the user and their first organization (they are its OWNER) and starts a
/// session. A concurrent sign-up of the same email is `CONFLICT` on `email_field`.
async fn open_account(
    request: &RequestContext,
    services: &Services,
    account: NewAccount,
    email_field: &str,
) -> AppResult<AuthPayload> {
    let global = request.global();
    let user = global
        .create_user(account.email, account.name, account.password_hash)
        .await
        .map_err(|e| e.conflict_on(email_field, EMAIL_TAKEN))?;
    global.act_as_user(user.id).await?;
    let organization = organizations::create(
        request,
        account.organization_name,
        account.slug,
        user.id,
        "organizationSlug",
        services.default_seat_limit,
    )
    .await?;
    start_session(
        request,
        services,
        user,
        account.remember_me,
        Some(organization.into()),
    )
    .await
}
