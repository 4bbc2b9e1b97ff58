//! Which database failures mean "unreachable" (`UNAVAILABLE`, safe to retry) rather
//! than a bug. It reads errors only; nothing here runs a statement.

/// Whether `error` says the database could not be reached or went away: no pooled
/// connection in time, a refused or broken connection, or PostgreSQL shutting down or
/// still starting. Other database errors (constraints, serialization, SQL) are not.
pub fn is_unreachable(error: &(dyn std::error::Error + 'static)) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    if let Some(error) = error.downcast_ref::<DbErr>() {
        return matches!(error, DbErr::ConnectionAcquire(_))
            || sqlx_error(error).is_some_and(sqlx_unreachable);
    }
    if let Some(RuntimeErr::SqlxError(error)) = error.downcast_ref::<RuntimeErr>() {
        return sqlx_unreachable(error);
    }
    error
        .downcast_ref::<sea_orm::sqlx::Error>()
        .is_some_and(sqlx_unreachable)
}

/// Whether a statement failed because its pooled connection had gone away before it
/// was sent (the server ended it, or the socket broke), as opposed to the database
/// being unreachable now: a fresh connection may well succeed.
pub fn is_broken_connection(error: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    sqlx_error(error).is_some_and(|error| match error {
        Sqlx::Io(_) | Sqlx::WorkerCrashed => true,
        // 57P01: terminated by an administrator (or a restart); class 08: connection
        // exception.
        Sqlx::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || code == "57P01"),
        _ => false,
    })
}

/// The driver's error under a statement's or a connection's failure.
fn sqlx_error(error: &sea_orm::DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::{DbErr, RuntimeErr};
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => Some(error),
        _ => None,
    }
}

fn sqlx_unreachable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(error) => error.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash
            // shutdown, cannot connect now; 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}
