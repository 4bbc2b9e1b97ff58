//! Operational endpoints: liveness, readiness, the signing keys and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};

use crate::state::AppState;

/// How long `/readyz` waits for the database before answering 503.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Counts every answer by status class for `/metrics`.
pub(super) async fn count_response(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.response(response.status().as_u16());
    response
}

/// `/metrics`: the Prometheus text format. It names no organization, user or key.
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (db_connections, db_idle_connections) = state.db.pool_state();
    let page = state.metrics.render(&crate::metrics::Gauges {
        sql_statements: state.db.statements().executed(),
        api_key_cache_entries: state.api_keys.cached().await,
        db_connections,
        db_idle_connections,
        password_work_in_transaction: state.services.passwords.late_work().count(),
        password_resets_in_flight: crate::metrics::password_resets_in_flight(),
    });
    let mut response = page.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

pub(super) async fn healthz() -> &'static str {
    "ok"
}

pub(super) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if tokio::time::timeout(READINESS_TIMEOUT, state.db.ping())
        .await
        .unwrap_or(false)
    {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

pub(super) async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let mut response = Json(state.tokens.keys().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
