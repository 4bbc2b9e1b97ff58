//! Integration tests: each starts the real gateway on port 0 and talks GraphQL over HTTP,
//! on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod analytics;
mod api_keys;
mod architecture;
mod auth;
mod authorization;
mod channel_identities;
mod channels;
mod cli;
mod connections;
mod contacts;
mod conversations;
mod events;
mod faults;
mod http;
mod invitations;
mod isolation;
mod lifecycle;
mod limits;
mod organizations;
mod persistence;
mod rls;
mod role_walker;
mod roles;
mod schema;
mod sign_ups;
mod smtp_sink;
mod system;
