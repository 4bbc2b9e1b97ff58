//! tenantgate: a multi-tenant GraphQL gateway that keeps each organization's data to
//! itself, by construction.
//!
//! The request path: [`server`] (HTTP, limits) → [`auth`] (who is calling) → [`tenant`]
//! (the guard: organization, role, the request's transaction) → [`graphql`] (schema,
//! limits, error codes) → the capability folders ([`sessions`], [`organizations`],
//! [`members`], [`invitations`], [`api_keys`], [`channels`], [`contacts`],
//! [`conversations`], [`events`], [`analytics`], [`audit`], [`system`]).

pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod conversations;
pub mod error;
pub mod events;
pub mod graphql;
pub mod input;
pub mod invitations;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod organizations;
pub mod policy;
pub mod server;
pub mod sessions;
pub mod system;
pub mod telemetry;
pub mod tenant;

/// Locks a mutex, taking over one that a panicking holder left poisoned: every mutex in
/// the gateway guards plain data (queues, counters, maps) that no panic leaves half-written.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
