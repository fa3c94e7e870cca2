//! The absolute URL: the server (a named one from the definition, or a base URL from the
//! step), its variables and the path parameters.
//!
//! Only the `server` parameter can choose the scheme, host, port and base path. Every other
//! value that reaches the URL is percent-encoded as a single path segment, and `.`/`..` are
//! refused, so no parameter can move the request somewhere else.

use crate::definition::{Operation, Server};
use crate::problem::{Findings, json_kind};
use crate::util::pointer::push_token;
use crate::util::{suggest, user_info};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Mutex;

/// RFC 3986 unreserved characters pass, and `@` (a path character, and one of the API's id
/// alphabet, which its servers match undecoded); everything else in a path segment is
/// encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// A query value: RFC 3986 unreserved characters pass, everything else is encoded, so a
/// value's own `&`, `=`, `,` or `#` cannot start another parameter.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request's URL: as text, which reports and curl lines show, and as parsed when the
/// parse of a step's own base URL could be reused.
pub(crate) struct BuiltUrl {
    pub text: String,
    /// Set when the step's base URL has no variables: it was parsed to be checked, and the
    /// path and query are added to that parse (or taken from the same base and URL last time)
    /// rather than the whole text parsed again (each parse of a host runs IDNA, even for an
    /// IP address).
    pub parsed: Option<url::Url>,
    /// The definition's server it was built on (its index), when the step names one.
    pub named_server: Option<usize>,
}

/// URLs parsed before. A workflow's steps send to the same few, and parsing one (IDNA runs
/// even for an IP address) costs more than the rest of the URL stage. Only what a text
/// determines is kept: every check on a parse is made again.
#[derive(Default)]
pub(crate) struct KnownUrls {
    /// Step base URLs found usable: the verdict on a base URL without variables depends on
    /// its text alone.
    bases: Recent,
    /// Whole URLs built on a step's base URL, by the base's text and the URL's: the path and
    /// query added to the base's parse, which is not always what parsing the URL's text gives
    /// (a base ending in a space or `\`).
    extended: Recent,
    /// Whole URLs parsed from their text (a named server's, or a base URL's with variables).
    whole: Recent,
}

impl KnownUrls {
    /// The parse of a whole URL's text, from last time.
    pub fn whole(&self, text: &str) -> Option<url::Url> {
        self.whole.get("", text)
    }

    /// Keeps the parse of a whole URL's text.
    pub fn remember_whole(&self, text: &str, parsed: &url::Url) {
        self.whole.remember("", text, parsed);
    }
}

/// Parses by the texts they came from, the most recent kept.
#[derive(Default)]
struct Recent(Mutex<Vec<(String, String, url::Url)>>);

impl Recent {
    /// How many are kept: the most recent.
    const MOST: usize = 8;

    fn get(&self, base: &str, text: &str) -> Option<url::Url> {
        let known = self.0.lock().ok()?;
        known
            .iter()
            .find(|(known_base, known, _)| known == text && known_base == base)
            .map(|(_, _, parsed)| parsed.clone())
    }

    /// Keeps a parse, unless its texts are longer than a URL may be (such a step is refused,
    /// and a few of them would hold megabytes).
    fn remember(&self, base: &str, text: &str, parsed: &url::Url) {
        if base.len() + text.len() > MAX_URL_BYTES {
            return;
        }
        if let Ok(mut known) = self.0.lock() {
            if known.len() >= Self::MOST {
                known.remove(0);
            }
            known.push((base.to_owned(), text.to_owned(), parsed.clone()));
        }
    }
}

