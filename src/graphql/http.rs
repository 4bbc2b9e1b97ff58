//! GraphQL over HTTP (the GraphQL-over-HTTP spec): `POST /graphql` with a JSON body
//! (single or batched), `GET /graphql` for queries only (mutations answer 405), GraphiQL
//! for browsers. Each operation runs in its own transaction, committed only when a
//! mutation succeeded as a whole.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::{Value, Variables};
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::introspection::{self, Introspection};
use super::limits;
use super::response::{self, Answer, Selected};
use crate::auth::{self, Principal};
use crate::error::AppError;
use crate::server::AppState;
use crate::tenant::{ClientInfo, OperationKind, OrganizationChoice, RequestContext};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const ORGANIZATION_HEADER: &str = "x-organization-id";

/// One operation as clients send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOperation {
    query: Option<serde_json::Value>,
    operation_name: Option<serde_json::Value>,
    variables: Option<serde_json::Value>,
}

/// The media type the client reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    /// `application/graphql-response+json`: request errors get 4xx statuses.
    GraphqlResponse,
    /// `application/json` (legacy): 200 for every well-formed request.
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// The result of one operation, before it becomes a body.
struct Outcome {
    /// The operation's answer as JSON.
    body: Vec<u8>,
    /// What its errors say that decides the HTTP answer.
    signals: Signals,
    /// The request failed before execution (no `data`).
    request_error: bool,
    /// A mutation over GET.
    method_not_allowed: bool,
    /// Not a well-formed GraphQL-over-HTTP request (a parameter of the wrong type): 400
    /// whatever the media type.
    malformed: bool,
    /// Refused by an API key's rate limit: 429 whatever the media type.
    rate_limited: bool,
}

fn response_type(headers: &HeaderMap) -> Option<ResponseType> {
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

fn error_body(error: &AppError) -> serde_json::Value {
    let mut extensions = json!({ "code": error.code() });
    if let AppError::BadUserInput { field, .. } = error {
        extensions["field"] = json!(field);
    }
    json!({ "errors": [{ "message": error.to_string(), "extensions": extensions }] })
}

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn request_failure(status: StatusCode, error: &AppError) -> Response {
    reply(status, JSON, error_body(error).to_string().into_bytes())
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(response_type) = response_type(&headers) else {
        return request_failure(
            StatusCode::NOT_ACCEPTABLE,
            &AppError::bad_input("Accept", format!("accept {GRAPHQL_RESPONSE} or {JSON}")),
        );
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
    let bytes = match axum::body::to_bytes(body, state.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return request_failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                &AppError::bad_input(
                    "body",
                    format!("the request body is larger than {} bytes", state.body_limit),
                ),
            );
        }
    };
    let parsed: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(error) => {
            return request_failure(
                StatusCode::BAD_REQUEST,
                &AppError::bad_input("body", format!("the body is not valid JSON: {error}")),
            );
        }
    };
    let (operations, batched) = match parsed {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > state.limits.max_batch {
                return request_failure(
                    StatusCode::BAD_REQUEST,
                    &AppError::bad_input(
                        "body",
                        format!(
                            "a batch holds 1 to {} operations, not {}",
                            state.limits.max_batch,
                            items.len()
                        ),
                    ),
                );
            }
            (items, true)
        }
        single => (vec![single], false),
    };
    let mut raw = Vec::with_capacity(operations.len());
    for operation in operations {
        match serde_json::from_value::<RawOperation>(operation) {
            Ok(operation) => raw.push(operation),
            Err(_) => {
                return request_failure(
                    StatusCode::BAD_REQUEST,
                    &AppError::bad_input("body", "each operation must be a JSON object"),
                );
            }
        }
    }
    run(
        &state,
        peer,
        &headers,
        Method::Post,
        raw,
        batched,
        response_type,
    )
    .await
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(query) = params.query else {
        if wants_html {
            return Html(super::graphiql::PAGE).into_response();
        }
        return request_failure(
            StatusCode::BAD_REQUEST,
            &AppError::bad_input("query", "the `query` parameter is required"),
        );
    };
    let Some(response_type) = response_type(&headers) else {
        return request_failure(
            StatusCode::NOT_ACCEPTABLE,
            &AppError::bad_input("Accept", format!("accept {GRAPHQL_RESPONSE} or {JSON}")),
        );
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
    run(
        &state,
        peer,
        &headers,
        Method::Get,
        vec![operation],
        false,
        response_type,
    )
    .await
}

