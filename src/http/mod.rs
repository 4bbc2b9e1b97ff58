//! HTTP: the only module that knows axum. The router and its layers, the operational
//! endpoints (`ops`), the caller read from the headers ([`caller`]), the
//! GraphQL-over-HTTP framing ([`graphql`]) and the server's own accept loop (`serve`).

pub mod caller;
mod graphiql;
pub mod graphql;
mod ops;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::ServeConfig;
use crate::error::AppError;
use crate::pipeline::error_body;
use crate::state::AppState;

pub use serve::{ConnectionLimits, shutdown_signal};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound listener with its router, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    address: SocketAddr,
    limits: ConnectionLimits,
}

impl Server {
    /// Binds `config.listen` and builds the router over `state`.
    pub async fn bind(state: Arc<AppState>, config: &ServeConfig) -> anyhow::Result<Self> {
        let router = router(state, config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        Ok(Server {
            listener,
            router,
            address,
            limits: ConnectionLimits {
                header_read_timeout: config.header_read_timeout(),
                max_connections: config.max_connections.clamp(
                    1,
                    tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize),
                ),
            },
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `stop` completes, then lets the requests in flight finish.
    pub async fn run(self, stop: impl std::future::Future<Output = ()> + Send + 'static) {
        serve::serve(self.listener, self.router, self.limits, stop).await;
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `response` with a `Retry-After` of `seconds`, when there is one.
fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A request refused before any operation ran, with `status`.
fn request_failure(status: StatusCode, error: &AppError) -> Response {
    reply(status, JSON, error_body(error).to_string().into_bytes())
}

/// Whether a client's `X-Request-Id` may be kept: 1 to 64 of `A-Z a-z 0-9 . _ -`.
fn fit_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn drop_unfit_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    if request
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|value| !fit_request_id(value))
    {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The router. A request meets, first to last, the masking of credential headers in
/// logs, the check of a client's request id, our own id where it has none, the trace
/// span (which records that id), the echo of the id on the answer, the request timeout,
/// CORS, compression, then the count of answers by status for `/metrics`, and the route.
fn router(state: Arc<AppState>, config: &ServeConfig) -> anyhow::Result<Router> {
    let mut cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static(caller::ORGANIZATION_HEADER),
            HeaderName::from_static(caller::API_KEY_HEADER),
        ]);
    if !config.cors_origins.is_empty() {
        let origins = config
            .cors_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin.trim()))
            .collect::<Result<Vec<_>, _>>()
            .context("reading TENANTGATE_CORS_ORIGINS")?;
        cors = cors.allow_origin(AllowOrigin::list(origins));
    }
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = %request.uri().path(),
                request_id = %request_id,
                // Recorded once known: by the caller extractor and by the pipeline.
                principal = tracing::field::Empty,
                organization = tracing::field::Empty,
            )
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    // One `layer` call with the whole stack: each `Router::layer` boxes the routes
    // anew, and a boxed service is cloned and its future boxed on every request, once
    // per layer; a `ServiceBuilder` is one box for all of them. Its layers run in the
    // order they are listed.
    let stack = tower::ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static(caller::API_KEY_HEADER),
        ]))
        // A client's id that is not short plain text is replaced by our own, since it
        // is echoed and logged.
        .layer(axum::middleware::map_request(drop_unfit_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout(),
        ))
        .layer(cors)
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_response,
        ));
    Ok(Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/{name}", get(graphiql::asset))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
        .layer(stack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(fit_request_id(&HeaderValue::from_static("req-1.a_B")));
        assert!(!fit_request_id(&HeaderValue::from_static("")));
        assert!(!fit_request_id(&HeaderValue::from_static("a b")));
        assert!(!fit_request_id(
            &HeaderValue::from_str(&"x".repeat(65)).expect("header")
        ));
    }
}
