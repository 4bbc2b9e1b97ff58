//! Opaque tokens (refresh tokens, invitation and reset links): random, shown once,
//! stored only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random token with `prefix` (256 bits), and the SHA-256 that is stored for it.
pub fn new_opaque_token(prefix: &str) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_opaque_token(&token);
    (token, hash)
}

/// The stored form of an opaque token.
pub fn hash_opaque_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
