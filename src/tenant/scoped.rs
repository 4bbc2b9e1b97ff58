//! [`TenantDb`]: the capability to read and write one organization's rows.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, IntoActiveModel, QueryFilter, Select, SqlErr,
};
use uuid::Uuid;

use crate::auth::api_keys::Scopes;
use crate::error::{AppError, AppResult};
use entity::{
    ChannelKind, OrganizationStatus, Role, api_key, audit_log, channel_config, contact,
    contact_tag, conversation, event, invitation, membership, message, organization, user,
};

/// A table whose rows belong to one organization: it names its `organization_id` column
/// and the column that identifies a row within the organization.
pub trait TenantEntity: EntityTrait {
    /// What a client calls one row, for `NOT_FOUND` messages.
    const LABEL: &'static str;
    /// The type of the column that identifies a row within the organization (a UUID for
    /// most tables; the channel kind for channel configurations).
    type Id: Into<sea_orm::Value> + Send;
    fn organization_column() -> Self::Column;
    fn id_column() -> Self::Column;
}

macro_rules! tenant_entity {
    ($module:ident, $label:literal, $id:ident) => {
        tenant_entity!($module, $label, $id: Uuid);
    };
    ($module:ident, $label:literal, $id:ident: $id_type:ty) => {
        impl TenantEntity for $module::Entity {
            const LABEL: &'static str = $label;
            type Id = $id_type;
            fn organization_column() -> Self::Column {
                $module::Column::OrganizationId
            }
            fn id_column() -> Self::Column {
                $module::Column::$id
            }
        }
    };
}

tenant_entity!(contact, "contact", Id);
tenant_entity!(membership, "member", UserId);
tenant_entity!(invitation, "invitation", Id);
tenant_entity!(audit_log, "audit entry", Id);
tenant_entity!(api_key, "API key", Id);
tenant_entity!(contact_tag, "contact", ContactId);
tenant_entity!(conversation, "conversation", Id);
tenant_entity!(message, "message", Id);
tenant_entity!(channel_config, "channel configuration", Kind: ChannelKind);
tenant_entity!(event, "event", Id);

/// Why an API key is refused a field that has no scope for keys.
pub const API_KEYS_REFUSED: &str =
    "API keys cannot use this field: it is for the organization's members";

/// Why a write failed, before a feature names the field a client should fix.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A unique constraint refused the row (the constraint's message inside).
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    /// A foreign key refused the row: it references something that does not exist here.
    #[error("foreign key violated: {0}")]
    Reference(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The organization is suspended or canceled.
    #[error("the organization is read-only")]
    ReadOnly(OrganizationStatus),
    #[error(transparent)]
    Db(DbErr),
    /// A failure that already is a client-facing error, passed through unchanged.
    #[error(transparent)]
    App(Box<AppError>),
}

impl From<DbErr> for WriteError {
    fn from(error: DbErr) -> Self {
        match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) => WriteError::Conflict(detail),
            Some(SqlErr::ForeignKeyConstraintViolation(detail)) => WriteError::Reference(detail),
            _ => WriteError::Db(error),
        }
    }
}

impl From<WriteError> for AppError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::NotFound(what) => AppError::not_found(what),
            WriteError::ReadOnly(status) => AppError::forbidden(format!(
                "this organization is {}: its data is read-only until an owner reactivates it",
                match status {
                    OrganizationStatus::Canceled => "canceled",
                    _ => "suspended",
                }
            )),
            WriteError::Conflict(_) => AppError::conflict("", "this already exists"),
            WriteError::App(error) => *error,
            other => AppError::internal(other),
        }
    }
}

impl From<AppError> for WriteError {
    fn from(error: AppError) -> Self {
        WriteError::App(Box::new(error))
    }
}

impl WriteError {
    /// Names the field of a conflict; other errors pass through.
    pub fn conflict_on(self, field: &str, message: &str) -> AppError {
        match self {
            WriteError::Conflict(_) => AppError::conflict(field, message),
            other => other.into(),
        }
    }
}

/// Who acts through a [`TenantDb`].
#[derive(Clone, Debug)]
pub enum Actor {
    /// A member of the organization, with their role.
    Member(Member),
    /// One of the organization's API keys, with its scopes.
    ApiKey { key_id: Uuid, scopes: Scopes },
}

/// A member acting in their organization.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub user_id: Uuid,
    pub role: Role,
}

/// One organization's rows, through the request's transaction.
#[derive(Clone)]
pub struct TenantDb {
    tx: Arc<DatabaseTransaction>,
    organization_id: Uuid,
    actor: Actor,
    status: OrganizationStatus,
    client_ip: Option<String>,
}

