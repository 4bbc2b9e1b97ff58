//! Who is calling, read from the request's headers before its body is read: the
//! principal (`auth`), the organization the request names, and the client's address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{reply, with_retry_after};
use crate::auth::{self, Presented};
use crate::error::AppError;
use crate::identity::Principal;
use crate::pipeline::{Caller, Outcome};
use crate::state::AppState;
use crate::tenant::{ClientInfo, OrganizationChoice};

/// The header partners send their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The header that names the organization a request is for.
pub const ORGANIZATION_HEADER: &str = "x-organization-id";

/// The caller of a GraphQL request. Extracting it verifies the credentials; it fails
/// (with the answer to send) only when they could not be checked: the database is
/// unavailable, or the address presented too many keys that match nothing.
pub struct Extracted(pub Caller);

impl FromRequestParts<Arc<AppState>> for Extracted {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| *peer);
        let address = client_address(headers, peer, state.trusted_proxy_hops);
        let text = |name| {
            headers
                .get(name)
                .map(|value: &HeaderValue| value.to_str().ok())
        };
        let presented = Presented {
            authorization: text(header::AUTHORIZATION.as_str()),
            api_key: text(API_KEY_HEADER),
        };
        let principal = match auth::authenticate(
            presented,
            &state.tokens,
            state.system_secret.as_ref(),
            &state.api_keys,
            Some(&address),
        )
        .await
        {
            Ok(principal) => {
                if presented.api_key.is_some() {
                    state
                        .metrics
                        .key_verified(matches!(principal, Principal::ApiKey(_)));
                }
                principal
            }
            Err(error) => return Err(refused(state, error, &request_id)),
        };
        tracing::Span::current().record("principal", principal.kind());
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
        Ok(Extracted(Caller {
            principal,
            choice,
            client,
            request_id,
        }))
    }
}

/// The answer when credentials could not be checked.
fn refused(state: &AppState, error: AppError, request_id: &str) -> Response {
    if matches!(error, AppError::RateLimited { .. }) {
        state.metrics.key_verified(false);
        state.metrics.rate_limited();
    }
    // Checking a credential fails only for want of the database (503), a flood of
    // refused keys (429) or an internal error (500): the error table's statuses.
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let outcome = Outcome::failure(error, request_id);
    let retry_after = outcome.signals().retry_after;
    with_retry_after(reply(status, super::JSON, outcome.into_body()), retry_after)
}

/// The caller's address. Behind `hops` trusted proxies (each appending the address it
/// saw to `X-Forwarded-For`), it is the entry the outermost trusted proxy added; entries
/// further left are whatever the client claimed and are ignored. With no trusted proxies,
/// the header is ignored entirely.
fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>, hops: usize) -> String {
    // Without a peer (a router served without connection info, as in unit tests), the
    // address is unknown.
    let peer_ip = || peer.map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    if hops == 0 {
        return peer_ip();
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
        None => peer_ip(),
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
        assert_eq!(client_address(&headers, Some(peer), 0), "10.0.0.9");
        assert_eq!(client_address(&headers, Some(peer), 1), "203.0.113.7");
        assert_eq!(client_address(&headers, Some(peer), 2), "6.6.6.6");
        assert_eq!(client_address(&headers, Some(peer), 3), "10.0.0.9");
        assert_eq!(client_address(&HeaderMap::new(), Some(peer), 1), "10.0.0.9");
    }
}