/// Builds the absolute URL. Problems go to `findings`; the URL is still returned with any
/// unresolved variable left as `{name}`, so the report shows as much as it can.
pub(crate) fn url(
    op: &Operation,
    known: &KnownUrls,
    params: &Map<String, Value>,
    findings: &mut Findings,
) -> BuiltUrl {
    let (base, parsed_base, named_server) = match base_url(op, known, params, findings) {
        Some(base) => base,
        None => {
            return BuiltUrl {
                text: op.path.clone(),
                parsed: None,
                named_server: None,
            };
        }
    };
    let path = fill_template(
        &op.path,
        &op.path_params,
        params,
        "path parameter",
        findings,
    );
    let mut url = format!("{}{path}", base.trim_end_matches('/'));
    let query_start = url.len();
    append_query(&mut url, op, params, findings);
    let query = url.get(query_start + 1..).filter(|query| !query.is_empty());
    // The same step sends to the same URL each time: adding the path and query to the base's
    // parse costs more than finding what that gave last time.
    let parsed = parsed_base.map(|base_parse| {
        known.extended.get(&base, &url).unwrap_or_else(|| {
            let parsed = extend(base_parse, &path, query);
            known.extended.remember(&base, &url, &parsed);
            parsed
        })
    });
    if url.len() > MAX_URL_BYTES {
        // Reported at the parameter that contributes most, the one to shorten.
        let longest = ["server"]
            .into_iter()
            .chain(op.variables.iter().map(String::as_str))
            .chain(op.path_params.iter().map(String::as_str))
            .chain(op.query_params.iter().map(|q| q.name.as_str()))
            .filter_map(|name| Some((name, params.get(name)?.to_string().len())))
            .max_by_key(|(_, len)| *len);
        let (pointer, why) = match longest {
            Some((name, len)) => (push_token("", name), format!("; {name} is {len} bytes")),
            None => (String::new(), String::new()),
        };
        findings.error(
            pointer,
            format!(
                "the URL would be {} bytes, more than the {MAX_URL_BYTES} that HTTP servers are expected to accept (RFC 9110){why}",
                url.len()
            ),
        );
    }
    BuiltUrl {
        text: url,
        parsed,
        named_server,
    }
}

/// `base` with `path` (already percent-encoded) after its own path and `query` as its query:
/// what parsing `base` + `path` + `?query` as text gives, without parsing the host again.
fn extend(mut base: url::Url, path: &str, query: Option<&str>) -> url::Url {
    let base_path = base.path().trim_end_matches('/');
    if base_path.is_empty() {
        base.set_path(path);
    } else {
        let full_path = format!("{base_path}{path}");
        base.set_path(&full_path);
    }
    base.set_query(query);
    base
}

/// The longest URL a step may produce: RFC 9110 recommends that servers accept at least
/// 8000 octets, and many accept no more.
pub(crate) const MAX_URL_BYTES: usize = 8000;

