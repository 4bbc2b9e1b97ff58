//! A JWT signing key. The private half is encrypted with the master key, so every replica
//! can sign and verify alike while a database dump alone signs nothing.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    /// The `kid` header of the tokens it signs.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub algorithm: String,
    /// Nonce followed by the ChaCha20-Poly1305 ciphertext of the PKCS#8 private key.
    pub private_key_encrypted: Vec<u8>,
    /// The raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// After this the key verifies tokens but signs no new ones.
    pub retired_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
