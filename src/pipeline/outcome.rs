//! What became of one operation, before it is framed as HTTP.

use serde_json::json;

use crate::error::AppError;

/// What became of one operation.
pub enum Outcome {
    /// It ran: the answer has `data` (and perhaps errors of some fields).
    Answered { body: Vec<u8>, signals: Signals },
    /// It failed before execution: the answer has only `errors`.
    RequestError { body: Vec<u8>, signals: Signals },
    /// Not a well-formed GraphQL-over-HTTP request (a parameter of the wrong type): 400
    /// whatever the media type.
    Malformed { body: Vec<u8> },
    /// Refused by an API key's rate limit: 429 whatever the media type.
    RateLimited { body: Vec<u8>, signals: Signals },
    /// A mutation sent over GET: the whole request is refused.
    MethodNotAllowed,
}

impl Outcome {
    fn from_json(body: serde_json::Value) -> (Vec<u8>, Signals) {
        let signals = Signals::of(&body);
        (body.to_string().into_bytes(), signals)
    }

    /// A request error the client can fix (no `data`).
    pub fn request_error(error: AppError) -> Self {
        let (body, signals) = Outcome::from_json(error_body(&error));
        Outcome::RequestError { body, signals }
    }

    /// A request that failed before execution with an error that carries extensions
    /// (`retryAfter`) or must be masked (`INTERNAL`, logged with the request id).
    pub fn failure(error: AppError, request_id: &str) -> Self {
        let (body, signals) = Outcome::from_json(annotated(error, request_id));
        Outcome::RequestError { body, signals }
    }

    pub(super) fn malformed(error: AppError) -> Self {
        Outcome::Malformed {
            body: error_body(&error).to_string().into_bytes(),
        }
    }

    pub(super) fn rate_limited(error: AppError, request_id: &str) -> Self {
        let (body, signals) = Outcome::from_json(annotated(error, request_id));
        Outcome::RateLimited { body, signals }
    }

    /// The answer's JSON (empty for [`Outcome::MethodNotAllowed`]).
    pub fn into_body(self) -> Vec<u8> {
        match self {
            Outcome::Answered { body, .. }
            | Outcome::RequestError { body, .. }
            | Outcome::Malformed { body }
            | Outcome::RateLimited { body, .. } => body,
            Outcome::MethodNotAllowed => Vec::new(),
        }
    }

    pub fn signals(&self) -> Signals {
        match self {
            Outcome::Answered { signals, .. }
            | Outcome::RequestError { signals, .. }
            | Outcome::RateLimited { signals, .. } => *signals,
            Outcome::Malformed { .. } | Outcome::MethodNotAllowed => Signals::default(),
        }
    }

    /// Refused before execution as too complex or too large: a batch stops there.
    pub(super) fn over_limits(&self) -> bool {
        matches!(self, Outcome::RequestError { signals, .. } if signals.over_limits)
    }
}

/// The body of a request error: its message, code and the field it names.
pub fn error_body(error: &AppError) -> serde_json::Value {
    let mut extensions = json!({ "code": error.code() });
    if let AppError::BadUserInput { field, .. } = error {
        extensions["field"] = json!(field);
    }
    json!({ "errors": [{ "message": error.to_string(), "extensions": extensions }] })
}

fn annotated(error: AppError, request_id: &str) -> serde_json::Value {
    let error = async_graphql::Error::from(error);
    let mut server_error = error.into_server_error(Default::default());
    crate::error::annotate(&mut server_error, request_id);
    json!({ "errors": [server_error] })
}

/// What an answer's errors say that decides the HTTP answer around it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Signals {
    /// The longest `retryAfter` among `RATE_LIMITED` and `UNAVAILABLE` errors, for the
    /// `Retry-After` header.
    pub retry_after: Option<u64>,
    /// The database's absence is what failed the request.
    pub unavailable: bool,
    /// Refused as too complex or too large: a batch stops there.
    pub over_limits: bool,
}

impl Signals {
    /// Read from a body (its `errors`).
    pub fn of(body: &serde_json::Value) -> Self {
        let Some(errors) = body["errors"].as_array() else {
            return Signals::default();
        };
        let code =
            |error: &serde_json::Value| error["extensions"]["code"].as_str().map(str::to_owned);
        Signals {
            retry_after: errors
                .iter()
                .filter(|error| {
                    matches!(code(error).as_deref(), Some("RATE_LIMITED" | "UNAVAILABLE"))
                })
                .filter_map(|error| error["extensions"]["retryAfter"].as_u64())
                .max(),
            unavailable: errors
                .iter()
                .any(|error| code(error).as_deref() == Some("UNAVAILABLE")),
            over_limits: errors.iter().any(|error| {
                matches!(
                    code(error).as_deref(),
                    Some("QUERY_TOO_COMPLEX" | "RESPONSE_TOO_LARGE")
                )
            }),
        }
    }

    /// Read from an executed operation's errors (none, almost always).
    pub fn of_errors(errors: &[async_graphql::ServerError]) -> Self {
        if errors.is_empty() {
            return Signals::default();
        }
        Signals::of(&json!({ "errors": errors }))
    }
}