/// The server part: a named server from the definition, or a base URL given by the step (and
/// its parse, when it has no variables); and the named server's index.
fn base_url<'a>(
    op: &'a Operation,
    known: &KnownUrls,
    params: &'a Map<String, Value>,
    findings: &mut Findings,
) -> Option<(Cow<'a, str>, Option<url::Url>, Option<usize>)> {
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
            return custom_base(op, known, given, params, findings)
                .map(|(base, parsed)| (base, parsed, None));
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
    let mut values = Vec::with_capacity(server.variables.len());
    for variable in &server.variables {
        match segment_value(params, &variable.name, findings) {
            Some(value) => values.push((variable.name.as_str(), value)),
            None if params.contains_key(&variable.name) => {}
            None => match &variable.default {
                Some(default) => values.push((
                    variable.name.as_str(),
                    utf8_percent_encode(default, SEGMENT).to_string(),
                )),
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
    let filled = fill(&server.url, &values);
    let used = |name: &str| server.variables.iter().any(|v| v.name == name);
    warn_unused_variables(op, params, used, &server.name, findings);
    let index = op.servers.iter().position(|s| std::ptr::eq(s, server));
    Some((filled, None, index))
}

/// Where `url`'s authority ends: the first `/` after `://`, or its end.
pub(crate) fn authority_end(url: &str) -> usize {
    url.find("://")
        .map(|at| at + 3)
        .and_then(|start| url[start..].find('/').map(|slash| start + slash))
        .unwrap_or(url.len())
}

/// A base URL from the step. `{name}` in it takes a server variable, percent-encoded. Its
/// parse is returned when it has no variables, for the request's URL to build on.
fn custom_base<'a>(
    op: &Operation,
    known: &KnownUrls,
    given: &'a str,
    params: &Map<String, Value>,
    findings: &mut Findings,
) -> Option<(Cow<'a, str>, Option<url::Url>)> {
    if let Some(parsed) = known.bases.get("", given) {
        warn_unused_variables(op, params, |_| false, given, findings);
        return Some((Cow::Borrowed(given), Some(parsed)));
    }
    let variables = &op.variables;
    // Each variable the base URL names, and how many times. The probe (each placeholder as
    // `x`) is written in the same pass: replacing each in turn would read the text again for
    // every one.
    let mut used: Vec<(&str, usize)> = Vec::new();
    let mut probe = String::with_capacity(given.len());
    let mut rest = given;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        if !variables.iter().any(|k| k == name) {
            findings.error(
                "/server",
                format!(
                    "the base URL has {{{name}}}, which is not a server variable{}",
                    if variables.is_empty() {
                        String::new()
                    } else {
                        format!(" (known: {})", variables.join(", "))
                    }
                ),
            );
            return None;
        }
        match used.iter_mut().find(|(seen, _)| *seen == name) {
            Some((_, count)) => *count += 1,
            None => used.push((name, 1)),
        }
        probe.push_str(&rest[..open]);
        probe.push('x');
        rest = &rest[open + close + 1..];
    }
    probe.push_str(rest);
    let parsed = match url::Url::parse(&probe) {
        Ok(parsed) => parsed,
        Err(error) => {
            findings.error(
                "/server",
                format!(
                    "{:?} is not a valid base URL: {error}",
                    user_info::redacted(given)
                ),
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
            // Less any user info: that is a credential, not for a report.
            format!(
                "{:?} is not a usable base URL: {problem}",
                user_info::redacted(given)
            ),
        );
        return None;
    }
    // A variable may only fill a path segment: the authority must not depend on parameters.
    if given[..authority_end(given)].contains('{') {
        findings.error(
            "/server",
            "server variables may appear only in the base URL's path, not in its host or port",
        );
        return None;
    }
    if used.is_empty() {
        known.bases.remember("", given, &parsed);
        warn_unused_variables(op, params, |_| false, given, findings);
        return Some((Cow::Borrowed(given), Some(parsed)));
    }
    let mut values = Vec::with_capacity(used.len());
    // What the base URL comes to, counted before it is written: a placeholder repeated many
    // times, each taking a long value, would otherwise be written out whole first.
    let mut filled_len = given.len();
    // The variable that adds the most, to be named if the URL would be too long.
    let mut most: Option<(&str, usize, usize)> = None;
    for &(name, count) in &used {
        match segment_value(params, name, findings) {
            Some(value) => {
                let added = value.len().saturating_mul(count);
                filled_len = filled_len
                    .saturating_add(added)
                    .saturating_sub((name.len() + 2) * count);
                if most.is_none_or(|(_, _, most)| added > most) {
                    most = Some((name, count, added));
                }
                values.push((name, value));
            }
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
        |name| used.iter().any(|(u, _)| *u == name),
        given,
        findings,
    );
    if filled_len > MAX_URL_BYTES {
        // Reported as `url` reports a long URL, at the parameter to shorten: the variable that
        // adds the most (with its length once percent-encoded and how often the base URL names
        // it) when it adds more than the server's own text, else the server.
        let literal_len = given.len().saturating_sub(
            used.iter()
                .map(|(name, count)| (name.len() + 2) * count)
                .sum::<usize>(),
        );
        let (pointer, why) = match most {
            Some((name, count, added)) if literal_len <= MAX_URL_BYTES && added > literal_len => {
                let times = if count > 1 {
                    format!(", {count} times in the base URL")
                } else {
                    String::new()
                };
                let encoded = added / count.max(1);
                (
                    push_token("", name),
                    format!("{name} is {encoded} bytes once encoded{times}"),
                )
            }
            _ => (
                "/server".to_owned(),
                format!("server is {} bytes", given.len()),
            ),
        };
        findings.error(
            pointer,
            format!(
                "the URL would be over {filled_len} bytes, more than the {MAX_URL_BYTES} that HTTP servers are expected to accept (RFC 9110); {why}"
            ),
        );
        return None;
    }
    Some((fill(given, &values), None))
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

/// Appends the query parameters the step gives, in the definition's order, in the form style:
/// `name=value`, an array as `name=a&name=b` or, unexploded, `name=a,b`. Types and ranges are
/// the schema's to check (see `validate`); here a value that cannot be written is reported.
fn append_query(
    url: &mut String,
    op: &Operation,
    params: &Map<String, Value>,
    findings: &mut Findings,
) {
    let mut separator = '?';
    for query in &op.query_params {
        let Some(value) = params.get(&query.name) else {
            if query.required {
                findings.error("", format!("missing query parameter {:?}", query.name));
            }
            continue;
        };
        let pointer = push_token("", &query.name);
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::String(text) => {
                    texts.push(utf8_percent_encode(text, QUERY_VALUE).to_string())
                }
                Value::Number(number) => texts.push(number.to_string()),
                Value::Bool(flag) => texts.push(flag.to_string()),
                other => {
                    findings.error(
                        pointer.clone(),
                        format!(
                            "{} cannot be sent in the query as {}",
                            query.name,
                            json_kind(other)
                        ),
                    );
                    return;
                }
            }
        }
        let name = utf8_percent_encode(&query.name, QUERY_VALUE).to_string();
        if query.explode {
            for text in texts {
                url.push(separator);
                url.push_str(&format!("{name}={text}"));
                separator = '&';
            }
        } else {
            url.push(separator);
            url.push_str(&format!("{name}={}", texts.join(",")));
            separator = '&';
        }
    }
}

/// Substitutes `{name}` path parameters of the operation's path.
fn fill_template<'t>(
    template: &'t str,
    names: &[String],
    params: &Map<String, Value>,
    what: &str,
    findings: &mut Findings,
) -> Cow<'t, str> {
    let mut values = Vec::with_capacity(names.len());
    for name in names {
        match segment_value(params, name, findings) {
            Some(value) => values.push((name.as_str(), value)),
            None if params.contains_key(name) => {}
            None => findings.error("", format!("missing {what} {name:?}")),
        }
    }
    fill(template, &values)
}

