//! API keys: their format, their scopes, and the verifier that turns an `x-api-key`
//! header into a principal without touching the database when the key is warm.
//!
//! A key reads `tg_live_<secret><organization><checksum>`:
//! - `secret`: 32 random base62 characters (about 190 bits);
//! - `organization`: the organization's id in 22 base62 characters, so the look-up of a
//!   cold key runs bound to that organization, under row-level security like any request;
//! - `checksum`: CRC-32 of everything before it, in 6 base62 characters, so a mistyped or
//!   truncated key is refused without a look-up and secret scanners can tell real keys
//!   from look-alikes.
//!
//! Only the SHA-256 of a key is stored and kept in memory.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;
use sha2::Digest;
use uuid::Uuid;

use crate::error::AppError;
use crate::identity::{KEY_REFUSED, KeyPrincipal, Scopes};
use crate::tenant::{ApiKeyRecord, ApiKeyUse, Database};

/// What every key starts with.
pub const KEY_PREFIX: &str = "tg_live_";
const SECRET_CHARS: usize = 32;
const ORGANIZATION_CHARS: usize = 22;
const CHECKSUM_CHARS: usize = 6;
const KEY_LENGTH: usize = KEY_PREFIX.len() + SECRET_CHARS + ORGANIZATION_CHARS + CHECKSUM_CHARS;
/// How much of a key is shown in lists: the prefix and the secret's first characters.
const DISPLAY_CHARS: usize = KEY_PREFIX.len() + 8;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The SHA-256 of a key, as stored.
pub type KeyHash = [u8; 32];