async fn run(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    method: Method,
    operations: Vec<RawOperation>,
    batched: bool,
    response_type: ResponseType,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let address = client_address(headers, peer, state.trusted_proxy_hops);
    let principal = match auth::authenticate(
        headers,
        &state.tokens,
        state.system_secret.as_ref(),
        &state.api_keys,
        Some(&address),
    )
    .await
    {
        Ok(principal) => {
            if headers.contains_key(auth::API_KEY_HEADER) {
                state
                    .metrics
                    .key_verified(matches!(principal, Principal::ApiKey(_)));
            }
            principal
        }
        Err(error) => {
            let status = match error {
                AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                AppError::RateLimited { .. } => {
                    state.metrics.key_verified(false);
                    state.metrics.rate_limited();
                    StatusCode::TOO_MANY_REQUESTS
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let outcome = failure(error, &request_id);
            let mut response = reply(status, JSON, outcome.body);
            if let Some(seconds) = outcome.signals.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
    };
    let choice = match headers.get(ORGANIZATION_HEADER) {
        None => OrganizationChoice::Default,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
            .map_or(OrganizationChoice::Malformed, OrganizationChoice::Named),
    };
    let client = ClientInfo {
        ip: Some(address),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };

    let call = Call {
        state,
        method,
        request_id: &request_id,
        budget: Arc::new(limits::Budget::new(&state.limits, batched)),
    };
    let mut outcomes = Vec::with_capacity(operations.len());
    let mut over_budget = false;
    for operation in operations {
        // The batch shares one budget: once a member is refused as too complex or too
        // large, the members after it are refused unread (parsing them is the work an
        // amplifying batch wants done).
        if over_budget {
            outcomes.push(request_error(AppError::QueryTooComplex(
                "an earlier operation of this batch went over the batch's limits: this one was not run"
                    .into(),
            )));
            continue;
        }
        if let Principal::ApiKey(key) = &principal
            && let Err(error) = state.api_keys.admit(key)
        {
            state.metrics.rate_limited();
            outcomes.push(Outcome {
                rate_limited: true,
                ..failure(error, &request_id)
            });
            continue;
        }
        let outcome = execute(
            &call,
            operation,
            principal.clone(),
            choice.clone(),
            client.clone(),
        )
        .await;
        if outcome.method_not_allowed {
            let mut response = request_failure(
                StatusCode::METHOD_NOT_ALLOWED,
                &AppError::bad_input("query", "mutations must be sent with POST"),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        over_budget = batched && outcome.request_error && outcome.signals.over_limits;
        outcomes.push(outcome);
    }

    let content_type = match response_type {
        ResponseType::GraphqlResponse => GRAPHQL_RESPONSE,
        ResponseType::Json => JSON,
    };
    if batched {
        let retry_after = outcomes.iter().filter_map(|o| o.signals.retry_after).max();
        let mut body =
            Vec::with_capacity(outcomes.iter().map(|o| o.body.len() + 1).sum::<usize>() + 1);
        body.push(b'[');
        for (index, outcome) in outcomes.into_iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&outcome.body);
        }
        body.push(b']');
        let mut response = reply(StatusCode::OK, content_type, body);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return response;
    }
    let Some(outcome) = outcomes.pop() else {
        return request_failure(
            StatusCode::BAD_REQUEST,
            &AppError::bad_input("body", "no operation"),
        );
    };
    let status = if outcome.rate_limited {
        StatusCode::TOO_MANY_REQUESTS
    } else if outcome.request_error && outcome.signals.unavailable {
        // It could not run for want of the database: 503 whatever the media type, so
        // proxies and clients see a failure to retry rather than a GraphQL answer.
        StatusCode::SERVICE_UNAVAILABLE
    } else if outcome.malformed
        || (response_type == ResponseType::GraphqlResponse && outcome.request_error)
    {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let retry_after = outcome.signals.retry_after;
    let mut response = reply(status, content_type, outcome.body);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

impl Outcome {
    fn new(body: serde_json::Value, request_error: bool) -> Self {
        Outcome::written(
            body.to_string().into_bytes(),
            Signals::of(&body),
            request_error,
        )
    }

    fn written(body: Vec<u8>, signals: Signals, request_error: bool) -> Self {
        Outcome {
            body,
            signals,
            request_error,
            method_not_allowed: false,
            malformed: false,
            rate_limited: false,
        }
    }
}

fn request_error(error: AppError) -> Outcome {
    Outcome::new(error_body(&error), true)
}

/// A request that failed before execution with an error that carries extensions
/// (`retryAfter`) or must be masked (`INTERNAL`, logged with the request id).
fn failure(error: AppError, request_id: &str) -> Outcome {
    let error = async_graphql::Error::from(error);
    let mut server_error = error.into_server_error(Default::default());
    crate::error::annotate(&mut server_error, request_id);
    Outcome::new(json!({ "errors": [server_error] }), true)
}

fn malformed(error: AppError) -> Outcome {
    Outcome {
        malformed: true,
        ..request_error(error)
    }
}

/// What the operations of one request share.
struct Call<'a> {
    state: &'a AppState,
    method: Method,
    request_id: &'a str,
    /// The limits all of the request's operations count against together.
    budget: Arc<limits::Budget>,
}

/// Where introspection is answered from for an operation that selects only introspection.
struct Cached<'a> {
    introspection: &'a Introspection,
    key: introspection::Key,
}

async fn execute(
    call: &Call<'_>,
    operation: RawOperation,
    principal: Principal,
    choice: OrganizationChoice,
    client: ClientInfo,
) -> Outcome {
    let state = call.state;
    let query = match operation.query {
        Some(serde_json::Value::String(query)) => query,
        _ => return malformed(AppError::invalid("query", "must be a string")),
    };
    let operation_name = match operation.operation_name {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name),
        Some(_) => return malformed(AppError::invalid("operationName", "must be a string")),
    };
    let variables = match operation.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(value @ serde_json::Value::Object(_)) => {
            if let Err(error) = super::text::check_variables(&value) {
                return request_error(error);
            }
            Variables::from_json(value)
        }
        Some(_) => return malformed(AppError::invalid("variables", "must be an object")),
    };

    if let Err(error) = limits::check_nesting(&query, state.limits.max_parser_depth) {
        return request_error(error);
    }
    let Some(introspection) = state.schemas.lean.data::<Arc<Introspection>>() else {
        return failure(
            AppError::internal(anyhow::anyhow!("the schema has no introspection state")),
            call.request_id,
        );
    };
    let schema_size = match introspection.size().await {
        Ok(size) => size,
        Err(error) => return failure(error, call.request_id),
    };
    let mut request = async_graphql::Request::new(query.clone()).variables(variables.clone());
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    let (kind, root_fields, shape, planned, document) = {
        let document = match request.parsed_query() {
            Ok(document) => document,
            Err(error) => {
                return request_error(AppError::bad_input("query", error.message));
            }
        };
        if let Err(error) = super::text::check_document(document) {
            return request_error(error);
        }
        let selected = match limits::select_operation(document, operation_name.as_deref()) {
            Ok(selected) => selected,
            Err(error) => return request_error(error),
        };
        let shape = match limits::check_operation(document, selected, &state.limits, &schema_size) {
            Ok(shape) => shape,
            Err(error) => return request_error(error),
        };
        if shape.introspects
            && let Err(error) = may_introspect(state, &principal)
        {
            return request_error(error);
        }
        if let Err(error) = call.budget.admit(&shape) {
            return request_error(error);
        }
        let kind = if limits::is_mutation(selected) {
            OperationKind::Mutation
        } else {
            OperationKind::Query
        };
        let planned = match kind {
            OperationKind::Mutation => super::prework::plan(document, selected, &variables),
            OperationKind::Query => Vec::new(),
        };
        (
            kind,
            root_fields(selected, kind, &state.nullable_root_fields),
            shape,
            planned,
            // Execution consumes the request's document; the answer is written in the
            // order of its selections.
            document.clone(),
        )
    };
    if kind == OperationKind::Mutation && call.method == Method::Get {
        return Outcome {
            method_not_allowed: true,
            ..Outcome::written(Vec::new(), Signals::default(), true)
        };
    }

    // Before the transaction: it would hold a connection (and on SQLite the writer
    // turn) while argon2 runs.
    let prepared = super::prework::prepare(
        &state.db,
        &state.services,
        planned,
        principal.clone(),
        choice.clone(),
        client.clone(),
    )
    .await;
    // Callers who are not signed in (sign-ups, log-ins, invitations, resets) write a few
    // at a time: a flood of them must not fill the queue for the database's writers (on
    // SQLite, its single writer turn) ahead of the organizations' own writes. Held until
    // the transaction has ended.
    let _anonymous_writer = match (kind, &principal) {
        (OperationKind::Mutation, Principal::Anonymous { .. }) => {
            state.anonymous_writers.acquire().await.ok()
        }
        _ => None,
    };
    let context = match RequestContext::establish(&state.db, kind, principal, choice, client).await
    {
        Ok(context) => context.with_prepared(prepared),
        Err(error) => return failure(error, call.request_id),
    };
    // The context may have found the caller anonymous after all (an ended session).
    if shape.introspects
        && let Err(error) = may_introspect(state, context.principal())
    {
        return match context.finish(false).await {
            Ok(()) => request_error(error),
            Err(error) => failure(error, call.request_id),
        };
    }
    let cached = (shape.introspection_only && kind == OperationKind::Query).then(|| Cached {
        introspection: introspection.as_ref(),
        key: introspection::Key::new(
            context.principal(),
            &query,
            operation_name.as_deref(),
            &variables,
        ),
    });
    if let Some(cached) = &cached
        && let Some(answer) = cached.introspection.get(&cached.key).await
    {
        let charged = call
            .budget
            .charge_complexity(answer.complexity)
            .and_then(|()| call.budget.charge_bytes(answer.bytes));
        return match (context.finish(true).await, charged) {
            (Err(error), _) => failure(error, call.request_id),
            (Ok(()), Err(error)) => request_error(error),
            (Ok(()), Ok(())) => {
                state.metrics.introspection_answered(true);
                Outcome::written(answer.body.as_ref().clone(), Signals::default(), false)
            }
        };
    }

    // The request's copy is dropped with the request, so the context (and with it the
    // transaction) has a single owner again when execution ends.
    let mut dispatcher = Arc::default();
    if let Some(tenant) = context.bound_tenant() {
        let loaders = super::loaders::loaders(tenant);
        dispatcher = loaders.dispatcher();
        request = request.data(loaders);
    }
    let context = Arc::new(context);
    let complexity_before = call.budget.complexity_spent();
    let schema = if call.budget.batched() || shape.introspects {
        &state.schemas.metered
    } else {
        &state.schemas.lean
    };
    let execution = schema.execute(request.data(context.clone()).data(call.budget.clone()));
    let mut response = super::batching::batching(dispatcher, execution).await;
    let Ok(context) = Arc::try_unwrap(context) else {
        return request_error(AppError::internal(anyhow::anyhow!(
            "the request context outlived its request"
        )));
    };

    let failed = !response.errors.is_empty();
    let mut commit = !(kind == OperationKind::Mutation && failed);
    if commit {
        restore_null_root_fields(&mut response, &root_fields);
        restore_null_nested_fields(&mut response);
    } else {
        // All or nothing: whatever the earlier fields returned is rolled back.
        response.data = Value::Null;
    }
    let failed_before_execution = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    for error in &mut response.errors {
        crate::error::annotate(error, call.request_id);
    }
    cap_errors(&mut response.errors, state.limits.max_errors);
    let written = limits::select_operation(&document, operation_name.as_deref())
        .map_err(|_| AppError::internal(anyhow::anyhow!("the executed operation is gone")))
        .and_then(|operation| {
            let selected = Selected::root(&operation.selection_set.node, &document.fragments);
            let answer = Answer {
                data: (!failed_before_execution).then_some(&response.data),
                selected: &selected,
                errors: &response.errors,
            };
            response::to_bytes(&answer).map_err(AppError::internal)
        });
    let body = match written {
        Ok(body) => body,
        Err(error) => {
            return match context.finish(false).await {
                Ok(()) => request_error(error),
                Err(error) => failure(error, call.request_id),
            };
        }
    };
    // Measured before committing: a mutation whose answer cannot be sent is rolled back.
    let bytes = body.len();
    let too_large = call.budget.charge_bytes(bytes).err();
    if too_large.is_some() {
        commit = false;
    }
    if let Err(error) = context.finish(commit).await {
        return failure(error, call.request_id);
    }
    if let Some(error) = too_large {
        return request_error(error);
    }
    if let Some(cached) = cached
        && !failed
    {
        let answer = introspection::Answer {
            body: Arc::new(body.clone()),
            bytes,
            complexity: call
                .budget
                .complexity_spent()
                .saturating_sub(complexity_before),
        };
        cached.introspection.keep(cached.key, answer).await;
        state.metrics.introspection_answered(false);
    }
    let signals = Signals::of_errors(&response.errors);
    Outcome::written(body, signals, failed_before_execution)
}

/// Whether `principal` may run introspection queries at all.
fn may_introspect(state: &AppState, principal: &Principal) -> Result<(), AppError> {
    match principal {
        Principal::ApiKey(_) if !state.api_key_introspection => Err(AppError::forbidden(
            "introspection is off for API keys: read the published schema instead",
        )),
        Principal::Anonymous { .. } if !state.limits.anonymous_introspection => {
            Err(AppError::unauthenticated(
                "introspection is off for callers who are not signed in: read the published \
                 schema (`schema.graphql`, also printed by `tenantgate schema`), or sign in \
                 and send the access token",
            ))
        }
        _ => Ok(()),
    }
}

/// Keeps the first `max` errors and replaces the rest by one that says how many were
/// left out.
fn cap_errors(errors: &mut Vec<async_graphql::ServerError>, max: usize) {
    if errors.len() <= max {
        return;
    }
    let left_out = errors.len() - max;
    errors.truncate(max);
    let error = async_graphql::Error::from(AppError::ResponseTooLarge(format!(
        "{left_out} more errors were left out of this answer (at most {max} are sent)"
    )));
    let mut error = error.into_server_error(Default::default());
    crate::error::annotate(&mut error, "");
    errors.push(error);
}

/// The root fields an operation selects directly: response key (alias or name), and
/// whether the field is nullable.
fn root_fields(
    operation: &async_graphql::parser::types::OperationDefinition,
    kind: OperationKind,
    nullable: &HashSet<String>,
) -> Vec<(String, bool)> {
    use async_graphql::parser::types::Selection;
    let root = match kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
    };
    operation
        .selection_set
        .node
        .items
        .iter()
        .filter_map(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let key = field.alias.as_ref().unwrap_or(&field.name).node.to_string();
                let is_nullable = nullable.contains(&format!("{root}.{}", field.name.node));
                Some((key, is_nullable))
            }
            _ => None,
        })
        .collect()
}

