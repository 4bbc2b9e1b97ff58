//! The master key: encrypts what must be readable again (signing keys, queued mail,
//! channel credentials). Hashes need no key.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const NONCE_LEN: usize = 12;

/// A 256-bit key for ChaCha20-Poly1305. Debug never shows it.
#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(****)")
    }
}

impl MasterKey {
    /// Parses base64 of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .context("the master key is not valid base64")?;
        if bytes.len() != 32 {
            bail!("the master key must be 32 bytes, got {}", bytes.len());
        }
        Ok(MasterKey(*Key::from_slice(&bytes)))
    }

    pub fn generate() -> Self {
        MasterKey(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_slice())
    }

    /// Reads the key file, or creates it with owner-only permissions when it is absent.
    pub fn load_or_create_file(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(contents) => Self::from_base64(&contents)
                .with_context(|| format!("reading master key file {}", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(path)
                    .with_context(|| format!("creating master key file {}", path.display()))?;
                file.write_all(key.to_base64().as_bytes())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "created a new master key file");
                Ok(key)
            }
            Err(error) => {
                Err(error).with_context(|| format!("reading master key file {}", path.display()))
            }
        }
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the key id) so a ciphertext cannot be
    /// moved to another row. Output: nonce ‖ ciphertext.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Reverses [`seal`](Self::seal); fails on a wrong key, a wrong context or tampering.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("sealed value is too short");
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot decrypt: wrong master key or tampered value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() -> anyhow::Result<()> {
        let key = MasterKey::generate();
        let sealed = key.seal(b"kid-1", b"secret")?;
        assert_eq!(key.open(b"kid-1", &sealed)?, b"secret");
        assert!(key.open(b"kid-2", &sealed).is_err());
        assert!(MasterKey::generate().open(b"kid-1", &sealed).is_err());
        Ok(())
    }

    #[test]
    fn master_keys_must_be_32_bytes() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        let key = MasterKey::generate();
        assert!(MasterKey::from_base64(&key.to_base64()).is_ok());
    }
}
