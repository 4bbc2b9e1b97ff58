//! The operation pipeline: what happens to one GraphQL operation between the HTTP
//! framing and the answer's bytes, in this order:
//!
//! 1. the document's own limits (nesting, size, depth, aliases, complexity against the
//!    request's shared budget), before anything else is spent on it;
//! 2. password work a mutation needs, before its transaction (`passwords::prework`);
//! 3. the request context: the caller bound to their organization in the operation's
//!    transaction (`tenant::RequestContext`);
//! 4. execution, with the request's loaders batching beside it (`graphql::batching`);
//! 5. commit (a mutation only when it succeeded as a whole), then the answer's repairs
//!    (`repairs`) and its bytes, in selection order (`graphql::response`).
//!
//! It knows nothing of HTTP: what it returns is an [`Outcome`] per operation, which
//! `http::graphql` turns into statuses and headers.

mod outcome;
mod repairs;

use std::sync::Arc;

use async_graphql::{Value, Variables};
use serde::Deserialize;

use crate::error::AppError;
use crate::graphql::introspection::{self, Introspection};
use crate::graphql::limits;
use crate::graphql::response::{self, Answer, Selected};
use crate::identity::Principal;
use crate::state::AppState;
use crate::tenant::{ClientInfo, OperationKind, OrganizationChoice, RequestContext};

pub use outcome::{Outcome, Signals, error_body};

/// One operation as clients send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawOperation {
    pub query: Option<serde_json::Value>,
    pub operation_name: Option<serde_json::Value>,
    pub variables: Option<serde_json::Value>,
}

/// How the operations came: over GET, only queries run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Who sent the request, as the HTTP layer found out before reading its body.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The organization the request names (`X-Organization-Id`), if any.
    pub choice: OrganizationChoice,
    pub client: ClientInfo,
    /// The request's id, for the log lines and the masked errors of this request.
    pub request_id: String,
}

