//! Who may call the API and what the panel may load: the `Host` guard (against DNS
//! rebinding), CORS origins, the run targets' origins, and the panel's CSP.

use super::error::{ApiError, BuildError, BuildErrorKind};
use super::state::Shared;
use crate::endpoint::destination::origin_of;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// An allowed `Host` name as [`host_name`] will compare it: lower case, IPv6 in brackets, no
/// port.
pub(super) fn host_entry(name: &str) -> Result<String, BuildError> {
    let name = name.trim().to_ascii_lowercase();
    if name.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(format!("[{name}]"));
    }
    if name.is_empty() || host_name(&name) != name || name.contains('/') {
        return Err(BuildError::new(
            BuildErrorKind::AllowedHost,
            format!(
                "allowed host {name:?} is not a host name: give it without scheme, port or path"
            ),
        ));
    }
    Ok(name)
}

/// The panel's CSP: its own inline script and style, by hash, and requests to this server;
/// nothing else. A hash rather than `'unsafe-inline'` means no injected script could run.
pub(super) fn panel_csp(page: &str) -> String {
    let hash = |tag: &str| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = page.find(&open)? + open.len();
        let end = start + page[start..].find(&close)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &page.as_bytes()[start..end]);
        Some(format!(
            "'sha256-{}'",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest.as_ref())
        ))
    };
    let none = || "'none'".to_owned();
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash("script").unwrap_or_else(none),
        hash("style").unwrap_or_else(none),
    )
}

pub(super) fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, BuildError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            // Browsers send the serialized origin (lower-case host, no default port): compare
            // with that, and refuse anything that is more than an origin.
            let parsed = url::Url::parse(origin).ok().filter(|u| {
                u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && !origin.ends_with('/')
            });
            let value = parsed
                .and_then(|u| origin_of(u.as_str()))
                .and_then(|o| HeaderValue::from_str(&o).ok());
            let Some(value) = value else {
                return Err(BuildError::new(
                    BuildErrorKind::CorsOrigin,
                    format!(
                        "CORS origin {origin:?} is not an origin: give scheme://host[:port] with no path, or *"
                    ),
                ));
            };
            values.push(value);
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// Refuses requests for another `Host` (see [`EditorApiBuilder::allowed_host`]).
pub(super) async fn guard(State(state): Shared, request: Request, next: Next) -> Response {
    if !state.allowed_hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if !state.allowed_hosts.contains(&host) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                format!(
                    "this server answers only for the hosts {:?}",
                    state.allowed_hosts
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// `Host` without its port, lower case: `LocalHost:8080` -> `localhost`, `[::1]:80` -> `[::1]`.
fn host_name(host: &str) -> String {
    let name = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    };
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::PANEL;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("LocalHost:8080"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:4000"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
    }

    #[test]
    fn allowed_hosts_are_compared_as_host_names() {
        assert_eq!(
            host_entry("Editor.Internal").ok().as_deref(),
            Some("editor.internal")
        );
        assert_eq!(host_entry("::1").ok().as_deref(), Some("[::1]"));
        assert_eq!(host_entry("[::1]").ok().as_deref(), Some("[::1]"));
        assert_eq!(host_entry("10.0.0.5").ok().as_deref(), Some("10.0.0.5"));
        for bad in ["localhost:8080", "http://x", "", "a/b"] {
            assert!(host_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_panel_csp_allows_its_own_script_and_style_by_hash() {
        let csp = panel_csp(PANEL);
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        // A different script gets a different hash.
        assert_ne!(csp, panel_csp(&PANEL.replace("\"use strict\";", "")));
        assert!(panel_csp("<p>no script</p>").contains("script-src 'none'"));
    }

    #[test]
    fn cors_origins_must_be_origins() {
        assert!(cors_layer(&["https://editor.example.com".into()]).is_ok());
        assert!(cors_layer(&["https://Editor.Example.com:443".into()]).is_ok());
        assert!(cors_layer(&["http://localhost:5173".into()]).is_ok());
        assert!(cors_layer(&["*".into()]).is_ok());
        for bad in [
            "editor.example.com",
            "https://editor.example.com/",
            "https://x/path",
            "ftp://x",
            "https://user:pw@editor.example.com",
            "https://editor.example.com#x",
        ] {
            let error = cors_layer(&[bad.into()]).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|m| m.contains("not an origin")),
                "{bad}: {error:?}"
            );
        }
    }
}
