//! GraphiQL for browsers on `GET /graphql`, served from the binary (`assets/graphiql/`):
//! no CDN, so it works without internet access, and a Content-Security-Policy that
//! admits scripts and styles from the gateway only, each pinned by its SHA-384.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::Digest;

/// Where the assets are served; their names carry their versions, so they may be
/// cached for good.
const PREFIX: &str = "/graphiql/";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

/// In the order the page loads them: React, then GraphiQL (which needs it), then the
/// start-up script.
const SCRIPTS: &[Asset] = &[
    Asset {
        name: "react-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
    },
    Asset {
        name: "graphiql-3.9.0.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.js"),
    },
    Asset {
        name: "init.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/init.js"),
    },
];

const STYLE: Asset = Asset {
    name: "graphiql-3.9.0.min.css",
    content_type: "text/css; charset=utf-8",
    body: include_bytes!("../../assets/graphiql/graphiql-3.9.0.min.css"),
};

/// The page's policy: scripts and styles from the gateway (GraphiQL's editor sets styles
/// inline, its fonts and icons are `data:` URLs), requests to the gateway, nothing else;
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `sha384-…`, the subresource integrity of `body`.
fn integrity(body: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(body))
    )
}

/// The page, with each asset's integrity (computed once).
fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let scripts: String = SCRIPTS
            .iter()
            .map(|script| {
                format!(
                    "  <script src=\"{PREFIX}{}\" integrity=\"{}\"></script>\n",
                    script.name,
                    integrity(script.body)
                )
            })
            .collect();
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>tenantgate · GraphiQL</title>
  <link rel="stylesheet" href="{PREFIX}{}" integrity="{}">
</head>
<body style="margin: 0">
  <div id="graphiql" style="height: 100vh">Loading GraphiQL…</div>
{scripts}</body>
</html>
"#,
            STYLE.name,
            integrity(STYLE.body)
        )
    })
}

/// The GraphiQL page, with its policy.
pub fn page_response() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page(),
    )
        .into_response()
}

/// `GET /graphiql/{name}`: one of the page's assets.
pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = SCRIPTS
        .iter()
        .chain(std::iter::once(&STYLE))
        .find(|asset| asset.name == name)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets_each_with_its_integrity() {
        let page = page();
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(
            !page.contains("<script>"),
            "no inline script: the policy forbids it"
        );
        for asset in SCRIPTS.iter().chain(std::iter::once(&STYLE)) {
            assert!(page.contains(&format!("{PREFIX}{}", asset.name)));
            assert!(page.contains(&integrity(asset.body)));
            assert!(!asset.body.is_empty());
        }
    }
}
