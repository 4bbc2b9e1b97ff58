//! Password work done before a mutation's transaction begins.
//!
//! argon2 takes tens of milliseconds by design. A mutation's transaction holds a pooled
//! connection and, on SQLite, the single writer turn: hashing inside it would make every
//! other organization's writes wait behind a flood of anonymous sign-ups. So before the
//! transaction, the HTTP layer runs each password mutation's *preparer* (a table below,
//! one per field that takes a password) on a read-only context: it charges the throttle
//! the resolver would charge and reads what it needs (the stored hash); then, with that
//! context ended and only if the throttle admitted the attempt, it hashes the new
//! password or verifies the given one against the stored hash. The resolver, inside the
//! transaction, takes that work through [`PasswordWork`]; it still makes every decision
//! (a verdict counts only against the stored hash it sees then), and does the work
//! itself when there is none prepared (counted in `/metrics`, which the tests watch).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::PasswordHasherPool;
use crate::error::AppError;
use crate::input::Password;

/// Password work a preparer asked for, done once its read-only context has ended (so
/// that no connection waits on argon2 either).
enum Job {
    Hash {
        argument: &'static str,
        password: String,
    },
    Verify {
        argument: &'static str,
        password: String,
        stored: Option<String>,
    },
    /// A hash only when the check of `verified` (an earlier job) matched.
    HashIfMatched {
        argument: &'static str,
        password: String,
        verified: &'static str,
    },
}

/// What a preparer did for one field of the mutation.
#[derive(Default)]
pub struct Prework {
    /// The throttle's answer, charged here on the resolver's behalf (`None`: this field
    /// charges none).
    throttle: Option<Result<(), AppError>>,
    jobs: Vec<Job>,
    /// New password hashes, by the argument they hash (`password`, `newPassword`).
    hashes: HashMap<&'static str, String>,
    /// Given passwords checked against a stored hash (`None`: no account, checked
    /// against the dummy hash for the time it takes), by argument.
    verdicts: HashMap<&'static str, (Option<String>, bool)>,
}

impl Prework {
    /// Records the throttle's answer. Anything refused stops the work here: a throttled
    /// caller costs no hashing.
    pub fn charged(mut self, answer: Result<(), AppError>) -> Self {
        self.throttle = Some(answer);
        self
    }

    pub fn admitted(&self) -> bool {
        !matches!(self.throttle, Some(Err(_)))
    }

    fn then(mut self, job: Job) -> Self {
        if self.admitted() {
            self.jobs.push(job);
        }
        self
    }

    /// Asks for a hash of `password`, the new value of `argument`.
    pub fn hash(self, argument: &'static str, password: &Password) -> Self {
        self.then(Job::Hash {
            argument,
            password: password.expose().to_owned(),
        })
    }

    /// Asks for a check of `password` (given as `argument`) against `stored`.
    pub fn verify(self, argument: &'static str, password: &str, stored: Option<String>) -> Self {
        self.then(Job::Verify {
            argument,
            password: password.to_owned(),
            stored,
        })
    }

    /// Asks for a hash of `password` when the check of `verified` matches.
    pub fn hash_if_matched(
        self,
        argument: &'static str,
        password: &Password,
        verified: &'static str,
    ) -> Self {
        self.then(Job::HashIfMatched {
            argument,
            password: password.expose().to_owned(),
            verified,
        })
    }

    /// Does the work asked for, in order. Work that fails is left to the resolver.
    pub async fn run(&mut self, passwords: &PasswordHasherPool) {
        for job in std::mem::take(&mut self.jobs) {
            match job {
                Job::Verify {
                    argument,
                    password,
                    stored,
                } => {
                    if let Ok(matches) = passwords.verify(&password, stored.as_deref()).await {
                        self.verdicts.insert(argument, (stored, matches));
                    }
                }
                Job::HashIfMatched {
                    verified,
                    argument,
                    password,
                } if self
                    .verdicts
                    .get(verified)
                    .is_some_and(|(_, matches)| *matches) =>
                {
                    self.hash_now(passwords, argument, password).await;
                }
                Job::HashIfMatched { .. } => {}
                Job::Hash { argument, password } => {
                    self.hash_now(passwords, argument, password).await;
                }
            }
        }
    }

    async fn hash_now(
        &mut self,
        passwords: &PasswordHasherPool,
        argument: &'static str,
        password: String,
    ) {
        let Ok(password) = Password::parse(argument, password) else {
            return;
        };
        if let Ok(hash) = passwords.hash(&password).await {
            self.hashes.insert(argument, hash);
        }
    }
}

/// The prepared work of one request, by response key (alias or field name).
#[derive(Default)]
pub struct Prepared(std::sync::Mutex<HashMap<String, Prework>>);

impl Prepared {
    pub fn insert(&self, response_key: String, work: Prework) {
        crate::lock(&self.0).insert(response_key, work);
    }

    fn take(&self, response_key: &str) -> Option<Prework> {
        crate::lock(&self.0).remove(response_key)
    }
}

/// Counts password work done inside a transaction (none prepared for it).
#[derive(Debug, Default)]
pub struct LateWork(AtomicU64);

impl LateWork {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A resolver's handle on its field's prepared work: each method answers what was
/// prepared when it still applies, and otherwise does the work now.
pub struct PasswordWork<'a> {
    prepared: Option<Prework>,
    passwords: &'a PasswordHasherPool,
}

