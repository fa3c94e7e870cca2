//! The headers to send: the definition's header parameters with their defaults and allowed
//! values, the step's own headers within the rules of HTTP, and never a credential.

use crate::credentials::{API_KEY_ENV, Credentials, JWT_ENV};
use crate::definition::{AuthScheme, Operation};
use crate::problem::{AppliedDefault, Findings, json_kind};
use crate::util::pointer::push_token;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

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

/// The headers to send, in order: the definition's header parameters (defaults applied), the
/// step's own headers. The credential header is not among them: the executor adds it at send
/// time, and a test-request report shows it redacted.
pub(crate) fn headers(
    op: &Operation,
    params: &Map<String, Value>,
    credentials: Option<&Credentials>,
    no_credentials: Option<&str>,
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
    let mut out: Vec<(String, String)> = Vec::with_capacity(op.headers.len() + given.len());

    for spec in &op.headers {
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
                    if findings.keeps_defaults {
                        findings.defaults.push(AppliedDefault {
                            path: push_token("/headers", &spec.name),
                            value: Value::String(default.clone()),
                        });
                    }
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

    // Names compared without case, nothing allocated for a header that is fine, nor for a
    // problem past the ones a report lists.
    let mut seen = Names::with_capacity(given.len());
    for (name, value) in given {
        let pointer = || push_token("/headers", name);
        if op
            .credential_headers
            .iter()
            .any(|header| header.eq_ignore_ascii_case(name))
        {
            findings.error_with(|_| {
                (
                    pointer(),
                    format!(
                        "credentials do not belong in step parameters, which are stored in workflow definitions and histories; remove {name} and configure credentials instead ({} or {} for the CLI, a credentials source when embedded). The value is not shown",
                        API_KEY_ENV,
                        JWT_ENV
                    ),
                )
            });
            continue;
        }
        if !seen.insert(name) {
            findings.error_with(|_| {
                (
                    pointer(),
                    format!("header {name} is given twice (names are case-insensitive)"),
                )
            });
            continue;
        }
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            findings.error_with(|_| (pointer(), format!("{name:?} is not a valid header name")));
            continue;
        }
        if CLIENT_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            findings.error_with(|_| {
                (
                    pointer(),
                    format!("{name} is set by the HTTP client, not by a step"),
                )
            });
            continue;
        }
        let Value::String(value) = value else {
            findings.error_with(|_| {
                (
                    pointer(),
                    format!("header values must be strings, not {}", json_kind(value)),
                )
            });
            continue;
        };
        if let Some(at) = value
            .bytes()
            .position(|b| !(b == b'\t' || (b' '..=b'~').contains(&b)))
        {
            findings.error_with(|_| {
                (
                    pointer(),
                    format!(
                        "header value has a byte that is not visible ASCII at byte {at} (line breaks and control characters could inject headers)"
                    ),
                )
            });
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
    } else if let Some(warning) = no_credentials {
        findings.warn("", warning);
    }
    out
}

/// What a step without credentials is warned, for an operation that needs them: only the
/// schemes it accepts, each with the variable that supplies it. Written once per endpoint.
pub(crate) fn no_credentials_warning(op: &Operation) -> Option<String> {
    if op.security.is_empty() {
        return None;
    }
    let ways: Vec<String> = op
        .security
        .iter()
        .map(|scheme| match scheme {
            AuthScheme::ApiKeyHeader { header } => format!("{API_KEY_ENV} (sent as {header})"),
            AuthScheme::Bearer => format!("{JWT_ENV} (sent as Authorization: Bearer)"),
        })
        .collect();
    Some(format!(
        "no credentials configured: the API would answer 401. Set {}",
        ways.join(" or ")
    ))
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

/// Header names seen so far, compared without case: a list for the few headers of most steps,
/// a hash set past them, so that a step of many headers costs linear time, not quadratic.
struct Names<'a> {
    few: Vec<&'a str>,
    many: Option<HashSet<NoCase<'a>>>,
}

impl<'a> Names<'a> {
    /// Up to this many names, comparing with each is cheaper than hashing.
    const FEW: usize = 16;

    fn with_capacity(names: usize) -> Self {
        Names {
            few: Vec::with_capacity(names.min(Self::FEW)),
            many: (names > Self::FEW).then(|| HashSet::with_capacity(names)),
        }
    }

    /// Adds `name`; false if it was there already, in any case.
    fn insert(&mut self, name: &'a str) -> bool {
        match &mut self.many {
            Some(many) => many.insert(NoCase(name)),
            None if self.few.iter().any(|seen| seen.eq_ignore_ascii_case(name)) => false,
            None => {
                self.few.push(name);
                true
            }
        }
    }
}

/// A header name hashed and compared without ASCII case. The hasher is the standard library's
/// keyed one: a step cannot choose names that collide.
struct NoCase<'a>(&'a str);

impl PartialEq for NoCase<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for NoCase<'_> {}

impl Hash for NoCase<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
        // Ends the name, as `str`'s own hash does.
        state.write_u8(0xff);
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    /// Few names or many, a repeat is found whatever its case, and only a repeat.
    #[test]
    fn names_find_repeats_without_case() {
        for count in [1, Names::FEW - 2, Names::FEW, Names::FEW + 1, 1000] {
            let names: Vec<String> = (0..count).map(|i| format!("X-Name-{i}")).collect();
            let mut seen = Names::with_capacity(count + 2);
            assert_eq!(seen.many.is_some(), count + 2 > Names::FEW);
            for name in &names {
                assert!(seen.insert(name), "{name} is new");
            }
            let upper = names[count / 2].to_ascii_uppercase();
            let lower = names[0].to_ascii_lowercase();
            assert!(!seen.insert(&upper), "{upper} repeats");
            assert!(!seen.insert(&lower), "{lower} repeats");
            // A prefix, or the same letters run together with the next name's, is no repeat.
            assert!(seen.insert("X-Name-"));
            assert!(seen.insert("x-name-1x-name-2"));
        }
    }
}