/// `template` with every `{name}` that has a value replaced by it, in one pass (what
/// replacing each placeholder in turn gives, since values are percent-encoded and hold no
/// brace); a placeholder without a value stays as written.
fn fill<'t>(template: &'t str, values: &[(&str, String)]) -> Cow<'t, str> {
    if values.is_empty() {
        return Cow::Borrowed(template);
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // A name holds no brace: a `{` before the next `}` (or no `}` at all) makes this one
        // literal, and the search goes on from there, so that each byte is read once.
        let value = match memchr::memchr2(b'{', b'}', after.as_bytes()) {
            Some(close) if after.as_bytes()[close] == b'}' => {
                let name = &after[..close];
                values
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, value)| (value, close))
            }
            _ => None,
        };
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A parameter's value as one percent-encoded path segment, or `None` with a problem recorded
/// (or `None` without one when the parameter is absent).
fn segment_value(
    params: &Map<String, Value>,
    name: &str,
    findings: &mut Findings,
) -> Option<String> {
    // Written out only for a problem: most values have none.
    let pointer = || push_token("", name);
    match params.get(name)? {
        Value::String(value) if value.is_empty() => {
            findings.error(pointer(), format!("{name} is empty"));
            None
        }
        Value::String(value) if value == "." || value == ".." => {
            findings.error(
                pointer(),
                format!("{name} {value:?} would change the URL's path; it must name one segment"),
            );
            None
        }
        Value::String(value) => Some(utf8_percent_encode(value, SEGMENT).to_string()),
        other => {
            findings.error(
                pointer(),
                format!("{name} must be a string, not {}", json_kind(other)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_extended_is_the_whole_text_parsed() {
        let bases = [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "https://API.Example.com:443/v1/",
            "http://[::1]:9/a b",
            "https://example.com/a/../b//",
            "http://h/%41/x@y",
            "http://xn--nxasmq6b.example/",
            "http://bücher.example/p",
        ];
        let paths = ["/api-keys", "/api-keys/a%20b", "/api-keys/k@x.y"];
        let queries = [None, Some("limit=5&sort=-createdTime%2Cid")];
        for base in bases {
            for path in paths {
                for query in queries {
                    let text = format!(
                        "{}{path}{}",
                        base.trim_end_matches('/'),
                        query.map(|q| format!("?{q}")).unwrap_or_default()
                    );
                    let parsed = url::Url::parse(base).expect("base");
                    assert_eq!(
                        extend(parsed, path, query).as_str(),
                        url::Url::parse(&text).expect("text").as_str(),
                        "{text}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_usable_base_urls_are_remembered() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        let step = |server: &str| {
            crate::Step::from_json(&format!(
                r#"{{"parameters": {{"server": "{server}", "body": {{"description": "d"}}}}}}"#
            ))
            .expect("step")
        };
        for _ in 0..2 {
            for (server, valid) in [
                ("http://127.0.0.1:9", true),
                ("ftp://127.0.0.1:9", false),
                ("http://user:pw@127.0.0.1:9", false),
                ("http://127.0.0.1:99999", false),
                ("http://127.0.0.1:9?x", false),
            ] {
                let report = endpoint.test_request(step(server), None);
                assert_eq!(report.valid, valid, "{server}: {:?}", report.errors);
            }
        }
        for i in 0..(Recent::MOST * 2) {
            let server = format!("http://127.0.0.{i}:9");
            assert!(endpoint.test_request(step(&server), None).valid);
            assert!(endpoint.known_urls.bases.0.lock().expect("lock").len() <= Recent::MOST);
            assert!(endpoint.known_urls.extended.0.lock().expect("lock").len() <= Recent::MOST);
        }
    }

    fn prepared_url(
        endpoint: &crate::Endpoint,
        server: &str,
        org: &str,
    ) -> Result<(String, url::Url), Vec<crate::Problem>> {
        let parameters = crate::util::json::object(serde_json::json!({
            "server": server,
            "organizationId": org,
            "body": { "description": "d" }
        }));
        let credentials = Some(crate::Credentials::ApiKey(crate::Secret::new("sk")));
        let prepared = endpoint.prepare(parameters, &Map::new(), credentials)?;
        let parsed = prepared.url.as_deref().expect("parsed").clone();
        Ok((prepared.request.url.clone(), parsed))
    }

    /// A URL built again is what it was the first time, for a named server and a base URL with
    /// variables (parsed whole) and for a step's base URL (its path added to the base's
    /// parse), and it is kept.
    #[test]
    fn a_url_built_again_is_what_it_was_the_first_time() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        let local = "http://127.0.0.1:9/v1";
        let with_variable = "http://127.0.0.1:9/o/{organizationId}";
        for sends in [
            [
                ("sandbox", "org-1"),
                ("sandbox", "org-2"),
                ("sandbox", "org-1"),
            ],
            [
                (with_variable, "org-1"),
                (with_variable, "org-2"),
                (with_variable, "org-1"),
            ],
            [
                (local, "org-1"),
                ("HTTP://LOCALHOST:80", "org-1"),
                (local, "org-1"),
            ],
        ] {
            let mut texts = Vec::new();
            for (server, org) in sends {
                let (text, parsed) = prepared_url(&endpoint, server, org).expect("prepared");
                let fresh = crate::Endpoint::builder().build().expect("endpoint");
                assert_eq!(prepared_url(&fresh, server, org).expect("fresh").1, parsed);
                let kept = &endpoint.known_urls;
                assert!(
                    kept.whole(&text).is_some() || kept.extended.get(server, &text).is_some(),
                    "{text}"
                );
                texts.push(text);
            }
            assert_eq!(texts[0], texts[2]);
            assert_ne!(texts[0], texts[1]);
        }
    }

    /// A base URL and a base URL with variables that spell the same text are not the same
    /// URL when the base ends in a space: each is what it would be alone, in either order.
    #[test]
    fn the_same_text_from_two_kinds_of_base_is_each_its_own() {
        let own = ("http://127.0.0.1:9/o/org-1 ", "org-1");
        let with_variable = ("http://127.0.0.1:9/o/{organizationId} ", "org-1");
        let alone = |(server, org): (&str, &str)| {
            let fresh = crate::Endpoint::builder().build().expect("endpoint");
            prepared_url(&fresh, server, org).expect("alone")
        };
        assert_eq!(alone(own).0, alone(with_variable).0);
        for order in [[own, with_variable], [with_variable, own]] {
            let endpoint = crate::Endpoint::builder().build().expect("endpoint");
            for (server, org) in order {
                assert_eq!(
                    prepared_url(&endpoint, server, org).expect("prepared"),
                    alone((server, org)),
                    "{server}"
                );
            }
        }
    }

    /// A kept parse is what is sent, and the destination check still judges it: a parse kept
    /// for the text of an allowed server, but of another host, is refused.
    #[test]
    fn a_kept_parse_is_still_checked() {
        let first = crate::Endpoint::builder().build().expect("endpoint");
        let (text, _) = prepared_url(&first, "sandbox", "org-1").expect("prepared");
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        let elsewhere = url::Url::parse("https://elsewhere.example/api-keys").expect("url");
        endpoint.known_urls.remember_whole(&text, &elsewhere);
        let refused = prepared_url(&endpoint, "sandbox", "org-1").expect_err("refused");
        assert!(
            refused
                .iter()
                .any(|p| p.path == "/server" && p.message.contains("elsewhere.example")),
            "{refused:?}"
        );
    }

    #[test]
    fn one_pass_fill_is_each_placeholder_replaced_in_turn() {
        let values = [("a", "1".to_owned()), ("bc", "x%7By".to_owned())];
        for template in [
            "",
            "/p",
            "/{a}/{bc}/{a}",
            "{a}{a}",
            "/{{a}}/{",
            "/{b}/{bc",
            "{}/{unknown}/}{a}",
            "{{{{a}",
            "{a{bc}{",
            "/{a}{{{{{{{{",
            "}}{a}}{",
        ] {
            let mut replaced = template.to_owned();
            for (name, value) in &values {
                replaced = replaced.replace(&format!("{{{name}}}"), value);
            }
            assert_eq!(fill(template, &values), replaced, "{template}");
        }
    }

    /// A base URL that repeats a variable is filled as often as it names it, and one that
    /// would grow past the URL limit is refused before it is written.
    #[test]
    fn a_base_url_is_measured_before_it_is_filled() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        let step = |repeats: usize, id: &str| {
            let server = format!("http://127.0.0.1:9{}", "/{organizationId}".repeat(repeats));
            crate::Step::from_json(
                &serde_json::json!({"parameters": {
                    "server": server, "organizationId": id, "body": {"description": "d"}
                }})
                .to_string(),
            )
            .expect("step")
        };
        let report = endpoint.test_request(step(3, "o-1"), None);
        assert!(report.valid, "{:?}", report.errors);
        assert_eq!(
            report.request.url,
            "http://127.0.0.1:9/o-1/o-1/o-1/api-keys"
        );
        // 1,000 placeholders of a 100-byte value: 101,018 bytes of URL (18 + 1,000 x 101),
        // never written.
        let report = endpoint.test_request(step(1000, &"o".repeat(100)), None);
        assert!(!report.valid);
        assert_eq!(
            report.errors[0].path, "/organizationId",
            "{:?}",
            report.errors
        );
        assert!(
            report.errors[0]
                .message
                .contains("would be over 101018 bytes")
                && report.errors[0].message.ends_with(
                    "organizationId is 100 bytes once encoded, 1000 times in the base URL"
                ),
            "{:?}",
            report.errors
        );
        assert!(report.request.url.len() < 1000, "{}", report.request.url);
        // Its own text too long: the server is what to shorten.
        let long = format!("http://127.0.0.1:9/{}/{{organizationId}}", "p".repeat(9000));
        let step = crate::Step::from_json(
            &serde_json::json!({"parameters": {
                "server": long, "organizationId": "o", "body": {"description": "d"}
            }})
            .to_string(),
        )
        .expect("step");
        let report = endpoint.test_request(step, None);
        assert_eq!(report.errors[0].path, "/server", "{:?}", report.errors);
        assert!(
            report.errors[0].message.ends_with("server is 9036 bytes"),
            "{}",
            report.errors[0].message
        );
    }

    #[test]
    fn segments_are_encoded() {
        let encoded = utf8_percent_encode("a/b?c#d e.f@g", SEGMENT).to_string();
        assert_eq!(encoded, "a%2Fb%3Fc%23d%20e.f@g");
    }
}
