//! Why a write failed.

use sea_orm::{DbErr, SqlErr};

use crate::error::AppError;
use entity::OrganizationStatus;

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
