//! GraphQL over HTTP (the GraphQL-over-HTTP spec): `POST /graphql` with a JSON body
//! (single or batched), `GET /graphql` for queries only (mutations answer 405), GraphiQL
//! for browsers. The framing is this module's: media types and the status codes of
//! `application/graphql-response+json`, the body limit and the batch cap. What happens
//! to each operation is the `pipeline`'s.
//!
//! async-graphql-axum's extractors parse a request into async-graphql's own types and
//! answer every malformed one alike; the framing here names the field at fault, answers
//! 406/413/415/405 as the spec asks, caps batches and hands the pipeline the raw
//! operations it checks before async-graphql parses anything.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::caller::Extracted;
use super::{GRAPHQL_RESPONSE, JSON, reply, request_failure, with_retry_after};
use crate::error::AppError;
use crate::pipeline::{self, Method, Outcome, RawOperation};
use crate::state::AppState;

/// The media type the client reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    /// `application/graphql-response+json`: request errors get 4xx statuses.
    GraphqlResponse,
    /// `application/json` (legacy): 200 for every well-formed request.
    Json,
}

impl ResponseType {
    fn of(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(ResponseType::Json);
        };
        let types: Vec<&str> = accept
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim())
            .collect();
        if types.contains(&GRAPHQL_RESPONSE) {
            Some(ResponseType::GraphqlResponse)
        } else if types
            .iter()
            .any(|t| *t == JSON || *t == "*/*" || *t == "application/*")
        {
            Some(ResponseType::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ResponseType::GraphqlResponse => GRAPHQL_RESPONSE,
            ResponseType::Json => JSON,
        }
    }
}

fn not_acceptable() -> Response {
    request_failure(
        StatusCode::NOT_ACCEPTABLE,
        &AppError::bad_input("Accept", format!("accept {GRAPHQL_RESPONSE} or {JSON}")),
    )
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<Arc<AppState>>,
    Extracted(caller): Extracted,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(response_type) = ResponseType::of(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(content_type.as_deref(), Some(JSON) | Some(GRAPHQL_RESPONSE)) {
        return request_failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &AppError::bad_input("Content-Type", format!("send the request as {JSON}")),
        );
    }
    let (operations, batched) = match read_operations(&state, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let outcomes = pipeline::run(&state, &caller, Method::Post, operations, batched).await;
    respond(outcomes, batched, response_type)
}

/// Reads a POST body: one operation, or a batch of 1 to `max_batch`.
async fn read_operations(
    state: &AppState,
    body: Body,
) -> Result<(Vec<RawOperation>, bool), Response> {
    let bytes = axum::body::to_bytes(body, state.body_limit)
        .await
        .map_err(|_| {
            request_failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                &AppError::bad_input(
                    "body",
                    format!("the request body is larger than {} bytes", state.body_limit),
                ),
            )
        })?;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
        request_failure(
            StatusCode::BAD_REQUEST,
            &AppError::bad_input("body", format!("the body is not valid JSON: {error}")),
        )
    })?;
    let (operations, batched) = match parsed {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > state.limits.max_batch {
                return Err(request_failure(
                    StatusCode::BAD_REQUEST,
                    &AppError::bad_input(
                        "body",
                        format!(
                            "a batch holds 1 to {} operations, not {}",
                            state.limits.max_batch,
                            items.len()
                        ),
                    ),
                ));
            }
            (items, true)
        }
        single => (vec![single], false),
    };
    let operations = operations
        .into_iter()
        .map(serde_json::from_value::<RawOperation>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            request_failure(
                StatusCode::BAD_REQUEST,
                &AppError::bad_input("body", "each operation must be a JSON object"),
            )
        })?;
    Ok((operations, batched))
}

/// Query-string parameters of `GET /graphql`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
}

/// `GET /graphql`: GraphiQL for browsers, queries for clients.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extracted(caller): Extracted,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(query) = params.query else {
        if wants_html {
            return super::graphiql::page_response();
        }
        return request_failure(
            StatusCode::BAD_REQUEST,
            &AppError::bad_input("query", "the `query` parameter is required"),
        );
    };
    let Some(response_type) = ResponseType::of(&headers) else {
        return not_acceptable();
    };
    let variables = match params.variables {
        None => None,
        Some(text) => match serde_json::from_str(&text) {
            Ok(value) => Some(value),
            Err(_) => {
                return request_failure(
                    StatusCode::BAD_REQUEST,
                    &AppError::invalid("variables", "must be a JSON object"),
                );
            }
        },
    };
    let operation = RawOperation {
        query: Some(serde_json::Value::String(query)),
        operation_name: params.operation_name.map(serde_json::Value::String),
        variables,
    };
    let outcomes = pipeline::run(&state, &caller, Method::Get, vec![operation], false).await;
    respond(outcomes, false, response_type)
}

/// Frames the operations' outcomes: a batch is a JSON array with 200; a single
/// operation's status follows the media type and what failed.
fn respond(outcomes: Vec<Outcome>, batched: bool, response_type: ResponseType) -> Response {
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, Outcome::MethodNotAllowed))
    {
        let mut response = request_failure(
            StatusCode::METHOD_NOT_ALLOWED,
            &AppError::bad_input("query", "mutations must be sent with POST"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let content_type = response_type.content_type();
    let (status, retry_after, body) = if batched {
        let retry_after = outcomes
            .iter()
            .filter_map(|outcome| outcome.signals().retry_after)
            .max();
        let mut body = Vec::new();
        body.push(b'[');
        for (index, outcome) in outcomes.into_iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&outcome.into_body());
        }
        body.push(b']');
        (StatusCode::OK, retry_after, body)
    } else {
        let Some(outcome) = outcomes.into_iter().next() else {
            return request_failure(
                StatusCode::BAD_REQUEST,
                &AppError::bad_input("body", "no operation"),
            );
        };
        let signals = outcome.signals();
        let status = match &outcome {
            Outcome::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            // It could not run for want of the database: 503 whatever the media type,
            // so proxies and clients see a failure to retry rather than a GraphQL answer.
            Outcome::RequestError { signals, .. } if signals.unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Outcome::Malformed { .. } => StatusCode::BAD_REQUEST,
            Outcome::RequestError { .. } if response_type == ResponseType::GraphqlResponse => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::OK,
        };
        (status, signals.retry_after, outcome.into_body())
    };
    with_retry_after(reply(status, content_type, body), retry_after)
}
