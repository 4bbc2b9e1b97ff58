//! [`TenantDb`]: the capability to read and write one organization's rows.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, IntoActiveModel, QueryFilter, Select,
};
use uuid::Uuid;

mod audit;
mod errors;
mod members;

pub use audit::AuditName;
pub use errors::WriteError;

use crate::error::{AppError, AppResult};
use crate::identity::{API_KEYS_REFUSED, Actor, Member};
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

    /// A statement's rows as models: by column name, as SeaORM derives it, unless the
    /// table reads them by position (`tenant_entity!(…; by_position …)`, see
    /// `tenant::decode`).
    fn decode_rows(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<Self::Model>, DbErr> {
        use sea_orm::FromQueryResult;
        // Sized up front: collecting `Result`s would grow the vector row by row.
        let mut models = Vec::with_capacity(rows.len());
        for row in &rows {
            models.push(Self::Model::from_query_result(row, "")?);
        }
        Ok(models)
    }
}

/// Declares a table's tenancy: `tenant_entity!(campaign, "campaign", Id)` says that
/// `entity::campaign`'s rows belong to the organization in `organization_id`, are
/// identified within it by `id` (a UUID unless a type follows: `Kind: ChannelKind`), and
/// are called "campaign" in `NOT_FOUND` messages. A new table's capability declares its
/// own, beside its types, as `crate::tenant::tenant_entity!(…)`. A table read by the
/// hundred per request adds `; by_position { fields… } optional { fields… }` to have
/// its rows read by position (see `tenant::decode`).
macro_rules! tenant_entity {
    ($module:ident, $label:literal, $id:ident $(; $($decode:tt)*)?) => {
        $crate::tenant::tenant_entity!($module, $label, $id: ::uuid::Uuid $(; $($decode)*)?);
    };
    ($module:ident, $label:literal, $id:ident: $id_type:ty $(; by_position $($decode:tt)*)?) => {
        impl $crate::tenant::TenantEntity for $module::Entity {
            const LABEL: &'static str = $label;
            type Id = $id_type;
            fn organization_column() -> Self::Column {
                $module::Column::OrganizationId
            }
            fn id_column() -> Self::Column {
                $module::Column::$id
            }
            $($crate::tenant::decode::by_position!($module $($decode)*);)?
        }
    };
}

pub(crate) use tenant_entity;

tenant_entity!(contact, "contact", Id; by_position {
    organization_id, id, name, attributes, created_at, updated_at
} optional { email, phone, owner_id, notes, external_id });
tenant_entity!(membership, "member", UserId);
tenant_entity!(invitation, "invitation", Id);
tenant_entity!(audit_log, "audit entry", Id);
tenant_entity!(api_key, "API key", Id);
tenant_entity!(contact_tag, "contact", ContactId; by_position {
    organization_id, contact_id, tag
} optional {});
tenant_entity!(conversation, "conversation", Id; by_position {
    organization_id, id, contact_id, channel, status, created_at, updated_at
} optional { assignee_id, summary, closed_at, last_message_at });
tenant_entity!(message, "message", Id; by_position {
    organization_id, id, conversation_id, author, body, created_at
} optional { author_id });
tenant_entity!(channel_config, "channel configuration", Kind: ChannelKind);
tenant_entity!(event, "event", Id);

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
        use sea_orm::{ConnectionTrait, QueryTrait};
        let statement = select
            .filter(E::organization_column().eq(self.organization_id))
            .build(self.backend());
        Ok(E::decode_rows(self.tx().query_all_raw(statement).await?)?)
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
        self.delete_where_while_read_only::<E>(condition).await
    }

    /// Sets `changes` (column, value) on this organization's rows of `E` that match
    /// `condition`, whether or not the organization is read-only (a member leaving may;
    /// check [`TenantDb::ensure_writable`] first for anything else); answers how many.
    pub async fn update_where_while_read_only<E: TenantEntity>(
        &self,
        condition: sea_orm::Condition,
        changes: Vec<(E::Column, sea_orm::Value)>,
    ) -> Result<u64, WriteError> {
        let mut update = E::update_many();
        for (column, value) in changes {
            update = update.col_expr(column, Expr::value(value));
        }
        let result = update
            .filter(E::organization_column().eq(self.organization_id))
            .filter(condition)
            .exec(self.tx())
            .await?;
        Ok(result.rows_affected)
    }

    /// [`TenantDb::delete_where`] for the deletions that stay allowed while the
    /// organization is read-only: a member leaving.
    pub async fn delete_where_while_read_only<E: TenantEntity>(
        &self,
        condition: sea_orm::Condition,
    ) -> Result<u64, WriteError> {
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

    /// Writes the organization's own row, whatever id `row` carries. What may change,
    /// and with what proof, is the `organizations` capability's to decide: it alone calls
    /// this (`tests/api/architecture.rs`).
    pub async fn write_organization(
        &self,
        mut row: organization::ActiveModel,
    ) -> Result<organization::Model, WriteError> {
        row.id = sea_orm::ActiveValue::Unchanged(self.organization_id);
        row.updated_at = Set(Utc::now());
        match row.update(self.tx()).await {
            Ok(after) => Ok(after),
            Err(DbErr::RecordNotUpdated) => Err(WriteError::NotFound("organization")),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes the organization and, by cascade, every row it owns. Only the
    /// `organizations` capability calls this, with the proof that the caller may
    /// (`tests/api/architecture.rs`).
    pub async fn delete_organization(&self) -> Result<(), WriteError> {
        let result = organization::Entity::delete_many()
            .filter(organization::Column::Id.eq(self.organization_id))
            .exec(self.tx())
            .await?;
        if result.rows_affected == 0 {
            return Err(WriteError::NotFound("organization"));
        }
        Ok(())
    }
}
