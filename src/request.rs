//! From rendered parameters to the HTTP request: URL, headers and body.
//!
//! Only the `server` parameter can choose the scheme, host, port and base path. Every other
//! value that reaches the URL is percent-encoded as a single path segment, and `.`/`..` are
//! refused, so no parameter can move the request somewhere else.

use crate::credentials::{Credentials, REDACTED};
use crate::definition::{AuthScheme, Operation, Server};
use crate::problem::{AppliedDefault, Findings, json_kind, push_token};
use crate::suggest;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The request that is (or would be) sent. It never holds a credential's value: the
/// credential header, when shown, says `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in the order they are sent, as a JSON object.
    #[serde(with = "header_map")]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub headers: Vec<(String, String)>,
    /// The JSON body, if the operation has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<Value>,
}

impl HttpRequest {
    /// Appends the credential header as a report shows it.
    pub(crate) fn show_credential(&mut self, scheme: &AuthScheme) {
        let shown = match scheme {
            AuthScheme::Bearer => format!("Bearer {REDACTED}"),
            AuthScheme::ApiKeyHeader { .. } => REDACTED.to_owned(),
        };
        self.headers.push((scheme.header().to_owned(), shown));
    }

    /// A shell command that sends this request with curl. Credentials are read from the
    /// environment variable named in the line, never written into it.
    pub fn to_curl(&self, credential: Option<(&str, &str)>) -> String {
        let mut line = format!("curl -X {} ", self.method);
        push_quoted(&mut line, &self.url);
        for (name, value) in &self.headers {
            if credential.is_some_and(|(header, _)| header.eq_ignore_ascii_case(name)) {
                continue;
            }
            line.push_str(" -H ");
            push_quoted(&mut line, &format!("{name}: {value}"));
        }
        if let Some((header, env_var)) = credential {
            let prefix = if header.eq_ignore_ascii_case("authorization") {
                "Bearer "
            } else {
                ""
            };
            line.push_str(&format!(" -H \"{header}: {prefix}${env_var}\""));
        }
        if let Some(body) = &self.body {
            line.push_str(" --data-raw ");
            push_quoted(&mut line, &body.to_string());
        }
        line
    }
}

/// POSIX single quoting: safe for any content, including `'`, `$` and newlines.
fn push_quoted(line: &mut String, text: &str) {
    line.reserve(text.len() + 2);
    line.push('\'');
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            line.push_str(r"'\''");
        }
        line.push_str(part);
    }
    line.push('\'');
}

mod header_map {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(headers.len()))?;
        for (name, value) in headers {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    out.push(pair);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// RFC 3986 unreserved characters pass; everything else in a path segment is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Headers the HTTP client owns: a step setting them could corrupt or redirect the request.
const CLIENT_HEADERS: [&str; 7] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
];

