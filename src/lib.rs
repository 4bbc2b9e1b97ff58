//! tenantgate: a multi-tenant GraphQL gateway that keeps each organization's data to
//! itself, by construction.
//!
//! The request path, top to bottom (each module imports only modules below it; the
//! README's Layout section has the whole order): [`http`] (axum: router, layers, the
//! caller read from the headers, GraphQL-over-HTTP framing) → [`pipeline`] (one
//! operation: limits, password work, the request context, execution, commit, the
//! answer) → [`schema`] (the one module that names every capability) → the capability
//! folders ([`sessions`], [`organizations`], [`members`], [`invitations`], [`api_keys`],
//! [`channels`], [`contacts`], [`conversations`], [`events`], [`analytics`], [`audit`],
//! [`system`]) → [`graphql`] (the toolkit they build fields with) and [`policy`] (who
//! may do what) → [`auth`] (who is calling) → [`tenant`] (the guard: the organization,
//! the request's transaction, row-level security) → [`identity`] (principals and
//! scopes). [`app`] wires it all together; [`cli`] starts it.

// The page resolver joins each node's own field futures without boxing them, so the
// compiler proves `Send` through a deeper nest of types (contact → its conversations →
// their messages) than its default limit.
#![recursion_limit = "256"]
pub mod analytics;
pub mod api_keys;
pub mod app;
pub mod audit;
pub mod auth;
pub mod channel_identities;
pub mod channels;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod conversations;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod identity;
pub mod input;
pub mod invitations;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod organizations;
pub mod passwords;
pub mod pipeline;
pub mod policy;
pub mod schema;
pub mod services;
pub mod sessions;
pub mod state;
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