/// async-graphql drops a root field that failed; the GraphQL spec wants `null` under its
/// key when the field is nullable, and `data: null` when it is not.
fn restore_null_root_fields(response: &mut async_graphql::Response, fields: &[(String, bool)]) {
    let failed: Vec<&str> = response
        .errors
        .iter()
        .filter_map(|error| match error.path.as_slice() {
            [async_graphql::PathSegment::Field(key)] => Some(key.as_str()),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        return;
    }
    if fields
        .iter()
        .any(|(key, nullable)| !nullable && failed.contains(&key.as_str()))
    {
        response.data = Value::Null;
        return;
    }
    if response.data == Value::Null {
        response.data = Value::Object(Default::default());
    }
    if let Value::Object(map) = &mut response.data {
        for (key, _) in fields {
            if failed.contains(&key.as_str()) {
                map.entry(async_graphql::Name::new(key))
                    .or_insert(Value::Null);
            }
        }
    }
}

/// Below the root, a failed field is dropped by async-graphql too; put `null` back under
/// its key when its parent object is there (the guarded fields are all nullable).
fn restore_null_nested_fields(response: &mut async_graphql::Response) {
    use async_graphql::PathSegment;
    let paths: Vec<Vec<PathSegment>> = response
        .errors
        .iter()
        .filter(|error| error.path.len() > 1)
        .map(|error| error.path.clone())
        .collect();
    for path in paths {
        let Some((PathSegment::Field(last), parents)) = path.split_last() else {
            continue;
        };
        let mut current = Some(&mut response.data);
        for segment in parents {
            current = match (segment, current) {
                (PathSegment::Field(name), Some(Value::Object(map))) => map.get_mut(name.as_str()),
                (PathSegment::Index(index), Some(Value::List(items))) => items.get_mut(*index),
                _ => None,
            };
        }
        if let Some(Value::Object(map)) = current {
            map.entry(async_graphql::Name::new(last))
                .or_insert(Value::Null);
        }
    }
}

/// What an answer's errors say that decides the HTTP answer around it.
#[derive(Clone, Copy, Default)]
struct Signals {
    /// The longest `retryAfter` among `RATE_LIMITED` and `UNAVAILABLE` errors, for the
    /// `Retry-After` header.
    retry_after: Option<u64>,
    /// The database's absence is what failed the request.
    unavailable: bool,
    /// Refused as too complex or too large: a batch stops there.
    over_limits: bool,
}

impl Signals {
    /// Read from a body (its `errors`).
    fn of(body: &serde_json::Value) -> Self {
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
    fn of_errors(errors: &[async_graphql::ServerError]) -> Self {
        if errors.is_empty() {
            return Signals::default();
        }
        Signals::of(&json!({ "errors": errors }))
    }
}

/// The caller's address. Behind `hops` trusted proxies (each appending the address it
/// saw to `X-Forwarded-For`), it is the entry the outermost trusted proxy added; entries
/// further left are whatever the client claimed and are ignored. With no trusted proxies,
/// the header is ignored entirely.
fn client_address(headers: &HeaderMap, peer: SocketAddr, hops: usize) -> String {
    if hops == 0 {
        return peer.ip().to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    match forwarded.len().checked_sub(hops) {
        Some(index) => forwarded[index].to_string(),
        // Fewer entries than trusted proxies: the request skipped a proxy.
        None => peer.ip().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_comes_from_trusted_proxies_only() {
        let peer: SocketAddr = "10.0.0.9:443".parse().expect("address");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        assert_eq!(client_address(&headers, peer, 0), "10.0.0.9");
        assert_eq!(client_address(&headers, peer, 1), "203.0.113.7");
        assert_eq!(client_address(&headers, peer, 2), "6.6.6.6");
        assert_eq!(client_address(&headers, peer, 3), "10.0.0.9");
        assert_eq!(client_address(&HeaderMap::new(), peer, 1), "10.0.0.9");
    }
}
