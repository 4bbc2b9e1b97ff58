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

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{Column as _, Row, ValueRef};
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

/// A column type a model reads by position.
///
/// SQLx checks, for every value it decodes, that the column's type suits the Rust type
/// (type information cloned, compared and dropped per value): on a page of contacts
/// with their conversations and messages that was a tenth of the gateway's work. A
/// PostgreSQL statement's columns have one type for all its rows, so a page reads its
/// first row with every check (SeaORM's `TryGetable`, as the derived model does) and
/// the others without SQLx's repeated type check, for the types listed here (the
/// stored enums as the text they are stored as).
pub trait Column: TryGetable {
    /// This value of a PostgreSQL row, its column's type already found compatible.
    fn unchecked(_row: &PgRow, _at: usize) -> Option<Result<Self, DbErr>> {
        None
    }

    /// Whether the column's type suits this type, for a first row whose value is NULL
    /// (nothing was decoded, so nothing was checked).
    fn verify(_row: &PgRow, _at: usize) -> Result<(), DbErr> {
        Ok(())
    }
}

/// Whether the column at `at` of `row` suits `T`, for a first row whose value is NULL.
fn verify_type<T: sea_orm::sqlx::Type<sea_orm::sqlx::Postgres>>(
    row: &PgRow,
    at: usize,
) -> Result<(), DbErr> {
    // A position out of range is reported by the read that follows.
    let Some(column) = row.columns().get(at) else {
        return Ok(());
    };
    if T::compatible(column.type_info()) {
        Ok(())
    } else {
        Err(DbErr::Type(format!(
            "column {} is of type {}, not {}",
            column.name(),
            column.type_info(),
            std::any::type_name::<T>()
        )))
    }
}

/// A value decoded by SQLx without its type check.
fn sqlx_unchecked<T>(row: &PgRow, at: usize) -> Option<Result<T, DbErr>>
where
    T: for<'r> sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Postgres>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Postgres>,
{
    Some(
        row.try_get_unchecked::<T, _>(at)
            .map_err(|error| DbErr::Type(error.to_string())),
    )
}

/// A value's bytes when PostgreSQL sent it in its binary format (statements with
/// parameters); `None` for NULL or text.
fn binary(row: &PgRow, at: usize) -> Option<&[u8]> {
    use sea_orm::sqlx::postgres::PgValueFormat;
    let value = row.try_get_raw(at).ok()?;
    match value.format() {
        PgValueFormat::Binary => value.as_bytes().ok(),
        PgValueFormat::Text => None,
    }
}

impl Column for String {
    fn unchecked(row: &PgRow, at: usize) -> Option<Result<Self, DbErr>> {
        sqlx_unchecked(row, at)
    }

    fn verify(row: &PgRow, at: usize) -> Result<(), DbErr> {
        verify_type::<Self>(row, at)
    }
}

impl Column for uuid::Uuid {
    /// A binary `uuid` is its 16 bytes.
    fn unchecked(row: &PgRow, at: usize) -> Option<Result<Self, DbErr>> {
        match binary(row, at).and_then(|bytes| uuid::Uuid::from_slice(bytes).ok()) {
            Some(id) => Some(Ok(id)),
            None => sqlx_unchecked(row, at),
        }
    }

    fn verify(row: &PgRow, at: usize) -> Result<(), DbErr> {
        verify_type::<Self>(row, at)
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Column for chrono::DateTime<chrono::Utc> {
    /// A binary `timestamptz` is microseconds since PostgreSQL's epoch: turned into a
    /// time by arithmetic, where SQLx adds a duration to a calendar date and time.
    fn unchecked(row: &PgRow, at: usize) -> Option<Result<Self, DbErr>> {
        let micros = binary(row, at)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(i64::from_be_bytes);
        match micros {
            Some(micros) => Some(
                micros
                    .checked_add(POSTGRES_EPOCH_MICROS)
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .ok_or_else(|| DbErr::Type(format!("time out of range: {micros} µs"))),
            ),
            None => sqlx_unchecked(row, at),
        }
    }

    fn verify(row: &PgRow, at: usize) -> Result<(), DbErr> {
        verify_type::<Self>(row, at)
    }
}

/// The stored enums: their text read as a string is, and turned into the enum as
/// SeaORM turns it (`ActiveEnum::try_from_value`).
macro_rules! unchecked_enums {
    ($($type:ty),* $(,)?) => {
        $(impl Column for $type {
            fn unchecked(row: &PgRow, at: usize) -> Option<Result<Self, DbErr>> {
                let text = String::unchecked(row, at)?;
                Some(text.and_then(|text| <$type as sea_orm::ActiveEnum>::try_from_value(&text)))
            }

            fn verify(row: &PgRow, at: usize) -> Result<(), DbErr> {
                String::verify(row, at)
            }
        })*
    };
}
unchecked_enums!(
    entity::ChannelKind,
    entity::ConversationStatus,
    entity::MessageAuthor
);

/// A required column's value; `checked` for a statement's first row.
pub fn value<T: Column>(row: &QueryResult, at: usize, checked: bool) -> Result<T, DbErr> {
    if !checked
        && let Some(row) = row.try_as_pg_row()
        && let Some(value) = T::unchecked(row, at)
    {
        return value;
    }
    row.try_get_by_index(at)
}

/// An optional column's value: `None` for NULL, told before anything is decoded.
pub fn optional<T: Column>(
    row: &QueryResult,
    at: usize,
    checked: bool,
) -> Result<Option<T>, DbErr> {
    let null = if let Some(row) = row.try_as_pg_row() {
        row.try_get_raw(at).map(|value| value.is_null())
    } else if let Some(row) = row.try_as_sqlite_row() {
        row.try_get_raw(at).map(|value| value.is_null())
    } else {
        Ok(false)
    };
    match null {
        Ok(true) => {
            if checked && let Some(row) = row.try_as_pg_row() {
                T::verify(row, at)?;
            }
            Ok(None)
        }
        // An index out of range is reported by the read below, with SeaORM's error.
        Ok(false) | Err(_) => value(row, at, checked).map(Some),
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
            // Sized up front: collecting `Result`s would grow the vector row by row.
            let mut models = Vec::with_capacity(rows.len());
            for (index, row) in rows.iter().enumerate() {
                let checked = index == 0;
                models.push($module::Model {
                    $($field: value(row, $field, checked)?,)*
                    $($optional: optional(row, $optional, checked)?,)*
                });
            }
            Ok(models)
        }
    };
}
pub(crate) use by_position;