impl<'a> PasswordWork<'a> {
    pub fn new(prepared: &Prepared, response_key: &str, passwords: &'a PasswordHasherPool) -> Self {
        PasswordWork {
            prepared: prepared.take(response_key),
            passwords,
        }
    }

    /// The throttle's answer: the one charged before the transaction (which charged
    /// every bucket of the field: asking again answers `Ok`), or `charge()` now.
    pub fn charge(
        &mut self,
        charge: impl FnOnce() -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        match self
            .prepared
            .as_mut()
            .and_then(|work| work.throttle.as_mut())
        {
            Some(answer) => std::mem::replace(answer, Ok(())),
            None => charge(),
        }
    }

    /// A hash of `password`, the new value of `argument`.
    pub async fn hash(
        &mut self,
        argument: &'static str,
        password: &Password,
    ) -> Result<String, AppError> {
        if let Some(hash) = self
            .prepared
            .as_mut()
            .and_then(|work| work.hashes.remove(argument))
        {
            return Ok(hash);
        }
        self.passwords.late_work().note();
        self.passwords.hash(password).await
    }

    /// Whether `password`, given as `argument`, matches `stored` (see
    /// [`PasswordHasherPool::verify`]). A verdict prepared against another stored hash
    /// (the password changed meanwhile) does not count.
    pub async fn verify(
        &mut self,
        argument: &'static str,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, AppError> {
        if let Some((against, matches)) = self
            .prepared
            .as_mut()
            .and_then(|work| work.verdicts.remove(argument))
            && against.as_deref() == stored
        {
            return Ok(matches);
        }
        self.passwords.late_work().note();
        self.passwords.verify(password, stored).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ran(mut work: Prework, passwords: &PasswordHasherPool) -> Prework {
        work.run(passwords).await;
        work
    }

    #[tokio::test]
    async fn a_new_password_is_hashed_only_after_the_current_one_matched() {
        let passwords = PasswordHasherPool::new(1).expect("pool");
        let current = Password::parse("password", "correct horse battery".into()).expect("ok");
        let new = Password::parse("newPassword", "a brand new password".into()).expect("ok");
        let stored = passwords.hash(&current).await.expect("hash");
        let wrong = ran(
            Prework::default()
                .verify("currentPassword", "wrong password", Some(stored.clone()))
                .hash_if_matched("newPassword", &new, "currentPassword"),
            &passwords,
        )
        .await;
        assert!(wrong.hashes.is_empty());
        let right = ran(
            Prework::default()
                .verify("currentPassword", "correct horse battery", Some(stored))
                .hash_if_matched("newPassword", &new, "currentPassword"),
            &passwords,
        )
        .await;
        assert!(right.hashes.contains_key("newPassword"));
    }

    #[tokio::test]
    async fn prepared_work_is_used_once_and_only_against_the_hash_it_saw() {
        let passwords = PasswordHasherPool::new(1).expect("pool");
        let password = Password::parse("password", "correct horse battery".into()).expect("ok");
        let stored = passwords.hash(&password).await.expect("hash");
        let prepared = Prepared::default();
        prepared.insert(
            "logIn".into(),
            ran(
                Prework::default()
                    .charged(Ok(()))
                    .verify("password", "correct horse battery", Some(stored.clone()))
                    .hash("newPassword", &password),
                &passwords,
            )
            .await,
        );

        let mut work = PasswordWork::new(&prepared, "logIn", &passwords);
        assert!(work.charge(|| panic!("charged twice")).is_ok());
        // Charged once for the field: a second charge is free too.
        assert!(work.charge(|| panic!("charged twice")).is_ok());
        assert!(
            work.verify("password", "correct horse battery", Some(&stored))
                .await
                .expect("verify")
        );
        assert!(work.hash("newPassword", &password).await.is_ok());
        assert_eq!(passwords.late_work().count(), 0);

        // Nothing prepared (or used up): done now, and counted.
        assert!(work.hash("newPassword", &password).await.is_ok());
        assert_eq!(passwords.late_work().count(), 1);
        let mut other = PasswordWork::new(&prepared, "logIn", &passwords);
        assert!(
            other
                .charge(|| Err(AppError::forbidden("charged now")))
                .is_err()
        );

        // A verdict prepared against another stored hash does not count.
        let newer = passwords.hash(&password).await.expect("hash");
        prepared.insert(
            "again".into(),
            ran(
                Prework::default().verify("password", "wrong password", Some(stored)),
                &passwords,
            )
            .await,
        );
        let mut again = PasswordWork::new(&prepared, "again", &passwords);
        assert!(
            !again
                .verify("password", "wrong password", Some(&newer))
                .await
                .expect("verify")
        );
        assert_eq!(passwords.late_work().count(), 2);
    }

    #[tokio::test]
    async fn a_refused_charge_stops_the_work() {
        let passwords = PasswordHasherPool::new(1).expect("pool");
        let password = Password::parse("password", "correct horse battery".into()).expect("ok");
        let work = ran(
            Prework::default()
                .charged(Err(AppError::RateLimited {
                    retry_after: std::time::Duration::from_secs(1),
                }))
                .hash("password", &password),
            &passwords,
        )
        .await;
        assert!(work.hashes.is_empty());
        let prepared = Prepared::default();
        prepared.insert("signUp".into(), work);
        let mut work = PasswordWork::new(&prepared, "signUp", &passwords);
        assert!(matches!(
            work.charge(|| Ok(())),
            Err(AppError::RateLimited { .. })
        ));
    }
}
