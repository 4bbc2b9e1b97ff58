//! Password resets: requested by email, then used once.

use super::*;

use crate::metrics::ResetInFlight;

pub(super) const RESET_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Answers at once; the look-up, the token and the email happen afterwards, on their
/// own, so the answer takes the same time whether or not the account exists.
pub fn request_password_reset(
    request: &RequestContext,
    services: &Services,
    email: &str,
) -> AppResult<()> {
    let email = Email::parse("email", email)?;
    services.throttle.attempt(
        &format!("password-reset:{}", email.as_str()),
        request.client().ip.as_deref(),
    )?;
    let db = request.database();
    let mailer = services.mailer.clone();
    let link_base = services.app_link("reset-password", "");
    let in_flight = ResetInFlight::start();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let issued = match db
            .issue_password_reset(email.as_str(), RESET_LIFETIME)
            .await
        {
            Ok(issued) => issued,
            Err(error) => {
                tracing::error!(error = %error, "issuing a password reset failed");
                return;
            }
        };
        let Some((user, token)) = issued else {
            return;
        };
        let mail = Mail {
            to: user.email,
            subject: "Reset your tenantgate password".to_owned(),
            body: format!(
                "Someone asked to reset the password of your tenantgate account.\n\n\
                 Choose a new password: {link_base}{token}\n\n\
                 The link works once, for 30 minutes. If it was not you, ignore this email: \
                 your password stays as it is.\n"
            ),
            kind: "password_reset",
        };
        if let Err(error) = mailer.queue_now(mail).await {
            tracing::error!(error = %error, "queuing a password reset email failed");
        }
    });
    Ok(())
}

pub async fn reset_password(
    request: &RequestContext,
    services: &Services,
    field: &str,
    token: &str,
    new_password: String,
) -> AppResult<()> {
    let mut work = request.password_work(&services.passwords, field);
    work.charge(|| charge_reset_password(request, services))?;
    let new_password = Password::parse("newPassword", new_password)?;
    let global = request.global();
    let Some(user_id) = global.consume_password_reset(token.trim()).await? else {
        return Err(AppError::invalid(
            "token",
            "is invalid, used or expired: ask for a new reset email",
        ));
    };
    let hash = work.hash("newPassword", &new_password).await?;
    global.set_password_hash(user_id, hash).await?;
    global
        .revoke_sessions_except(user_id, None, "password_reset")
        .await?;
    Ok(())
}

/// `resetPassword`'s throttle: per client address.
pub(super) fn charge_reset_password(
    request: &RequestContext,
    services: &Services,
) -> AppResult<()> {
    match request.client().ip.as_deref() {
        Some(address) => services.throttle.attempt_from(address),
        None => Ok(()),
    }
}

/// `resetPassword`'s work before its transaction: the new password hashed.
pub async fn prepare_reset_password(
    request: &RequestContext,
    services: &Services,
    new_password: String,
) -> AppResult<Prework> {
    let work = Prework::default().charged(charge_reset_password(request, services));
    Ok(match Password::parse("newPassword", new_password) {
        Ok(password) => work.hash("newPassword", &password),
        Err(_) => work,
    })
}