/// Builds the absolute URL. Problems go to `findings`; the URL is still returned with any
/// unresolved variable left as `{name}`, so the report shows as much as it can.
pub(crate) fn url(op: &Operation, params: &Map<String, Value>, findings: &mut Findings) -> String {
    let base = match base_url(op, params, findings) {
        Some(base) => base,
        None => return op.path.clone(),
    };
    let path = fill_template(
        &op.path,
        &op.path_params,
        params,
        "path parameter",
        findings,
    );
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The server part: a named server from the definition, or a base URL given by the step.
fn base_url(
    op: &Operation,
    params: &Map<String, Value>,
    findings: &mut Findings,
) -> Option<String> {
    let names = || {
        op.servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
    };
    let server: &Server = match params.get("server") {
        None => match op.servers.first() {
            Some(first) => first,
            None => {
                findings.error(
                    "",
                    "the definition names no server: give `server` as a base URL (http:// or https://)",
                );
                return None;
            }
        },
        Some(Value::String(given)) if given.contains("://") => {
            return custom_base(op, given, params, findings);
        }
        Some(Value::String(given)) => match op.servers.iter().find(|s| s.name == *given) {
            Some(server) => server,
            None => {
                findings.error(
                    "/server",
                    format!(
                        "unknown server {given:?}: expected one of {} or a base URL (https://...){}",
                        names().join(", "),
                        suggest::did_you_mean(given, names())
                    ),
                );
                return None;
            }
        },
        Some(other) => {
            findings.error(
                "/server",
                format!(
                    "server must be a string (a server name or a base URL), not {}",
                    json_kind(other)
                ),
            );
            return None;
        }
    };
    let mut filled = server.url.clone();
    for variable in &server.variables {
        let placeholder = format!("{{{}}}", variable.name);
        match segment_value(params, &variable.name, findings) {
            Some(value) => filled = filled.replace(&placeholder, &value),
            None if params.contains_key(&variable.name) => {}
            None => match &variable.default {
                Some(default) => {
                    let encoded = utf8_percent_encode(default, SEGMENT).to_string();
                    filled = filled.replace(&placeholder, &encoded);
                }
                None => findings.error(
                    "",
                    format!(
                        "missing parameter {:?}: the {} server needs it{}",
                        variable.name,
                        server.name,
                        variable
                            .description
                            .as_deref()
                            .map(|d| format!(" ({})", d.trim_end_matches('.')))
                            .unwrap_or_default()
                    ),
                ),
            },
        }
    }
    let used = |name: &str| server.variables.iter().any(|v| v.name == name);
    warn_unused_variables(op, params, used, &server.name, findings);
    Some(filled)
}

/// A base URL from the step. `{name}` in it takes a server variable, percent-encoded.
fn custom_base(
    op: &Operation,
    given: &str,
    params: &Map<String, Value>,
    findings: &mut Findings,
) -> Option<String> {
    let known = &op.variables;
    let mut used = Vec::new();
    let mut probe = given.to_owned();
    let mut rest = given;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        if !known.iter().any(|k| k == name) {
            findings.error(
                "/server",
                format!(
                    "the base URL has {{{name}}}, which is not a server variable{}",
                    if known.is_empty() {
                        String::new()
                    } else {
                        format!(" (known: {})", known.join(", "))
                    }
                ),
            );
            return None;
        }
        used.push(name.to_owned());
        probe = probe.replace(&format!("{{{name}}}"), "x");
        rest = &rest[open + close + 1..];
    }
    let parsed = match url::Url::parse(&probe) {
        Ok(parsed) => parsed,
        Err(error) => {
            findings.error(
                "/server",
                format!("{given:?} is not a valid base URL: {error}"),
            );
            return None;
        }
    };
    let problem = if !matches!(parsed.scheme(), "http" | "https") {
        Some(format!("scheme {:?} is not http or https", parsed.scheme()))
    } else if !parsed.username().is_empty() || parsed.password().is_some() {
        Some("user info in the URL is a credential; configure credentials instead".to_owned())
    } else if parsed.query().is_some() || parsed.fragment().is_some() {
        Some("a base URL has no query or fragment".to_owned())
    } else if parsed.host_str().is_none_or(str::is_empty) {
        Some("it has no host".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        findings.error(
            "/server",
            format!("{given:?} is not a usable base URL: {problem}"),
        );
        return None;
    }
    // A variable may only fill a path segment: the authority must not depend on parameters.
    let authority_end = given
        .find("://")
        .map(|at| at + 3)
        .and_then(|start| given[start..].find('/').map(|slash| start + slash))
        .unwrap_or(given.len());
    if given[..authority_end].contains('{') {
        findings.error(
            "/server",
            "server variables may appear only in the base URL's path, not in its host or port",
        );
        return None;
    }
    let mut filled = given.to_owned();
    for name in &used {
        match segment_value(params, name, findings) {
            Some(value) => filled = filled.replace(&format!("{{{name}}}"), &value),
            None if params.contains_key(name) => {}
            None => findings.error(
                "",
                format!("missing parameter {name:?}: the base URL {given} needs it"),
            ),
        }
    }
    warn_unused_variables(
        op,
        params,
        |name| used.iter().any(|u| u == name),
        given,
        findings,
    );
    Some(filled)
}

fn warn_unused_variables(
    op: &Operation,
    params: &Map<String, Value>,
    used: impl Fn(&str) -> bool,
    server: &str,
    findings: &mut Findings,
) {
    for name in &op.variables {
        if params.contains_key(name) && !used(name) {
            findings.warn(
                push_token("", name),
                format!("{name} is not used: server {server} has no {{{name}}}"),
            );
        }
    }
}

/// Substitutes `{name}` path parameters of the operation's path.
fn fill_template(
    template: &str,
    names: &[String],
    params: &Map<String, Value>,
    what: &str,
    findings: &mut Findings,
) -> String {
    let mut filled = template.to_owned();
    for name in names {
        match segment_value(params, name, findings) {
            Some(value) => filled = filled.replace(&format!("{{{name}}}"), &value),
            None if params.contains_key(name) => {}
            None => findings.error("", format!("missing {what} {name:?}")),
        }
    }
    filled
}

/// A parameter's value as one percent-encoded path segment, or `None` with a problem recorded
/// (or `None` without one when the parameter is absent).
fn segment_value(
    params: &Map<String, Value>,
    name: &str,
    findings: &mut Findings,
) -> Option<String> {
    let pointer = push_token("", name);
    match params.get(name)? {
        Value::String(value) if value.is_empty() => {
            findings.error(pointer, format!("{name} is empty"));
            None
        }
        Value::String(value) if value == "." || value == ".." => {
            findings.error(
                pointer,
                format!("{name} {value:?} would change the URL's path; it must name one segment"),
            );
            None
        }
        Value::String(value) => Some(utf8_percent_encode(value, SEGMENT).to_string()),
        other => {
            findings.error(
                pointer,
                format!("{name} must be a string, not {}", json_kind(other)),
            );
            None
        }
    }
}

/// The headers to send, in order: the definition's header parameters (defaults applied), the
/// step's own headers. The credential header is not among them: the executor adds it at send
/// time, and a test-request report shows it redacted.
pub(crate) fn headers(
    op: &Operation,
    params: &Map<String, Value>,
    credentials: Option<&Credentials>,
    findings: &mut Findings,
) -> Vec<(String, String)> {
    let given: Vec<(&String, &Value)> = match params.get("headers") {
        None => Vec::new(),
        Some(Value::Object(given)) => given.iter().collect(),
        Some(other) => {
            findings.error(
                "/headers",
                format!(
                    "headers must be an object of header names to strings, not {}",
                    json_kind(other)
                ),
            );
            Vec::new()
        }
    };
    let credential_headers: Vec<&str> = op.security.iter().map(AuthScheme::header).collect();
    let mut out: Vec<(String, String)> = Vec::new();

    for spec in &op.headers {
        let pointer = push_token("/headers", &spec.name);
        let provided = given
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&spec.name));
        match provided {
            Some((name, Value::String(value))) => {
                let pointer = push_token("/headers", name);
                if let Some(allowed) = &spec.allowed
                    && !allowed.iter().any(|a| same_media_type(a, value))
                {
                    findings.error(
                        pointer,
                        format!(
                            "{name} must be {} (the definition allows no other value), not {value:?}",
                            allowed.join(" or ")
                        ),
                    );
                }
            }
            Some(_) => {} // reported with the other headers below
            None => match &spec.default {
                Some(default) => {
                    findings.defaults.push(AppliedDefault {
                        path: pointer,
                        value: Value::String(default.clone()),
                    });
                    out.push((spec.name.clone(), default.clone()));
                }
                None if spec.required => findings.error(
                    "/headers",
                    format!("missing required header {:?}", spec.name),
                ),
                None => {}
            },
        }
    }

    let mut seen: Vec<String> = Vec::new();
    for (name, value) in given {
        let pointer = push_token("/headers", name);
        let lower = name.to_ascii_lowercase();
        if credential_headers
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
        {
            findings.error(
                pointer,
                format!(
                    "credentials do not belong in step parameters, which are stored in workflow definitions and histories; remove {name} and configure credentials instead ({} or {} for the CLI, a credentials source when embedded). The value is not shown",
                    crate::credentials::API_KEY_ENV,
                    crate::credentials::JWT_ENV
                ),
            );
            continue;
        }
        if seen.contains(&lower) {
            findings.error(
                pointer,
                format!("header {name} is given twice (names are case-insensitive)"),
            );
            continue;
        }
        seen.push(lower.clone());
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            findings.error(pointer, format!("{name:?} is not a valid header name"));
            continue;
        }
        if CLIENT_HEADERS.contains(&lower.as_str()) {
            findings.error(
                pointer,
                format!("{name} is set by the HTTP client, not by a step"),
            );
            continue;
        }
        let Value::String(value) = value else {
            findings.error(
                pointer,
                format!("header values must be strings, not {}", json_kind(value)),
            );
            continue;
        };
        if let Some(at) = value
            .bytes()
            .position(|b| !(b == b'\t' || (b' '..=b'~').contains(&b)))
        {
            findings.error(
                pointer,
                format!(
                    "header value has a byte that is not visible ASCII at byte {at} (line breaks and control characters could inject headers)"
                ),
            );
            continue;
        }
        out.push((name.clone(), value.clone()));
    }

    if let Some(credentials) = credentials {
        if credential_scheme(op, credentials).is_none() {
            findings.error(
                "",
                format!(
                    "the configured credentials ({}) are not accepted by this operation",
                    credentials.env_var()
                ),
            );
        }
    } else if !op.security.is_empty() {
        findings.warn(
            "",
            format!(
                "no credentials configured: the API would answer 401. Set {} (sent as {}) or {} (sent as Authorization: Bearer)",
                crate::credentials::API_KEY_ENV,
                op.security
                    .iter()
                    .find(|s| matches!(s, AuthScheme::ApiKeyHeader { .. }))
                    .map_or("REB-APIKEY", AuthScheme::header),
                crate::credentials::JWT_ENV
            ),
        );
    }
    out
}

/// The operation's scheme that carries these credentials.
pub(crate) fn credential_scheme<'o>(
    op: &'o Operation,
    credentials: &Credentials,
) -> Option<&'o AuthScheme> {
    op.security.iter().find(|scheme| {
        matches!(
            (scheme, credentials),
            (AuthScheme::ApiKeyHeader { .. }, Credentials::ApiKey(_))
                | (AuthScheme::Bearer, Credentials::Bearer(_))
        )
    })
}

/// `application/json; charset=utf-8` is `application/json`; case does not matter.
fn same_media_type(allowed: &str, given: &str) -> bool {
    let essence = given.split(';').next().unwrap_or("").trim();
    allowed.eq_ignore_ascii_case(essence)
}

/// RFC 9110 token characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        let quoted = |text: &str| {
            let mut line = String::new();
            push_quoted(&mut line, text);
            line
        };
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted("$HOME"), "'$HOME'");
        assert_eq!(quoted("'"), r"''\'''");
    }

    #[test]
    fn segments_are_encoded() {
        let encoded = utf8_percent_encode("a/b?c#d e.f", SEGMENT).to_string();
        assert_eq!(encoded, "a%2Fb%3Fc%23d%20e.f");
    }
}