impl TenantDb {
    pub(super) fn new(
        tx: Arc<DatabaseTransaction>,
        organization_id: Uuid,
        actor: Actor,
        status: OrganizationStatus,
        client_ip: Option<String>,
    ) -> Self {
        TenantDb {
            tx,
            organization_id,
            actor,
            status,
            client_ip,
        }
    }

    /// The organization's billing status as of the start of the request.
    pub fn status(&self) -> OrganizationStatus {
        self.status
    }

    /// Refuses writes to a SUSPENDED or CANCELED organization; every write below checks.
    pub fn ensure_writable(&self) -> Result<(), WriteError> {
        if self.status.is_writable() {
            Ok(())
        } else {
            Err(WriteError::ReadOnly(self.status))
        }
    }

    pub fn organization_id(&self) -> Uuid {
        self.organization_id
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The member making the request; `FORBIDDEN` for an API key (keys never manage
    /// members, invitations, keys, sessions or the organization).
    pub fn member(&self) -> AppResult<Member> {
        match &self.actor {
            Actor::Member(member) => Ok(*member),
            Actor::ApiKey { .. } => Err(AppError::forbidden(API_KEYS_REFUSED)),
        }
    }

    /// The caller's role, when the caller is a member.
    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::Member(member) => Some(member.role),
            Actor::ApiKey { .. } => None,
        }
    }