/// Runs a request's operations (one, or a batch) in order, each in its own
/// transaction, and returns what became of each. A batch's members share one budget:
/// once one is refused as too complex or too large, the members after it are refused
/// unread (parsing them is the work an amplifying batch wants done). A mutation sent
/// over GET ends the request with [`Outcome::MethodNotAllowed`].
pub async fn run(
    state: &AppState,
    caller: &Caller,
    method: Method,
    operations: Vec<RawOperation>,
    batched: bool,
) -> Vec<Outcome> {
    let call = Call {
        state,
        method,
        request_id: &caller.request_id,
        budget: Arc::new(limits::Budget::new(&state.limits, batched)),
    };
    let mut outcomes = Vec::with_capacity(operations.len());
    let mut over_budget = false;
    for operation in operations {
        if over_budget {
            outcomes.push(Outcome::request_error(AppError::QueryTooComplex(
                "an earlier operation of this batch went over the batch's limits: this one was not run"
                    .into(),
            )));
            continue;
        }
        if let Principal::ApiKey(key) = &caller.principal
            && let Err(error) = state.api_keys.admit(key)
        {
            state.metrics.rate_limited();
            outcomes.push(Outcome::rate_limited(error, &caller.request_id));
            continue;
        }
        let outcome = execute(
            &call,
            operation,
            caller.principal.clone(),
            caller.choice.clone(),
            caller.client.clone(),
        )
        .await;
        if matches!(outcome, Outcome::MethodNotAllowed) {
            outcomes.push(outcome);
            break;
        }
        over_budget = batched && outcome.over_limits();
        outcomes.push(outcome);
    }
    outcomes
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

/// Runs one operation through every stage, in its own transaction.
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
        _ => return Outcome::malformed(AppError::invalid("query", "must be a string")),
    };
    let operation_name = match operation.operation_name {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name),
        Some(_) => {
            return Outcome::malformed(AppError::invalid("operationName", "must be a string"));
        }
    };
    let variables = match operation.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(value @ serde_json::Value::Object(_)) => {
            if let Err(error) = crate::graphql::text::check_variables(&value) {
                return Outcome::request_error(error);
            }
            Variables::from_json(value)
        }
        Some(_) => return Outcome::malformed(AppError::invalid("variables", "must be an object")),
    };

    let Some(introspection) = state.schemas.lean.data::<Arc<Introspection>>() else {
        return Outcome::failure(
            AppError::internal(anyhow::anyhow!("the schema has no introspection state")),
            call.request_id,
        );
    };
    let schema_size = match introspection.size().await {
        Ok(size) => size,
        Err(error) => return Outcome::failure(error, call.request_id),
    };
    let read = match state
        .documents
        .read(
            &query,
            operation_name.as_deref(),
            &state.limits,
            &schema_size,
        )
        .await
    {
        Ok(read) => read,
        Err(error) => return Outcome::request_error(error),
    };
    let shape = read.shape;
    if shape.introspects
        && let Err(error) = may_introspect(state, &principal)
    {
        return Outcome::request_error(error);
    }
    if let Err(error) = call.budget.admit(&shape) {
        return Outcome::request_error(error);
    }
    // The operation the name picks: reading the document found it, so it is there.
    let Ok(selected) = limits::select_operation(&read.document, operation_name.as_deref()) else {
        return Outcome::request_error(AppError::internal(anyhow::anyhow!(
            "the operation read is gone"
        )));
    };
    let kind = if limits::is_mutation(selected) {
        OperationKind::Mutation
    } else {
        OperationKind::Query
    };
    let planned = match kind {
        OperationKind::Mutation => {
            crate::schema::prework::plan(&read.document, selected, &variables)
        }
        OperationKind::Query => Vec::new(),
    };
    let root_fields = repairs::root_fields(selected, kind, &state.nullable_root_fields);
    let mut request = async_graphql::Request::new(query.clone()).variables(variables.clone());
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    // Execution consumes the request's document; the answer is written in the order of
    // the kept one's selections.
    request.set_parsed_query(read.document.clone());
    if kind == OperationKind::Mutation && call.method == Method::Get {
        return Outcome::MethodNotAllowed;
    }

    // Before the transaction: it would hold a connection (and on SQLite the writer
    // turn) while argon2 runs.
    let prepared = crate::schema::prework::prepare(
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
        Ok(context) => {
            if let Some(tenant) = context.bound_tenant() {
                tracing::Span::current().record(
                    "organization",
                    tracing::field::display(tenant.organization_id()),
                );
            }
            context.with_prepared(prepared)
        }
        Err(error) => return Outcome::failure(error, call.request_id),
    };
    // The context may have found the caller anonymous after all (an ended session).
    if shape.introspects
        && let Err(error) = may_introspect(state, context.principal())
    {
        return match context.finish(false).await {
            Ok(()) => Outcome::request_error(error),
            Err(error) => Outcome::failure(error, call.request_id),
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
            (Err(error), _) => Outcome::failure(error, call.request_id),
            (Ok(()), Err(error)) => Outcome::request_error(error),
            (Ok(()), Ok(())) => {
                state.metrics.introspection_answered(true);
                Outcome::Answered {
                    body: answer.body.as_ref().clone(),
                    signals: Signals::default(),
                }
            }
        };
    }

    // The request's copy is dropped with the request, so the context (and with it the
    // transaction) has a single owner again when execution ends.
    let mut dispatcher = Arc::default();
    if let Some(tenant) = context.bound_tenant() {
        let loaders = crate::graphql::loaders::loaders(tenant);
        dispatcher = loaders.dispatcher();
        request = request.data(loaders);
    }
    if !shape.repeats_keys {
        request = request.data(crate::graphql::plain::WriteAhead::default());
    }
    let context = Arc::new(context);
    let complexity_before = call.budget.complexity_spent();
    let schema = if call.budget.batched() || shape.introspects {
        &state.schemas.metered
    } else {
        &state.schemas.lean
    };
    let execution = schema.execute(request.data(context.clone()).data(call.budget.clone()));
    let mut response = crate::graphql::batching::batching(dispatcher, execution).await;
    let Ok(context) = Arc::try_unwrap(context) else {
        return Outcome::request_error(AppError::internal(anyhow::anyhow!(
            "the request context outlived its request"
        )));
    };

    let failed = !response.errors.is_empty();
    let mut commit = !(kind == OperationKind::Mutation && failed);
    if commit {
        repairs::restore_null_root_fields(&mut response, &root_fields);
        repairs::restore_null_nested_fields(&mut response);
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
    repairs::cap_errors(&mut response.errors, state.limits.max_errors);
    let written = response::to_bytes(&Answer {
        data: (!failed_before_execution).then_some(&response.data),
        selected: &Selected::root(&selected.selection_set.node, &read.document.fragments),
        errors: &response.errors,
    })
    .map_err(AppError::internal);
    let body = match written {
        Ok(body) => body,
        Err(error) => {
            return match context.finish(false).await {
                Ok(()) => Outcome::request_error(error),
                Err(error) => Outcome::failure(error, call.request_id),
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
        return Outcome::failure(error, call.request_id);
    }
    if let Some(error) = too_large {
        return Outcome::request_error(error);
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
    // A mutation rolled back because the database went away did nothing: like a request
    // that could not start, it answers 503 so that it is sent again. A query that lost
    // the database half-way keeps what it read (`200`, the missing fields `UNAVAILABLE`).
    let nothing_done = response.data == Value::Null && signals.unavailable;
    if failed_before_execution || nothing_done {
        Outcome::RequestError { body, signals }
    } else {
        Outcome::Answered { body, signals }
    }
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
