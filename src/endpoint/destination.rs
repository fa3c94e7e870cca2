//! Where a request may take the credentials: the definition's servers, loopback, and base
//! URLs the operator allowed. Workflow data can choose among them but never add to them: a
//! base URL's scheme, host and port are written in the step, not produced by an expression.

use crate::definition::{DefinitionError, DefinitionErrorKind, Operation, Server};
use crate::problem::Findings;
use std::net::IpAddr;

/// `scheme://host[:port]` as browsers and [`url::Url::origin`] write it, or `None` for what is
/// not an http(s) URL with a host.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed.origin().ascii_serialization())
}

/// A server URL template with its `{variables}` filled with a placeholder, so it parses.
pub(crate) fn template_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_variable = false;
    for c in template.chars() {
        match c {
            '{' => in_variable = true,
            '}' if in_variable => {
                in_variable = false;
                out.push('x');
            }
            _ if in_variable => {}
            _ => out.push(c),
        }
    }
    out
}

/// The origins credentials may be sent to, besides loopback.
#[derive(Debug, Clone, Default)]
pub(crate) struct Destinations {
    /// The definition's servers, as origins (for messages).
    defined: Vec<String>,
    /// These and the origins the operator allowed, as scheme, host and port: a request's
    /// parsed URL is compared with them without writing its origin out for every request.
    admitted: Vec<(String, String, u16)>,
    /// Per definition server: whether its scheme, host and port are written out (variables
    /// fill only its path) as an origin credentials may go to. A URL built on such a server
    /// needs no check.
    fixed: Vec<bool>,
}

/// An origin's scheme, host (as the URL parser serializes it) and port.
fn origin_parts(url: &url::Url) -> Option<(&str, &str, u16)> {
    Some((url.scheme(), url.host_str()?, url.port_or_known_default()?))
}

impl Destinations {
    pub fn new(operation: &Operation, allowed: &[String]) -> Result<Self, DefinitionError> {
        let defined: Vec<String> = operation.servers.iter().flat_map(server_origins).collect();
        let allowed = allowed
            .iter()
            .map(|base| {
                origin_of(base).ok_or_else(|| {
                    DefinitionError::new(
                        DefinitionErrorKind::AllowedServer,
                        format!("allowed server {base:?} is not an http(s) URL"),
                    )
                })
            })
            .collect::<Result<Vec<String>, _>>()?;
        let admitted = defined
            .iter()
            .chain(&allowed)
            .filter_map(|origin| {
                let parsed = url::Url::parse(origin).ok()?;
                let (scheme, host, port) = origin_parts(&parsed)?;
                Some((scheme.to_owned(), host.to_owned(), port))
            })
            .collect();
        let fixed = operation
            .servers
            .iter()
            .map(|server| {
                let authority = &server.url[..crate::endpoint::url::authority_end(&server.url)];
                !authority.contains('{') && origin_of(authority).is_some()
            })
            .collect();
        Ok(Destinations {
            defined,
            admitted,
            fixed,
        })
    }

    /// Whether every URL built on the definition's server `index` may receive credentials.
    pub fn fixed(&self, index: usize) -> bool {
        self.fixed.get(index).copied().unwrap_or(false)
    }

    /// Whether `url` may receive the credentials.
    fn admits(&self, url: &url::Url) -> bool {
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        };
        loopback
            || origin_parts(url).is_some_and(|(scheme, host, port)| {
                self.admitted
                    .iter()
                    .any(|(s, h, p)| s == scheme && h == host && *p == port)
            })
    }

    /// Checks the final URL of every request, and for a step's own base URL (`template`, as
    /// written before rendering) that its authority is literal. Reports a destination the
    /// credentials may not go to. Returns the URL as parsed when it is complete (no
    /// `{variable}` left), so that sending it needs no second parse; `built` is the URL
    /// stage's own parse of it, when it has one.
    pub fn check(
        &self,
        template: Option<&str>,
        rendered: &str,
        built: Option<url::Url>,
        findings: &mut Findings,
    ) -> Option<url::Url> {
        if let Some(literal) = template.and_then(crate::endpoint::render::before_first_expression)
            && !authority_is_complete(literal)
        {
            findings.error(
                "/server",
                "the server's scheme, host and port must be written in the step, not come from an expression (which could send the credentials anywhere): select a named server with an expression instead, or put the expression in the path",
            );
            return None;
        }
        let complete = !rendered.contains('{');
        let parsed = if let (true, Some(built)) = (complete, built) {
            Ok(built)
        } else if complete {
            url::Url::parse(rendered)
        } else {
            url::Url::parse(&template_placeholders(rendered))
        };
        let Ok(parsed) = parsed else {
            return None; // reported by the URL stage
        };
        if self.admits(&parsed) {
            return complete.then_some(parsed);
        }
        let origin = parsed.origin().ascii_serialization();
        findings.error(
            "/server",
            format!(
                "{origin} is not a server the credentials may go to: only the definition's servers ({}), loopback, and servers the operator allowed. Allow it with --allow-server {origin} (CLI) or EndpointBuilder::allow_server",
                if self.defined.is_empty() {
                    "none".to_owned()
                } else {
                    self.defined.join(", ")
                }
            ),
        );
        None
    }
}

/// The origins a definition server can have: one when its host is written out; one per
/// combination of `enum` values when variables fill the host (at most 256); none when a host
/// variable may be anything, since then only the operator can say where it may go.
fn server_origins(server: &Server) -> Vec<String> {
    const MOST: usize = 256;
    let authority = &server.url[..crate::endpoint::url::authority_end(&server.url)];
    let mut urls = vec![authority.to_owned()];
    for variable in &server.variables {
        let placeholder = format!("{{{}}}", variable.name);
        if !authority.contains(&placeholder) {
            continue;
        }
        if variable.allowed.is_empty() {
            return Vec::new();
        }
        urls = urls
            .iter()
            .flat_map(|url| {
                variable
                    .allowed
                    .iter()
                    .map(|value| url.replace(&placeholder, value))
            })
            .take(MOST)
            .collect();
    }
    urls.iter()
        .filter_map(|url| origin_of(&template_placeholders(url)))
        .collect()
}

/// Whether literal text before an expression already holds `scheme://host[:port]/`.
fn authority_is_complete(literal: &str) -> bool {
    literal
        .find("://")
        .is_some_and(|at| literal[at + 3..].contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_targets_are_origins() {
        assert_eq!(
            origin_of(&template_placeholders(
                "https://api-sandbox.rebilly.com/organizations/{organizationId}"
            ))
            .as_deref(),
            Some("https://api-sandbox.rebilly.com")
        );
        assert_eq!(
            origin_of("HTTP://127.0.0.1:80/x").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn an_authority_is_literal_only_up_to_its_slash() {
        assert!(authority_is_complete("https://api.example.com/"));
        assert!(authority_is_complete("https://api.example.com:8443/v1/"));
        assert!(!authority_is_complete("https://"));
        assert!(!authority_is_complete("https://api.example.com"));
        assert!(!authority_is_complete("http://"));
        assert!(!authority_is_complete(""));
    }
}
