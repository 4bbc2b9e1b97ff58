//! Outgoing mail: invitations and password resets. Messages are written to the outbox
//! (in the request's transaction when a request sends them, so a rolled-back request
//! sends nothing) and a dispatcher delivers them: over SMTP when `SMTP_URL` is set, to the
//! log otherwise. Failed deliveries are retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::auth::secrets::MasterKey;
use crate::error::{AppError, AppResult};
use crate::tenant::{Database, GlobalDb, OutboxMail, SealedMail};

/// What the master key binds outbox bodies to.
pub const SEAL_CONTEXT: &[u8] = b"tenantgate-outbox";
/// Deliveries tried at most this often before an email is given up.
const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed email is reserved for this dispatcher.
const LEASE: Duration = Duration::from_secs(120);
/// How often the outbox is polled when nothing signals new mail.
const POLL: Duration = Duration::from_secs(5);

/// An email to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// What kind of email this is, for the outbox (`invitation`, `password_reset`).
    pub kind: &'static str,
}

enum Transport {
    /// Development: the message goes to the log.
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Queues and delivers mail.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    master: MasterKey,
    transport: Transport,
    from: Mailbox,
    retry_base: Duration,
}

impl Mailer {
    pub fn new(
        db: Database,
        master: MasterKey,
        smtp_url: Option<&str>,
        from: &str,
        retry_base: Duration,
    ) -> anyhow::Result<Self> {
        let transport = match smtp_url {
            None => Transport::Log,
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("reading SMTP_URL")?
                    .timeout(Some(Duration::from_secs(15)))
                    .build(),
            ),
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                db,
                master,
                transport,
                from: from.parse().context("reading TENANTGATE_MAIL_FROM")?,
                retry_base,
            }),
        })
    }

    fn seal(&self, mail: Mail) -> AppResult<SealedMail> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| AppError::invalid("email", "is not a deliverable address"))?;
        Ok(SealedMail {
            recipient: to.email.to_string(),
            subject: mail.subject,
            body_sealed: self
                .inner
                .master
                .seal(SEAL_CONTEXT, mail.body.as_bytes())
                .map_err(AppError::internal)?,
            kind: mail.kind,
        })
    }

    /// Queues mail in the request's transaction: it leaves only if the request commits.
    pub async fn queue(&self, global: &GlobalDb, mail: Mail) -> AppResult<()> {
        global.enqueue_mail(self.seal(mail)?).await
    }

    /// Queues mail outside any request.
    pub async fn queue_now(&self, mail: Mail) -> AppResult<()> {
        self.inner.db.enqueue_mail(self.seal(mail)?).await
    }

    /// Starts delivering queued mail until the returned handle is aborted.
    pub fn spawn_dispatcher(&self) -> tokio::task::JoinHandle<()> {
        let mailer = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = mailer.deliver_due().await {
                    tracing::warn!(error = %error, "mail dispatcher could not read the outbox");
                }
                tokio::select! {
                    () = mailer.inner.db.mail_signal().notified() => {},
                    () = tokio::time::sleep(POLL) => {},
                }
            }
        })
    }

    #[tracing::instrument(name = "mail_dispatch", skip(self))]
    async fn deliver_due(&self) -> AppResult<()> {
        loop {
            let batch = self.inner.db.claim_due_mail(20, LEASE).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for mail in batch {
                let id = mail.id;
                let attempts = mail.attempts + 1;
                match self.deliver(mail).await {
                    Ok(()) => self.inner.db.mark_mail_sent(id).await?,
                    Err(error) => {
                        let retry = (attempts < MAX_ATTEMPTS)
                            .then(|| backoff(self.inner.retry_base, attempts));
                        tracing::warn!(mail_id = %id, attempts, error = %error, "mail delivery failed");
                        self.inner
                            .db
                            .mark_mail_failed(id, attempts, &error, retry)
                            .await?;
                    }
                }
            }
        }
    }

    #[tracing::instrument(skip(self, mail), fields(mail_id = %mail.id, kind = %mail.kind))]
    async fn deliver(&self, mail: OutboxMail) -> Result<(), String> {
        let body = self
            .inner
            .master
            .open(SEAL_CONTEXT, &mail.body_sealed)
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8(body).map_err(|e| e.to_string())?;
        match &self.inner.transport {
            Transport::Log => {
                tracing::info!(
                    target: "tenantgate::mail",
                    to = %mail.recipient,
                    subject = %mail.subject,
                    body = %body,
                    "email (log delivery: set SMTP_URL to send real mail)"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let to: Mailbox = mail.recipient.parse().map_err(|e| format!("{e}"))?;
                let message = Message::builder()
                    .from(self.inner.from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body)
                    .map_err(|e| e.to_string())?;
                smtp.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// `base`, twice that, four times, … capped at an hour.
fn backoff(base: Duration, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 12) - 1).unwrap_or(0);
    base.saturating_mul(1 << exponent)
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn retries_back_off_up_to_an_hour() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1), Duration::from_secs(10));
        assert_eq!(backoff(base, 2), Duration::from_secs(20));
        assert_eq!(backoff(base, 12), Duration::from_secs(3600));
    }
}
