//! [`TenantDb`]: the capability to read and write one organization's rows.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction,
    DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Select, SqlErr,
};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use entity::{Role, contact, membership, organization};

/// A table whose rows belong to one organization: it names its `organization_id` column
/// and the column that identifies a row within the organization.
pub trait TenantEntity: EntityTrait {
    /// What a client calls one row, for `NOT_FOUND` messages.
    const LABEL: &'static str;
    fn organization_column() -> Self::Column;
    fn id_column() -> Self::Column;
}

macro_rules! tenant_entity {
    ($module:ident, $label:literal, $id:ident) => {
        impl TenantEntity for $module::Entity {
            const LABEL: &'static str = $label;
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
    #[error(transparent)]
    Db(DbErr),
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
            WriteError::Conflict(_) => AppError::conflict("", "this already exists"),
            other => AppError::internal(other),
        }
    }
}

impl From<AppError> for WriteError {
    fn from(error: AppError) -> Self {
        WriteError::Db(DbErr::Custom(error.to_string()))
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

/// One organization's rows, through the request's transaction.
#[derive(Clone)]
pub struct TenantDb {
    tx: Arc<DatabaseTransaction>,
    organization_id: Uuid,
    role: Role,
    user_id: Uuid,
}

impl TenantDb {
    pub(super) fn new(
        tx: Arc<DatabaseTransaction>,
        organization_id: Uuid,
        role: Role,
        user_id: Uuid,
    ) -> Self {
        TenantDb {
            tx,
            organization_id,
            role,
            user_id,
        }
    }

    pub fn organization_id(&self) -> Uuid {
        self.organization_id
    }

    /// The caller's role in this organization.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The member making the request.
    pub fn user_id(&self) -> Uuid {
        self.user_id
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

    pub async fn count<E: TenantEntity>(&self, select: Select<E>) -> AppResult<u64>
    where
        E::Model: Send + Sync,
    {
        Ok(select
            .filter(E::organization_column().eq(self.organization_id))
            .count(self.tx())
            .await?)
    }

    /// The row with this id, or `NOT_FOUND` (also for other organizations' ids).
    pub async fn get<E: TenantEntity>(&self, id: Uuid) -> AppResult<E::Model>
    where
        E::Model: Send + Sync,
    {
        self.find::<E>()
            .filter(E::id_column().eq(id))
            .one(self.tx())
            .await?
            .ok_or(AppError::not_found(E::LABEL))
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
        row.set(
            <A::Entity as TenantEntity>::organization_column(),
            self.organization_id.into(),
        );
        Ok(row.insert(self.tx()).await?)
    }

    /// Updates a row of this organization; the row's primary key includes
    /// `organization_id`, which is pinned here, so no other organization's row can match.
    pub async fn update<A>(
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
    pub async fn delete<E: TenantEntity>(&self, id: Uuid) -> Result<(), WriteError> {
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

    /// The organization itself.
    pub async fn organization(&self) -> AppResult<organization::Model> {
        organization::Entity::find_by_id(self.organization_id)
            .one(self.tx())
            .await?
            .ok_or(AppError::not_found("organization"))
    }

    /// Renames the organization and/or changes its slug.
    pub async fn update_organization(
        &self,
        name: Option<String>,
        slug: Option<String>,
    ) -> Result<organization::Model, WriteError> {
        let mut row: organization::ActiveModel = self.organization().await?.into();
        if let Some(name) = name {
            row.name = Set(name);
        }
        if let Some(slug) = slug {
            row.slug = Set(slug);
        }
        row.updated_at = Set(Utc::now());
        match row.update(self.tx()).await {
            Ok(model) => Ok(model),
            Err(DbErr::RecordNotUpdated) => Err(WriteError::NotFound("organization")),
            Err(error) => Err(error.into()),
        }
    }
}
