//! The rules of provider identities: each kind's shape and normal form, the cap per
//! organization, and claims that collide anywhere on the platform.

use async_graphql::ID;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{ChannelIdentity, ClaimChannelIdentityInput};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{IdCursor, Page, newest_first, page_request};
use crate::input::{Email, Phone, parse_id};
use crate::tenant::TenantDb;
use entity::{ChannelKind, IdentityKind, channel_identity};

/// The most identities one organization holds: enough for any real set-up, few enough
/// that no organization can hold a provider's numbers hostage by the thousand.
pub const MAX_PER_ORGANIZATION: u64 = 100;

/// The same answer whoever holds the identity, this organization or another.
const TAKEN: &str = "this identity is already claimed";

/// The channels whose traffic an identity kind carries.
pub fn channels_of(kind: IdentityKind) -> &'static [ChannelKind] {
    match kind {
        IdentityKind::PhoneNumber => &[ChannelKind::Sms, ChannelKind::Voice],
        IdentityKind::WhatsappPhoneNumberId => &[ChannelKind::Whatsapp],
        IdentityKind::RetellAgentId => &[ChannelKind::Voice],
        IdentityKind::InboundEmail => &[ChannelKind::Email],
    }
}

/// The identity in its normal form, or why it is not one of `kind`.
pub fn normalise(kind: IdentityKind, raw: &str) -> AppResult<String> {
    const FIELD: &str = "value";
    let trimmed = raw.trim();
    match kind {
        IdentityKind::PhoneNumber => {
            if !trimmed.starts_with('+') {
                return Err(AppError::invalid(
                    FIELD,
                    "must be a phone number in international form, starting with + and the country code",
                ));
            }
            Ok(Phone::parse(FIELD, trimmed)?.into_inner())
        }
        IdentityKind::WhatsappPhoneNumberId => {
            if (1..=32).contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                Ok(trimmed.to_owned())
            } else {
                Err(AppError::invalid(
                    FIELD,
                    "must be a WhatsApp phone-number id: 1 to 32 digits",
                ))
            }
        }
        IdentityKind::RetellAgentId => {
            if (1..=128).contains(&trimmed.len())
                && trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                Ok(trimmed.to_owned())
            } else {
                Err(AppError::invalid(
                    FIELD,
                    "must be a Retell agent id: 1 to 128 of A-Z, a-z, 0-9, _ and -",
                ))
            }
        }
        IdentityKind::InboundEmail => Ok(Email::parse(FIELD, trimmed)?.into_inner()),
    }
}

pub async fn list(
    db: &TenantDb,
    kind: Option<IdentityKind>,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Page<ChannelIdentity>> {
    let request = page_request::<IdCursor>(first, after)?;
    let mut select = db.find::<channel_identity::Entity>();
    if let Some(kind) = kind {
        select = select.filter(channel_identity::Column::Kind.eq(kind));
    }
    newest_first(db, select, &request, |row| row.id, ChannelIdentity::from).await
}

pub async fn claim(
    db: &TenantDb,
    input: ClaimChannelIdentityInput,
) -> AppResult<channel_identity::Model> {
    let kind = IdentityKind::from(input.kind);
    let value = normalise(kind, &input.value)?;
    db.lock_organization().await?;
    let held = db.count(db.find::<channel_identity::Entity>()).await?;
    if held >= MAX_PER_ORGANIZATION {
        return Err(AppError::invalid(
            "kind",
            format!(
                "cannot be claimed: an organization holds at most {MAX_PER_ORGANIZATION} identities"
            ),
        ));
    }
    let claimed = db
        .insert(channel_identity::ActiveModel {
            organization_id: Set(db.organization_id()),
            id: Set(Uuid::now_v7()),
            kind: Set(kind),
            value: Set(value),
            created_at: Set(Utc::now()),
        })
        .await
        .map_err(|error| error.conflict_on("value", TAKEN))?;
    db.audit(
        AuditAction::ChannelIdentityClaimed,
        "channel_identity",
        Some(claimed.id.to_string()),
        json!({ "after": { "kind": claimed.kind, "value": claimed.value } }),
    )
    .await?;
    Ok(claimed)
}

pub async fn release(db: &TenantDb, id: &ID) -> AppResult<ID> {
    let existing = db
        .get::<channel_identity::Entity>(parse_id("id", id)?)
        .await?;
    db.delete::<channel_identity::Entity>(existing.id).await?;
    db.audit(
        AuditAction::ChannelIdentityReleased,
        "channel_identity",
        Some(existing.id.to_string()),
        json!({ "before": { "kind": existing.kind, "value": existing.value } }),
    )
    .await?;
    Ok(ID(existing.id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_error(result: AppResult<String>) -> bool {
        matches!(result, Err(AppError::BadUserInput { field, .. }) if field == "value")
    }

    #[test]
    fn each_kind_has_its_shape_and_normal_form() {
        let phone = IdentityKind::PhoneNumber;
        assert_eq!(
            normalise(phone, " +1 (555) 010-0199 ").ok().as_deref(),
            Some("+15550100199")
        );
        assert!(
            field_error(normalise(phone, "5550100199")),
            "a number without its country code"
        );
        assert!(field_error(normalise(phone, "+1 555 CALL NOW")));
        let whatsapp = IdentityKind::WhatsappPhoneNumberId;
        assert_eq!(
            normalise(whatsapp, "106540352242922").ok().as_deref(),
            Some("106540352242922")
        );
        assert!(field_error(normalise(whatsapp, "10654-0352")));
        assert!(field_error(normalise(whatsapp, "")));
        let retell = IdentityKind::RetellAgentId;
        assert_eq!(
            normalise(retell, "agent_3f9a-2b").ok().as_deref(),
            Some("agent_3f9a-2b")
        );
        assert!(field_error(normalise(retell, "agent 1")));
        assert!(field_error(normalise(retell, &"a".repeat(129))));
        let email = IdentityKind::InboundEmail;
        assert_eq!(
            normalise(email, "Support@Acme.Example").ok().as_deref(),
            Some("support@acme.example")
        );
        assert!(field_error(normalise(email, "not an address")));
    }
}