    /// The member making the request, if a member is.
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::Member(member) => Some(member.user_id),
            Actor::ApiKey { .. } => None,
        }
    }

    pub(super) fn backend(&self) -> sea_orm::DbBackend {
        use sea_orm::ConnectionTrait;
        self.tx.get_database_backend()
    }

    pub(super) fn connection(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(super) fn tx_arc(&self) -> Arc<DatabaseTransaction> {
        self.tx.clone()
    }

    fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// A query over this organization's rows of `E`; narrow it further as needed.
    pub fn find<E: TenantEntity>(&self) -> Select<E> {
        E::find().filter(E::organization_column().eq(self.organization_id))
    }

    /// Runs a query (re-pinning it to this organization, whatever it was built from).
    pub async fn all<E: TenantEntity>(&self, select: Select<E>) -> AppResult<Vec<E::Model>>
    where
        E::Model: Send + Sync,
    {
        Ok(select
            .filter(E::organization_column().eq(self.organization_id))
            .all(self.tx())
            .await?)
    }

    /// How many rows `select` matches: `SELECT COUNT(*)` over the filter itself, which
    /// an index on the filtered columns answers without reading the rows (a count over a
    /// subquery of every column, as `PaginatorTrait::count` builds, may not).
    pub async fn count<E: TenantEntity>(&self, select: Select<E>) -> AppResult<u64>
    where
        E::Model: Send + Sync,
    {
        use sea_orm::QuerySelect;
        let count: Option<i64> = select
            .filter(E::organization_column().eq(self.organization_id))
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .into_tuple()
            .one(self.tx())
            .await?;
        Ok(count.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// The row with this id, or `NOT_FOUND` (also for other organizations' ids).
    pub async fn get<E: TenantEntity>(&self, id: E::Id) -> AppResult<E::Model>
    where
        E::Model: Send + Sync,
    {
        self.lookup::<E>(id)
            .await?
            .ok_or(AppError::not_found(E::LABEL))
    }

    /// The row with this id, if this organization has one.
    pub async fn lookup<E: TenantEntity>(&self, id: E::Id) -> AppResult<Option<E::Model>>
    where
        E::Model: Send + Sync,
    {
        Ok(self
            .find::<E>()
            .filter(E::id_column().eq(id))
            .one(self.tx())
            .await?)
    }

    /// Inserts a row into this organization (its `organization_id` is set here).
    pub async fn insert<A>(
        &self,
        mut row: A,
    ) -> Result<<A::Entity as EntityTrait>::Model, WriteError>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        self.ensure_writable()?;
        row.set(
            <A::Entity as TenantEntity>::organization_column(),
            self.organization_id.into(),
        );
        Ok(row.insert(self.tx()).await?)
    }

    /// Updates a row of this organization; the row's primary key includes
    /// `organization_id`, which is pinned here, so no other organization's row can match.
    pub async fn update<A>(&self, row: A) -> Result<<A::Entity as EntityTrait>::Model, WriteError>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        self.ensure_writable()?;
        self.update_row(row).await
    }

    /// [`TenantDb::update`] for the changes that stay allowed while the organization is
    /// read-only: revoking credentials.
    pub async fn update_while_read_only<A>(
        &self,
        row: A,
    ) -> Result<<A::Entity as EntityTrait>::Model, WriteError>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        self.update_row(row).await
    }

    async fn update_row<A>(
        &self,
        mut row: A,
    ) -> Result<<A::Entity as EntityTrait>::Model, WriteError>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        row.set(
            <A::Entity as TenantEntity>::organization_column(),
            self.organization_id.into(),
        );
        match row.update(self.tx()).await {
            Ok(model) => Ok(model),
            Err(DbErr::RecordNotUpdated) => {
                Err(WriteError::NotFound(<A::Entity as TenantEntity>::LABEL))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the row with this id, or `NOT_FOUND`.
    pub async fn delete<E: TenantEntity>(&self, id: E::Id) -> Result<(), WriteError> {
        self.ensure_writable()?;
        let result = E::delete_many()
            .filter(E::organization_column().eq(self.organization_id))
            .filter(E::id_column().eq(id))
            .exec(self.tx())
            .await?;
        if result.rows_affected == 0 {
            return Err(WriteError::NotFound(E::LABEL));
        }
        Ok(())
    }

    /// Deletes this organization's rows of `E` that match `condition`; answers how many.
    pub async fn delete_where<E: TenantEntity>(
        &self,
        condition: sea_orm::Condition,
    ) -> Result<u64, WriteError> {
        self.ensure_writable()?;
        let result = E::delete_many()
            .filter(E::organization_column().eq(self.organization_id))
            .filter(condition)
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected)
    }

    /// The organization itself.
    pub async fn organization(&self) -> AppResult<organization::Model> {
        organization::Entity::find_by_id(self.organization_id)
            .one(self.tx())
            .await?
            .ok_or(AppError::not_found("organization"))
    }

    /// Serializes the changes to seats and owners within the organization: counting, then
    /// writing, at READ COMMITTED would let concurrent invitations pass the seat limit and
    /// two owners demote each other. On PostgreSQL this takes the organization's row lock
    /// until the request's transaction ends; SQLite already runs one writer at a time.
    pub async fn lock_organization(&self) -> AppResult<()> {
        use sea_orm::QuerySelect;
        if self.backend() == sea_orm::DbBackend::Postgres {
            organization::Entity::find_by_id(self.organization_id)
                .lock_exclusive()
                .one(self.tx())
                .await?
                .ok_or(AppError::not_found("organization"))?;
        }
        Ok(())
    }

    /// Changes the organization's own row: its settings (name, slug, agent instructions,
    /// event retention; refused while read-only) and the billing fields (`status`, `plan`, `seat_limit`:
    /// what reactivates it).
    pub async fn update_organization(
        &self,
        changes: OrganizationChanges,
    ) -> Result<(organization::Model, organization::Model), WriteError> {
        if changes.changes_settings() {
            self.ensure_writable()?;
        }
        let before = self.organization().await?;
        let mut row: organization::ActiveModel = before.clone().into();
        if let Some(name) = changes.name {
            row.name = Set(name);
        }
        if let Some(slug) = changes.slug {
            row.slug = Set(slug);
        }
        if let Some(billing) = changes.billing {
            if let Some(status) = billing.status {
                row.status = Set(status);
            }
            if let Some(plan) = billing.plan {
                row.plan = Set(plan);
            }
            if let Some(seat_limit) = billing.seat_limit {
                row.seat_limit = Set(seat_limit);
            }
        }
        if let Some(instructions) = changes.agent_instructions {
            row.agent_instructions = Set(instructions);
        }
        if let Some(days) = changes.event_retention_days {
            row.event_retention_days = Set(days);
        }
        row.updated_at = Set(Utc::now());
        match row.update(self.tx()).await {
            Ok(after) => Ok((before, after)),
            Err(DbErr::RecordNotUpdated) => Err(WriteError::NotFound("organization")),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the organization and, by cascade, every row it owns. Only with the proof
    /// that the caller may.
    pub async fn delete_organization(
        &self,
        _granted: crate::policy::Granted<'_, crate::policy::grants::DeleteOrganization>,
    ) -> Result<(), WriteError> {
        let result = organization::Entity::delete_many()
            .filter(organization::Column::Id.eq(self.organization_id))
            .exec(self.tx())
            .await?;
        if result.rows_affected == 0 {
            return Err(WriteError::NotFound("organization"));
        }
        Ok(())
    }

    /// Writes an audit row for a change made in this request (in its transaction, so the
    /// row exists exactly when the change does). Audit rows are written even while the
    /// organization is read-only: the changes that remain allowed are audited too.
    pub async fn audit(
        &self,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        summary: serde_json::Value,
    ) -> AppResult<()> {
        audit_log::ActiveModel {
            organization_id: Set(self.organization_id),
            id: Set(Uuid::now_v7()),
            actor_id: Set(self.user_id()),
            api_key_id: Set(match &self.actor {
                Actor::ApiKey { key_id, .. } => Some(*key_id),
                Actor::Member(_) => None,
            }),
            action: Set(action.to_owned()),
            target_type: Set(target_type.to_owned()),
            target_id: Set(target_id),
            summary: Set(summary.to_string()),
            client_ip: Set(self.client_ip.clone()),
            created_at: Set(Utc::now()),
        }
        .insert(self.tx())
        .await?;
        Ok(())
    }

    /// The members with these user ids, each with their user row, in one statement
    /// (absent ones are simply missing).
    pub async fn members_by_user_ids(
        &self,
        user_ids: &[Uuid],
    ) -> AppResult<Vec<(membership::Model, user::Model)>> {
        use sea_orm::{JoinType, QuerySelect};
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        // The entities declare no relations of their own.
        let membership_user = membership::Entity::belongs_to(user::Entity)
            .from(membership::Column::UserId)
            .to(user::Column::Id)
            .into();
        let rows = self
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.is_in(user_ids.iter().copied()))
            .join(JoinType::InnerJoin, membership_user)
            .select_also(user::Entity)
            .all(self.tx())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(membership, user)| Some((membership, user?)))
            .collect())
    }

    /// Members with their user rows, for the given page of memberships.
    pub async fn with_users(
        &self,
        memberships: Vec<membership::Model>,
    ) -> AppResult<Vec<(membership::Model, user::Model)>> {
        let ids: Vec<Uuid> = memberships.iter().map(|m| m.user_id).collect();
        let users: std::collections::HashMap<Uuid, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .all(self.tx())
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(memberships
            .into_iter()
            .filter_map(|m| {
                let user = users.get(&m.user_id)?.clone();
                Some((m, user))
            })
            .collect())
    }

    /// The member whose account has this email, if any.
    pub async fn member_by_email(&self, email: &str) -> AppResult<Option<membership::Model>> {
        let Some(user) = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(self.tx())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .find::<membership::Entity>()
            .filter(membership::Column::UserId.eq(user.id))
            .one(self.tx())
            .await?)
    }

    /// Removes a member: their contacts lose their owner and their conversations their
    /// assignee (the keys require both to be members), then the membership goes. `leaving` members may go even while the
    /// organization is read-only.
    pub async fn remove_member(&self, user_id: Uuid, leaving: bool) -> Result<(), WriteError> {
        if !leaving {
            self.ensure_writable()?;
        }
        contact::Entity::update_many()
            .col_expr(contact::Column::OwnerId, Expr::value(Option::<Uuid>::None))
            .filter(contact::Column::OrganizationId.eq(self.organization_id))
            .filter(contact::Column::OwnerId.eq(user_id))
            .exec(self.tx())
            .await?;
        conversation::Entity::update_many()
            .col_expr(
                conversation::Column::AssigneeId,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(conversation::Column::OrganizationId.eq(self.organization_id))
            .filter(conversation::Column::AssigneeId.eq(user_id))
            .exec(self.tx())
            .await?;
        let result = membership::Entity::delete_many()
            .filter(membership::Column::OrganizationId.eq(self.organization_id))
            .filter(membership::Column::UserId.eq(user_id))
            .exec(self.tx())
            .await?;
        if result.rows_affected == 0 {
            return Err(WriteError::NotFound("member"));
        }
        Ok(())
    }
}

/// Changes to the organization row; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// The billing fields, which only exist with the proof that the caller may change
    /// them.
    pub billing: Option<BillingChanges>,
    /// `Some(None)` clears the default agent instructions.
    pub agent_instructions: Option<Option<String>>,
    pub event_retention_days: Option<i32>,
}

/// Changes to the organization's billing fields (`status`, `plan`, `seat_limit`).
pub struct BillingChanges {
    status: Option<OrganizationStatus>,
    plan: Option<String>,
    seat_limit: Option<i32>,
}

impl BillingChanges {
    pub fn new(
        _granted: crate::policy::Granted<'_, crate::policy::grants::ManageBilling>,
        status: Option<OrganizationStatus>,
        plan: Option<String>,
        seat_limit: Option<i32>,
    ) -> Self {
        BillingChanges {
            status,
            plan,
            seat_limit,
        }
    }
}

impl OrganizationChanges {
    /// Whether anything but the billing fields changes (those alone may reactivate a
    /// read-only organization; everything else is refused while it is read-only).
    fn changes_settings(&self) -> bool {
        self.name.is_some()
            || self.slug.is_some()
            || self.agent_instructions.is_some()
            || self.event_retention_days.is_some()
    }
}
