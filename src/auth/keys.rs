//! JWT signing keys: Ed25519, stored in the database with the private half sealed by the
//! master key, so every replica signs and verifies alike. The newest unretired key signs;
//! every key still stored verifies, and all of them are published as a JWKS.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{DecodingKey, EncodingKey};

use super::secrets::MasterKey;
use crate::tenant::{Database, StoredSigningKey};

const ALGORITHM: &str = "EdDSA";
/// An unknown `kid` reloads keys from the database at most this often (another replica
/// may have rotated); more often it is just refused.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

struct KeySet {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

/// The signing keys of this deployment.
pub struct KeyStore {
    db: Database,
    master: MasterKey,
    current: RwLock<Arc<KeySet>>,
    last_reload: tokio::sync::Mutex<Instant>,
}

impl KeyStore {
    /// Loads the stored keys, creating the first one when there is none.
    pub async fn load_or_create(db: Database, master: MasterKey) -> anyhow::Result<Self> {
        let mut stored = db.signing_keys().await?;
        if !stored.iter().any(|key| key.retired_at.is_none()) {
            let key = generate(&master)?;
            db.insert_signing_key(key).await?;
            stored = db.signing_keys().await?;
        }
        let set = build(&master, &stored)?;
        Ok(KeyStore {
            db,
            master,
            current: RwLock::new(Arc::new(set)),
            last_reload: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key that signs new tokens, with its `kid`.
    pub fn signing_key(&self) -> (String, EncodingKey) {
        let set = self.snapshot();
        (set.signing_kid.clone(), set.signing.clone())
    }

    /// The key that verifies tokens with this `kid`, reloading once if it is unknown.
    pub async fn verifying_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.snapshot().verifying.get(kid) {
            return Some(key.clone());
        }
        let mut last = self.last_reload.lock().await;
        if last.elapsed() < RELOAD_INTERVAL {
            return None;
        }
        *last = Instant::now();
        match self.reload().await {
            Ok(()) => self.snapshot().verifying.get(kid).cloned(),
            Err(error) => {
                tracing::warn!(error = ?error, "reloading signing keys failed");
                None
            }
        }
    }

    async fn reload(&self) -> anyhow::Result<()> {
        let stored = self.db.signing_keys().await?;
        let set = build(&self.master, &stored)?;
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(())
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.snapshot().jwks.clone()
    }
}

fn generate(master: &MasterKey) -> anyhow::Result<StoredSigningKey> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key
        .to_pkcs8_der()
        .map_err(|error| anyhow::anyhow!("encoding the signing key: {error}"))?;
    let kid = uuid::Uuid::now_v7().simple().to_string();
    Ok(StoredSigningKey {
        private_key_encrypted: master.seal(kid.as_bytes(), der.as_bytes())?,
        public_key: key.verifying_key().to_bytes().to_vec(),
        id: kid,
        algorithm: ALGORITHM.to_owned(),
        created_at: chrono::Utc::now(),
        retired_at: None,
    })
}

fn build(master: &MasterKey, stored: &[StoredSigningKey]) -> anyhow::Result<KeySet> {
    let mut verifying = HashMap::new();
    let mut published = Vec::new();
    for key in stored.iter().filter(|key| key.algorithm == ALGORITHM) {
        if key.public_key.len() != 32 {
            continue;
        }
        verifying.insert(key.id.clone(), DecodingKey::from_ed_der(&key.public_key));
        published.push(serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": ALGORITHM,
            "use": "sig",
            "kid": key.id,
            "x": URL_SAFE_NO_PAD.encode(&key.public_key),
        }));
    }
    let newest = stored
        .iter()
        .filter(|key| key.algorithm == ALGORITHM && key.retired_at.is_none())
        .max_by_key(|key| key.created_at)
        .context("no active signing key is stored")?;
    let der = master
        .open(newest.id.as_bytes(), &newest.private_key_encrypted)
        .context(
            "decrypting the signing key (is TENANTGATE_MASTER_KEY the one it was created with?)",
        )?;
    Ok(KeySet {
        signing_kid: newest.id.clone(),
        signing: EncodingKey::from_ed_der(&der),
        verifying,
        jwks: serde_json::json!({ "keys": published }),
    })
}