fn encode_base62(mut value: u128, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn decode_base62(text: &str) -> Option<u128> {
    text.bytes().try_fold(0u128, |value, byte| {
        let digit = BASE62.iter().position(|&c| c == byte)? as u128;
        value.checked_mul(62)?.checked_add(digit)
    })
}

fn checksum(body: &str) -> String {
    encode_base62(u128::from(crc32fast::hash(body.as_bytes())), CHECKSUM_CHARS)
}

/// A newly made key: shown once, then only its hash and prefix are kept.
pub struct NewKey {
    pub secret: String,
    pub hash: KeyHash,
    pub prefix: String,
}

/// Makes a key for `organization_id`.
pub fn generate(organization_id: Uuid) -> NewKey {
    let mut rng = rand::thread_rng();
    let secret: String = (0..SECRET_CHARS)
        .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
        .collect();
    let body = format!(
        "{KEY_PREFIX}{secret}{}",
        encode_base62(organization_id.as_u128(), ORGANIZATION_CHARS)
    );
    let key = format!("{body}{}", checksum(&body));
    NewKey {
        hash: hash(&key),
        prefix: key[..DISPLAY_CHARS].to_owned(),
        secret: key,
    }
}

pub fn hash(key: &str) -> KeyHash {
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// A key that is well formed: its checksum holds and it names an organization.
#[derive(Debug, PartialEq, Eq)]
pub struct WellFormed {
    pub organization_id: Uuid,
    pub hash: KeyHash,
}

/// Checks a presented key's shape and checksum, without any look-up.
pub fn parse(presented: &str) -> Option<WellFormed> {
    if presented.len() != KEY_LENGTH || !presented.starts_with(KEY_PREFIX) {
        return None;
    }
    let rest = &presented[KEY_PREFIX.len()..];
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (body, sum) = presented.split_at(KEY_LENGTH - CHECKSUM_CHARS);
    if checksum(body) != sum {
        return None;
    }
    let organization = &rest[SECRET_CHARS..SECRET_CHARS + ORGANIZATION_CHARS];
    Some(WellFormed {
        organization_id: Uuid::from_u128(decode_base62(organization)?),
        hash: hash(presented),
    })
}

/// A key as the cache holds it.
#[derive(Clone, Debug)]
struct CachedKey {
    principal: KeyPrincipal,
    hash: KeyHash,
    /// When this secret stops working: the key's expiry, or the end of a rotation's
    /// grace period for the previous secret.
    valid_until: Option<DateTime<Utc>>,
}

/// Settings of [`ApiKeys`].
#[derive(Clone, Debug)]
pub struct ApiKeySettings {
    /// How long a verified (or refused) key is trusted without a look-up.
    pub cache_ttl: Duration,
    pub cache_capacity: u64,
    /// Refused well-formed keys one client address may present per minute before its
    /// look-ups stop for a while.
    pub refusals_per_address_per_minute: u32,
    /// Requests per second per key, and the burst a key may spend at once.
    pub per_key: (u32, u32),
    /// Requests per second per organization over all its keys, and the burst.
    pub per_organization: (u32, u32),
}

/// Refused keys and held-back addresses kept at most.
const REFUSALS_KEPT: u64 = 10_000;

/// Verifies keys (with a bounded cache), counts their use and limits their rate.
pub struct ApiKeys {
    db: Database,
    /// Keys that exist. Refusals are kept apart (below), so forged keys cannot push
    /// partners' keys out of this cache.
    cache: moka::future::Cache<KeyHash, CachedKey>,
    /// Well-formed keys that matched nothing, for the same time: a forged key presented
    /// again costs no look-up.
    refused: moka::future::Cache<KeyHash, ()>,
    /// Refused keys per client address; past the quota the address is held back.
    refusals: DefaultKeyedRateLimiter<String>,
    /// Addresses whose refusals ran out, until when: they get `RATE_LIMITED` instead of
    /// look-ups (keys already cached still work).
    held_back: moka::future::Cache<String, std::time::Instant>,
    /// Moves on every invalidation, so a look-up that raced one is not cached.
    generation: AtomicU64,
    used: Mutex<HashMap<Uuid, ApiKeyUse>>,
    per_key: DefaultKeyedRateLimiter<Uuid>,
    per_organization: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl ApiKeys {
    pub fn new(db: Database, settings: &ApiKeySettings) -> Self {
        ApiKeys {
            db,
            cache: moka::future::Cache::builder()
                .max_capacity(settings.cache_capacity)
                .time_to_live(settings.cache_ttl)
                .build(),
            refused: moka::future::Cache::builder()
                .max_capacity(REFUSALS_KEPT)
                .time_to_live(settings.cache_ttl)
                .build(),
            refusals: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(settings.refusals_per_address_per_minute.max(1))
                    .unwrap_or(NonZeroU32::MIN),
            )),
            held_back: moka::future::Cache::builder()
                .max_capacity(REFUSALS_KEPT)
                .time_to_live(Duration::from_secs(60))
                .build(),
            generation: AtomicU64::new(0),
            used: Mutex::new(HashMap::new()),
            per_key: RateLimiter::keyed(quota(settings.per_key.0, settings.per_key.1)),
            per_organization: RateLimiter::keyed(quota(
                settings.per_organization.0,
                settings.per_organization.1,
            )),
            clock: DefaultClock::default(),
        }
    }

    /// The principal of a presented key, or why it is refused (always [`KEY_REFUSED`]).
    /// A warm key makes no SQL; a cold one one look-up, shared by concurrent requests.
    /// `address` is the client's: one that keeps presenting well-formed keys that match
    /// nothing gets `RATE_LIMITED` for a while instead of more look-ups.
    pub async fn verify(
        &self,
        presented: &str,
        address: Option<&str>,
    ) -> Result<KeyPrincipal, AppError> {
        let refused = || AppError::unauthenticated(KEY_REFUSED);
        let Some(key) = parse(presented.trim()) else {
            return Err(refused());
        };
        let found = match self.cache.get(&key.hash).await {
            Some(found) => found,
            None => {
                if let Some(address) = address
                    && let Some(until) = self.held_back.get(address).await
                {
                    let wait = until.saturating_duration_since(std::time::Instant::now());
                    if !wait.is_zero() {
                        return Err(AppError::RateLimited {
                            retry_after: wait.max(Duration::from_secs(1)),
                        });
                    }
                }
                match self.look_up(&key).await? {
                    Some(found) => found,
                    None => {
                        self.note_refusal(address).await;
                        return Err(refused());
                    }
                }
            }
        };
        use subtle::ConstantTimeEq;
        let matches: bool = found.hash.ct_eq(&key.hash).into();
        if !matches
            || found.principal.organization_id != key.organization_id
            || found.valid_until.is_some_and(|until| until <= Utc::now())
        {
            return Err(refused());
        }
        self.note_use(&found.principal);
        Ok(found.principal)
    }

    /// The key behind `key`'s hash, read once for concurrent callers; a miss is
    /// remembered in the refusal cache, never in the main one.
    async fn look_up(&self, key: &WellFormed) -> Result<Option<CachedKey>, AppError> {
        if self.refused.contains_key(&key.hash) {
            return Ok(None);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let db = self.db.clone();
        let (organization_id, hash) = (key.organization_id, key.hash);
        let looked_up = self
            .cache
            .try_get_with(hash, async move {
                match db.find_api_key(organization_id, &hash).await {
                    Ok(Some(record)) => Ok(cached(record, hash)),
                    Ok(None) => Err(None),
                    Err(error) => Err(Some(error)),
                }
            })
            .await;
        if self.generation.load(Ordering::Acquire) != generation {
            // An invalidation raced this look-up: do not keep what it read.
            self.cache.invalidate(&hash).await;
            self.refused.invalidate(&hash).await;
        }
        match looked_up {
            Ok(found) => Ok(Some(found)),
            Err(missing) => match missing.as_ref() {
                None => {
                    self.refused.insert(hash, ()).await;
                    Ok(None)
                }
                Some(error @ AppError::Unavailable { .. }) => Err(AppError::Unavailable {
                    outcome_unknown: false,
                    source: anyhow::anyhow!("API key look-up: {error}"),
                }),
                Some(error) => Err(AppError::internal(anyhow::anyhow!(
                    "API key look-up: {error}"
                ))),
            },
        }
    }

    /// Counts a refused well-formed key against its client address; an address out of
    /// refusals is held back until its bucket refills.
    async fn note_refusal(&self, address: Option<&str>) {
        let Some(address) = address else {
            return;
        };
        if let Err(not_until) = self.refusals.check_key(&address.to_owned()) {
            let wait = not_until.wait_time_from(self.clock.now());
            self.held_back
                .insert(address.to_owned(), std::time::Instant::now() + wait)
                .await;
        }
    }

    fn note_use(&self, principal: &KeyPrincipal) {
        let mut used = crate::lock(&self.used);
        used.insert(
            principal.key_id,
            ApiKeyUse {
                organization_id: principal.organization_id,
                key_id: principal.key_id,
                at: Utc::now(),
            },
        );
    }

    /// Counts one operation of `principal` against its key's and its organization's
    /// buckets; `RATE_LIMITED` with the wait when either is empty.
    pub fn admit(&self, principal: &KeyPrincipal) -> Result<(), AppError> {
        let limited = |wait: Duration| AppError::RateLimited {
            retry_after: wait.max(Duration::from_secs(1)),
        };
        self.per_key
            .check_key(&principal.key_id)
            .map_err(|not_until| limited(not_until.wait_time_from(self.clock.now())))?;
        self.per_organization
            .check_key(&principal.organization_id)
            .map_err(|not_until| limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets the cached verdict on these hashes (after a revocation or rotation
    /// committed, or when another node says so).
    pub async fn invalidate(&self, hashes: &[KeyHash]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for hash in hashes {
            self.cache.invalidate(hash).await;
            self.refused.invalidate(hash).await;
        }
    }

    /// Forgets every cached verdict (when notifications from other nodes may have been
    /// missed).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
        self.refused.invalidate_all();
    }

    /// Writes the keys' `lastUsedAt` collected since the last call, in one batch per
    /// organization.
    pub async fn flush_usage(&self) -> Result<(), AppError> {
        let batch: Vec<ApiKeyUse> = {
            let mut used = crate::lock(&self.used);
            used.drain().map(|(_, use_)| use_).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        self.db.record_api_key_use(batch).await
    }

    /// How many keys the cache holds (after its pending housekeeping, so the count is
    /// current); refusals are kept apart.
    pub async fn cached(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Forgets idle rate-limit buckets so the maps stay bounded.
    pub fn shrink(&self) {
        self.per_key.retain_recent();
        self.per_organization.retain_recent();
        self.refusals.retain_recent();
        self.refusals.shrink_to_fit();
        self.per_key.shrink_to_fit();
        self.per_organization.shrink_to_fit();
    }
}

fn cached(record: ApiKeyRecord, hash: KeyHash) -> CachedKey {
    CachedKey {
        principal: KeyPrincipal {
            key_id: record.key_id,
            organization_id: record.organization_id,
            scopes: Scopes::from_stored(&record.scopes),
        },
        hash,
        valid_until: record.valid_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Scope;

    #[test]
    fn a_generated_key_parses_back_to_its_organization() {
        let organization = Uuid::now_v7();
        let key = generate(organization);
        assert!(key.secret.starts_with(KEY_PREFIX));
        assert_eq!(key.secret.len(), KEY_LENGTH);
        assert!(key.secret.starts_with(&key.prefix));
        assert_eq!(
            parse(&key.secret),
            Some(WellFormed {
                organization_id: organization,
                hash: key.hash
            })
        );
        assert_ne!(generate(organization).secret, key.secret);
    }

    #[test]
    fn any_changed_character_breaks_the_checksum() {
        let key = generate(Uuid::from_u128(u128::MAX)).secret;
        assert!(parse(&key).is_some());
        for index in KEY_PREFIX.len()..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[index] = if bytes[index] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).expect("ascii");
            assert_eq!(parse(&changed), None, "changed at {index}");
        }
        assert_eq!(parse(&key[..key.len() - 1]), None);
        assert_eq!(parse(&format!("{key}0")), None);
        assert_eq!(parse(&key.replacen("tg_live_", "tg_test_", 1)), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(&"é".repeat(34)), None);
    }

    #[test]
    fn scopes_round_trip_through_their_stored_form() {
        let scopes: Scopes = [Scope::ContactsWrite, Scope::ContactsRead]
            .into_iter()
            .collect();
        assert_eq!(scopes.to_stored(), "contacts:read contacts:write");
        assert_eq!(Scopes::from_stored(&scopes.to_stored()), scopes);
        assert!(!scopes.contains(Scope::ContactsReadPii));
        assert_eq!(
            Scopes::from_stored("contacts:read unknown:scope"),
            [Scope::ContactsRead].into_iter().collect()
        );
    }
}
