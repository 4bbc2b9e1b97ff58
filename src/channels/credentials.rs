//! Channel credentials (the provider's API keys, account ids, tokens): validated, sealed
//! with the master key and bound to their row, never printed. Nothing in the API reads
//! them back; only the code that calls the provider opens them.

use sea_orm::ActiveEnum;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::secrets::MasterKey;
use crate::error::{AppError, AppResult};
use crate::input::JsonObject;
use entity::ChannelKind;

/// The largest credentials object, serialized.
pub const MAX_CREDENTIALS_BYTES: usize = 16 * 1024;

/// A channel's credentials in the clear: a non-empty JSON object. Its `Debug` shows no
/// value, so a stray `{:?}` cannot put them in a log.
pub struct Credentials(Map<String, Value>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(****)")
    }
}

impl Credentials {
    /// Accepts a JSON object of at most 16 KiB serialized. Error messages never quote
    /// the value.
    pub fn parse(field: &str, value: Value) -> AppResult<Self> {
        if !value.is_object() {
            return Err(AppError::invalid(
                field,
                "must be a JSON object (or null to clear the credentials)",
            ));
        }
        let map = JsonObject::parse(field, value, MAX_CREDENTIALS_BYTES)?.into_map();
        if map.is_empty() {
            return Err(AppError::invalid(
                field,
                "must have at least one field (null clears the credentials)",
            ));
        }
        Ok(Credentials(map))
    }

    /// The credentials, for the code that calls the channel's provider.
    pub fn expose(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// Seals and opens channel credentials with the master key. Each sealed value is bound to
/// its organization and channel kind, so a value copied into another row (another
/// organization's, or another channel's) does not open.
#[derive(Clone)]
pub struct CredentialSealer {
    master: MasterKey,
}

impl CredentialSealer {
    pub fn new(master: MasterKey) -> Self {
        CredentialSealer { master }
    }

    pub fn seal(
        &self,
        organization_id: Uuid,
        kind: ChannelKind,
        credentials: Credentials,
    ) -> AppResult<Vec<u8>> {
        let plaintext = serde_json::to_vec(&credentials.0).map_err(AppError::internal)?;
        self.master
            .seal(&context(organization_id, kind), &plaintext)
            .map_err(AppError::internal)
    }

    /// Opens what [`seal`](Self::seal) sealed for this organization and kind; fails on
    /// any other row's value, a wrong master key or tampering.
    pub fn open(
        &self,
        organization_id: Uuid,
        kind: ChannelKind,
        sealed: &[u8],
    ) -> AppResult<Credentials> {
        let plaintext = self
            .master
            .open(&context(organization_id, kind), sealed)
            .map_err(AppError::internal)?;
        match serde_json::from_slice(&plaintext) {
            Ok(Value::Object(map)) => Ok(Credentials(map)),
            _ => Err(AppError::internal(anyhow::anyhow!(
                "sealed channel credentials are not a JSON object"
            ))),
        }
    }
}

/// What a sealed value is bound to: its row's organization and channel kind.
fn context(organization_id: Uuid, kind: ChannelKind) -> Vec<u8> {
    format!(
        "tenantgate-channel-credentials:{organization_id}:{}",
        kind.to_value()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AppResult<Credentials> {
        Credentials::parse("credentials", json!({ "apiKey": "sk-very-secret" }))
    }

    #[test]
    fn sealed_credentials_open_only_in_their_own_row() -> AppResult<()> {
        let sealer = CredentialSealer::new(MasterKey::generate());
        let organization = Uuid::now_v7();
        let sealed = sealer.seal(organization, ChannelKind::Sms, sample()?)?;
        assert!(
            !String::from_utf8_lossy(&sealed).contains("sk-very-secret"),
            "sealed, not encoded"
        );
        let opened = sealer.open(organization, ChannelKind::Sms, &sealed)?;
        assert_eq!(opened.expose()["apiKey"], "sk-very-secret");
        assert!(
            sealer
                .open(Uuid::now_v7(), ChannelKind::Sms, &sealed)
                .is_err()
        );
        assert!(
            sealer
                .open(organization, ChannelKind::Voice, &sealed)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn credentials_are_a_bounded_object_and_never_printed() -> AppResult<()> {
        assert!(Credentials::parse("credentials", json!("sk-very-secret")).is_err());
        assert!(Credentials::parse("credentials", json!({})).is_err());
        let huge = json!({ "k": "x".repeat(MAX_CREDENTIALS_BYTES) });
        assert!(Credentials::parse("credentials", huge).is_err());
        let printed = format!("{:?}", sample()?);
        assert!(!printed.contains("sk-very-secret"), "{printed}");
        Ok(())
    }

    #[test]
    fn refusals_do_not_quote_the_value() {
        let refused = Credentials::parse("credentials", json!(["sk-very-secret"]));
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("`credentials`"), "{message}");
        assert!(!message.contains("sk-very-secret"), "{message}");
    }
}
