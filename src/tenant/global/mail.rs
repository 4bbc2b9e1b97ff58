//! The outbox: mail written in the request's transaction, sent once it commits.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use uuid::Uuid;

use super::*;

impl GlobalDb {
    /// Queues an email in the request's transaction: it is sent only if the request
    /// commits. `body_sealed` is the body sealed with the master key.
    pub async fn enqueue_mail(&self, mail: SealedMail) -> AppResult<()> {
        outbox_row(mail).insert(self.tx()).await?;
        self.mail_enqueued
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// An email ready for the outbox, its body already sealed.
pub struct SealedMail {
    pub recipient: String,
    pub subject: String,
    pub body_sealed: Vec<u8>,
    pub kind: &'static str,
}

pub(in crate::tenant) fn outbox_row(mail: SealedMail) -> outbox::ActiveModel {
    let now = Utc::now();
    outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        recipient: Set(mail.recipient),
        subject: Set(mail.subject),
        body_sealed: Set(mail.body_sealed),
        kind: Set(mail.kind.to_owned()),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        sent_at: Set(None),
        last_error: Set(None),
    }
}
