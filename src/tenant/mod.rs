//! The guard: the only module that touches the database for requests.
//!
//! - [`Database`] is the pool. Outside this module it can only begin request
//!   transactions, answer health checks and hold signing keys.
//! - [`RequestContext`] is built once per request: principal, organization, role, and the
//!   request's single transaction, on PostgreSQL already switched to the
//!   non-privileged role with the organization set transaction-locally.
//! - [`TenantDb`] is the capability to touch tenant rows; it is bound to one organization
//!   and adds or sets `organization_id` on every query and write. A resolver that was
//!   not handed one cannot reach tenant data at all.
//! - [`GlobalDb`] reaches platform tables (users, sessions, the organization directory,
//!   pending sign-ups).
//!
//! A test (`tests/api/architecture.rs`) fails when code outside `tenant/` and `system/`
//! imports the SeaORM traits that query entities directly.

mod analytics;
mod api_keys;
mod batch;
mod binding;
mod context;
mod database;
pub(crate) mod decode;
mod global;
mod outbox;
mod scoped;
mod sign_ups;

pub use analytics::{ActivityCounts, Bucket, Period};
pub use api_keys::{ApiKeyRecord, ApiKeyUse};
pub use batch::{PerParent, WeakTenantDb};
pub use context::{AfterCommit, ClientInfo, OperationKind, OrganizationChoice, RequestContext};
pub use database::{Database, StatementLog, SystemTransaction, connect, migrate};
pub use global::{
    GlobalDb, IssuedSession, MembershipWithOrganization, OrganizationScope, PublicChannel,
    RefreshOutcome, SealedMail, VerifiedInvitation,
};
pub use outbox::OutboxMail;
pub(crate) use scoped::tenant_entity;
pub use scoped::{AuditName, TenantDb, TenantEntity, WriteError};
pub use sign_ups::{NewSignUp, PendingSignUp};

/// A session as stored.
pub type SessionRow = entity::session::Model;

/// A signing key as stored (private half sealed).
pub type StoredSigningKey = entity::signing_key::Model;
