//! Rows into models by position, for the tables a dashboard reads by the hundred.
//!
//! SeaORM's derived models read every column of every row by its name (a hashed look-up
//! in the driver's row, per column and per row), and an absent value of an optional
//! column is first reported as an error whose message is formatted and then dropped.
//! On a page of contacts with their conversations and messages that was about a tenth
//! of the gateway's CPU. Here a statement's column positions are looked up once, from
//! its first row, and every row is read by position, with NULLs recognised before any
//! decoding. Reading goes through SeaORM's own `TryGetable` per type, so every type
//! decodes exactly as the derived model would (UUIDs and times on SQLite, enums by
//! their stored strings).
//!
//! A table opts in by listing its model's fields in [`by_position!`]; a field the
//! model gains or loses fails to compile until the list follows, and a column the
//! statement lacks is an error, as it is for the derived model.

use sea_orm::sqlx::{Column, Row, ValueRef};
use sea_orm::{DbErr, QueryResult, TryGetable};

/// The position of each of `names` among the row's columns.
pub fn positions<const N: usize>(row: &QueryResult, names: [&str; N]) -> Result<[usize; N], DbErr> {
    let mut positions = [0; N];
    for (position, name) in positions.iter_mut().zip(names) {
        *position = column(row, name)?;
    }
    Ok(positions)
}

fn column(row: &QueryResult, name: &str) -> Result<usize, DbErr> {
    let found = if let Some(row) = row.try_as_pg_row() {
        row.try_column(name).map(|column| column.ordinal())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_column(name).map(|column| column.ordinal())
    } else {
        return Err(DbErr::Type(format!(
            "rows of this database cannot be read by position (column {name})"
        )));
    };
    found.map_err(|error| DbErr::Type(format!("column {name}: {error}")))
}

/// A required column's value.
pub fn value<T: TryGetable>(row: &QueryResult, at: usize) -> Result<T, DbErr> {
    row.try_get_by_index(at)
}

/// An optional column's value: `None` for NULL, told before anything is decoded.
pub fn optional<T: TryGetable>(row: &QueryResult, at: usize) -> Result<Option<T>, DbErr> {
    let null = if let Some(row) = row.try_as_pg_row() {
        row.try_get_raw(at).map(|value| value.is_null())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get_raw(at).map(|value| value.is_null())
    } else {
        Ok(false)
    };
    match null {
        Ok(true) => Ok(None),
        // An index out of range is reported by the read below, with SeaORM's error.
        Ok(false) | Err(_) => row.try_get_by_index::<T>(at).map(Some),
    }
}

/// Implements [`super::TenantEntity::decode_rows`] for a model read by position:
/// `by_position!(message { organization_id, id, … } optional { author_id })`,
/// each field named after its column, the optional ones (`Option<_>`) apart.
macro_rules! by_position {
    ($module:ident { $($field:ident),* $(,)? } optional { $($optional:ident),* $(,)? }) => {
        fn decode_rows(
            rows: Vec<sea_orm::QueryResult>,
        ) -> Result<Vec<$module::Model>, sea_orm::DbErr> {
            #[allow(unused_imports)]
            use $crate::tenant::decode::{optional, positions, value};
            let Some(first) = rows.first() else {
                return Ok(Vec::new());
            };
            let [$($field,)* $($optional,)*] =
                positions(first, [$(stringify!($field),)* $(stringify!($optional),)*])?;
            rows.iter()
                .map(|row| {
                    Ok($module::Model {
                        $($field: value(row, $field)?,)*
                        $($optional: optional(row, $optional)?,)*
                    })
                })
                .collect()
        }
    };
}
pub(crate) use by_position;
