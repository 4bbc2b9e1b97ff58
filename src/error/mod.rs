//! The one table of error codes. Every failure a client can see is an [`AppError`]; each
//! variant declares its GraphQL `extensions.code` here and nowhere else. Internal errors
//! are logged with the request id (from the request span) and masked to clients.

mod unreachable;

use std::time::Duration;

pub use unreachable::{is_broken_connection, is_unreachable};

/// What went wrong, as a client should understand it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller is not signed in, or their credentials are invalid or expired.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in the caller's organization (also what other organizations' ids answer).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A value the client sent is invalid; `field` names it as the client spelled it.
    #[error("{message}")]
    BadUserInput { field: String, message: String },
    /// The request collides with existing data (a taken slug or email, a duplicate).
    #[error("{message}")]
    Conflict { field: String, message: String },
    /// Too many attempts; try again after the given time.
    #[error("too many attempts, try again in {} seconds", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// The query exceeds a limit (depth, complexity, aliases, directives, nesting).
    #[error("{0}")]
    QueryTooComplex(String),
    /// The database could not be reached in time (down, restarting, or every pooled
    /// connection busy). Nothing was done, so the request may be sent again, except when
    /// `outcome_unknown`: the connection was lost while a mutation committed, and it may
    /// have been applied.
    #[error("{}", if *outcome_unknown {
        "the database connection was lost while the mutation committed: it may have been applied, check before sending it again"
    } else {
        "the database is unavailable, try again shortly"
    })]
    Unavailable {
        outcome_unknown: bool,
        #[source]
        source: anyhow::Error,
    },
    /// The answer would be larger than the response cap, or carried more errors than the
    /// error cap (then this error says how many were left out).
    #[error("{0}")]
    ResponseTooLarge(String),
    /// Anything the client cannot fix. The detail is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound { .. } => "NOT_FOUND",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            AppError::Unavailable { .. } => "UNAVAILABLE",
            AppError::ResponseTooLarge(_) => "RESPONSE_TOO_LARGE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status of a request that fails before execution with only this error,
    /// when the client reads `application/graphql-response+json` (with `application/json`
    /// a GraphQL answer is 200, except 429 and 503, which mean "send it again later" to any
    /// proxy). Errors of single fields never change the status of an executed operation.
    pub fn http_status(&self) -> u16 {
        match self {
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::Internal(_) => 500,
            AppError::Unauthenticated(_)
            | AppError::Forbidden(_)
            | AppError::NotFound { .. }
            | AppError::BadUserInput { .. }
            | AppError::Conflict { .. }
            | AppError::QueryTooComplex(_)
            | AppError::ResponseTooLarge(_) => 400,
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A value that breaks a rule; the message names the field: "`email` must be …".
    pub fn invalid(field: &str, rule: impl std::fmt::Display) -> Self {
        AppError::BadUserInput {
            field: field.to_owned(),
            message: format!("`{field}` {rule}"),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str) -> Self {
        AppError::NotFound { what }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        AppError::Unauthenticated(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    /// An unexpected failure; `UNAVAILABLE` instead when the database could not be
    /// reached.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        if error.chain().any(is_unreachable) {
            AppError::Unavailable {
                outcome_unknown: false,
                source: error,
            }
        } else {
            AppError::Internal(error)
        }
    }

    /// This error, met while committing a mutation: a lost connection leaves unknown
    /// whether the commit happened.
    pub fn at_commit(self) -> Self {
        match self {
            AppError::Unavailable { source, .. } => AppError::Unavailable {
                outcome_unknown: true,
                source,
            },
            other => other,
        }
    }

    /// Whether sending the same request again is safe and may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AppError::RateLimited { .. } => true,
            AppError::Unavailable {
                outcome_unknown, ..
            } => !outcome_unknown,
            _ => false,
        }
    }
}

/// Seconds a client is told to wait after `UNAVAILABLE`.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        AppError::internal(error)
    }
}

/// Gives a GraphQL error its `extensions`: from the [`AppError`] it was made of (resolvers
/// return `AppError`s, which async-graphql keeps as the error's source), else from the
/// kind of failure async-graphql itself reports (parse and validation errors). Internal
/// errors are logged here, once, and tagged with the request id so the log line can be
/// found from what the client saw.
pub fn annotate(error: &mut async_graphql::ServerError, request_id: &str) {
    let source = error.source.clone();
    let app_error = source
        .as_deref()
        .and_then(|source| source.downcast_ref::<AppError>());
    let code = match app_error {
        Some(app_error) => app_error.code(),
        None => match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => {
                // Already annotated (e.g. built by the HTTP layer).
                let _ = code;
                return;
            }
            _ => classify_library_error(&error.message),
        },
    };
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    match app_error {
        Some(AppError::BadUserInput { field, .. }) | Some(AppError::Conflict { field, .. }) => {
            extensions.set("field", field.as_str());
        }
        Some(AppError::RateLimited { retry_after }) => {
            extensions.set("retryAfter", retry_after.as_secs().max(1));
        }
        Some(error @ AppError::Unavailable { source, .. }) => {
            tracing::warn!(error = %source, request_id, "database unavailable");
            extensions.set("retryable", error.retryable());
            if error.retryable() {
                extensions.set("retryAfter", UNAVAILABLE_RETRY_AFTER_SECS);
            }
        }
        Some(AppError::Internal(source)) => {
            tracing::error!(error = ?source, request_id, "internal error");
        }
        _ => {}
    }
    if matches!(code, "INTERNAL" | "UNAVAILABLE") && !request_id.is_empty() {
        extensions.set("requestId", request_id);
    }
}

/// async-graphql's own errors carry no code: its limit errors are `QUERY_TOO_COMPLEX`,
/// everything else it reports (syntax, unknown fields, bad variables) is the client's.
fn classify_library_error(message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    if message.contains("too deep")
        || message.contains("too complex")
        || message.contains("recursion depth")
        || message.contains("directives")
    {
        "QUERY_TOO_COMPLEX"
    } else {
        "BAD_USER_INPUT"
    }
}

/// Shorthand for results whose error a client may see.
pub type AppResult<T> = Result<T, AppError>;

/// What resolvers return: an [`AppError`] converts into it with `?`, kept as the source.
pub type GqlResult<T> = async_graphql::Result<T>;
