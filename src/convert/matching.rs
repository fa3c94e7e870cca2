//! A request as written elsewhere (method, URL, headers, body) to a step of the operation of
//! the definition that has that method and path: server, server variables, path and query
//! parameters, extra headers and body.

use super::error::{ConvertError, ConvertErrorKind};
use crate::definition::{Definition, Operation, Selector};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// What curl and Conductor tasks both come down to.
#[derive(Debug, Default)]
pub(crate) struct RawRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// The step for `request`, its operation, and what was left out on the way.
pub(crate) fn to_step(
    definition: &Definition,
    request: RawRequest,
    warnings: &mut Vec<String>,
) -> Result<(Map<String, Value>, Operation), ConvertError> {
    let method = request.method.to_ascii_uppercase();
    let (base, segments, query) = split_url(&request.url);
    // User info in the URL is a credential: it goes nowhere, as `-u` does not.
    let base = match crate::util::user_info::split(&base) {
        Some((scheme, _, rest)) => {
            warnings.push(
                "left out the user name and password of the URL: credentials come from REBILLY_API_KEY or REBILLY_JWT, never from a step".to_owned(),
            );
            format!("{scheme}{rest}")
        }
        None => base,
    };
    let (operation, matched) = find_operation(definition, &method, &segments)?;
    let mut parameters = Map::new();

    let prefix = &segments[..segments.len() - matched];
    let base = match (prefix.is_empty(), base.is_empty()) {
        (true, _) => base,
        (false, true) => prefix.join("/"),
        (false, false) => format!("{base}/{}", prefix.join("/")),
    };
    match named_server(&operation, &base) {
        Some((name, variables)) => {
            parameters.insert("server".into(), Value::String(name));
            for (variable, value) in variables {
                parameters.insert(variable, Value::String(value));
            }
        }
        None => {
            parameters.insert("server".into(), Value::String(base));
        }
    }
    let template = template_segments(operation.path());
    for (template, segment) in template.iter().zip(&segments[segments.len() - matched..]) {
        if let Some(name) = variable_name(template) {
            parameters.insert(name.to_owned(), Value::String(decode(segment)));
        }
    }
    query_parameters(&operation, query, &mut parameters, warnings);

    let media_type = operation
        .body
        .as_ref()
        .map_or("application/json", |body| body.media_type.as_str());
    let mut headers = Map::new();
    for (name, value) in request.headers {
        let lower = name.to_ascii_lowercase();
        // Headers that carry a credential are never copied into a step.
        if operation
            .credential_headers
            .iter()
            .any(|header| header.eq_ignore_ascii_case(&name))
        {
            warnings.push(format!(
                "left out the {name} header: credentials come from REBILLY_API_KEY or REBILLY_JWT, never from a step"
            ));
            continue;
        }
        if lower == "content-type" && value.trim().eq_ignore_ascii_case(media_type) {
            continue;
        }
        if headers.insert(name.clone(), Value::String(value)).is_some() {
            warnings.push(format!(
                "the {name} header is given twice: the last one is kept"
            ));
        }
    }
    if !headers.is_empty() {
        parameters.insert("headers".into(), Value::Object(headers));
    }
    if let Some(body) = request.body {
        if operation.body.is_some() {
            parameters.insert("body".into(), body);
        } else {
            warnings.push(format!(
                "left out the body: {} {} takes none",
                operation.method(),
                operation.path()
            ));
        }
    }
    Ok((parameters, operation))
}

/// The URL's base (scheme and authority), path segments and query. Expressions (`${...}`)
/// are kept as written wherever they are.
fn split_url(url: &str) -> (String, Vec<String>, &str) {
    let url = url.split('#').next().unwrap_or_default();
    let (before_query, query) = url.split_once('?').unwrap_or((url, ""));
    let (base, path) = match before_query.find("://") {
        Some(at) => {
            let after = &before_query[at + 3..];
            let end = after.find('/').map_or(before_query.len(), |i| at + 3 + i);
            (before_query[..end].to_owned(), &before_query[end..])
        }
        // curl's own default, for `localhost:4010/api-keys`; an expression stays one.
        None if !before_query.starts_with("${") => {
            let end = before_query.find('/').unwrap_or(before_query.len());
            (
                format!("http://{}", &before_query[..end]),
                &before_query[end..],
            )
        }
        None => (String::new(), before_query),
    };
    let segments = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(str::to_owned)
        .collect();
    (base, segments, query)
}

fn template_segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn variable_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// A matching operation: its score (segments, literal segments), operationId, path and method.
type Candidate<'d> = ((usize, usize), Option<&'d str>, &'d str, String);

/// The operation whose path template ends the URL's path, the longest and most literal one
/// first, and how many segments it took.
fn find_operation(
    definition: &Definition,
    method: &str,
    segments: &[String],
) -> Result<(Operation, usize), ConvertError> {
    let mut best: Option<Candidate<'_>> = None;
    let mut other_methods = Vec::new();
    for (id, op_method, path) in definition.operations() {
        let template = template_segments(path);
        if template.len() > segments.len() {
            continue;
        }
        let tail = &segments[segments.len() - template.len()..];
        let fits = template
            .iter()
            .zip(tail)
            .all(|(t, s)| match variable_name(t) {
                Some(_) => !s.is_empty(),
                None => t == s,
            });
        if !fits {
            continue;
        }
        if op_method != method {
            other_methods.push(format!("{op_method} {path}"));
            continue;
        }
        let literals = template
            .iter()
            .filter(|t| variable_name(t).is_none())
            .count();
        let score = (template.len(), literals);
        if best.as_ref().is_none_or(|(b, ..)| score > *b) {
            best = Some((score, id, path, op_method));
        }
    }
    let Some(((matched, _), id, path, op_method)) = best else {
        let path = format!("/{}", segments.join("/"));
        let hint = if other_methods.is_empty() {
            let known: Vec<String> = definition
                .operations()
                .iter()
                .map(|(_, m, p)| format!("{m} {p}"))
                .collect();
            format!("it has: {}", known.join(", "))
        } else {
            format!("that path takes {}", other_methods.join(", "))
        };
        return Err(ConvertError::new(
            ConvertErrorKind::NoOperation,
            format!("no operation of the definition is {method} {path}; {hint}"),
        ));
    };
    let selector = match id {
        Some(id) => Selector::OperationId(id.to_owned()),
        None => Selector::Route {
            method: op_method,
            path: path.to_owned(),
        },
    };
    let operation = definition
        .operation(Some(&selector))
        .map_err(|e| ConvertError::new(ConvertErrorKind::NoOperation, e.to_string()))?;
    Ok((operation, matched))
}

/// The definition server whose URL template `base` fills, by name, with its variables.
fn named_server(operation: &Operation, base: &str) -> Option<(String, Vec<(String, String)>)> {
    operation.servers.iter().find_map(|server| {
        let variables = fill(server.url.trim_end_matches('/'), base.trim_end_matches('/'))?;
        Some((server.name.clone(), variables))
    })
}

/// The values of `{name}` variables that make `template` read `text`; each value is one
/// non-empty path segment.
fn fill(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    let mut variables = Vec::new();
    let mut rest_template = template;
    let mut rest = text;
    loop {
        match rest_template.find('{') {
            None => return (rest_template == rest).then_some(variables),
            Some(open) => {
                let literal = &rest_template[..open];
                rest = rest.strip_prefix(literal)?;
                let close = rest_template[open..].find('}')? + open;
                let name = &rest_template[open + 1..close];
                rest_template = &rest_template[close + 1..];
                // The value runs to the next literal character (or the segment's end).
                let stop = rest_template.chars().next();
                let end = rest
                    .char_indices()
                    .find(|(_, c)| *c == '/' || Some(*c) == stop)
                    .map_or(rest.len(), |(i, _)| i);
                if end == 0 {
                    return None;
                }
                variables.push((name.to_owned(), decode(&rest[..end])));
                rest = &rest[end..];
            }
        }
    }
}

/// The query's parameters, typed by the operation's schema for each: an array is split on
/// commas (or collected from repeats, when exploded), a number or boolean parsed.
fn query_parameters(
    operation: &Operation,
    query: &str,
    parameters: &mut Map<String, Value>,
    warnings: &mut Vec<String>,
) {
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), decode(value));
        let Some(spec) = operation.query_params.iter().find(|q| q.name == name) else {
            warnings.push(format!(
                "left out the query parameter {name:?}: {} {} has no such parameter",
                operation.method(),
                operation.path()
            ));
            continue;
        };
        let schema_type = operation
            .param_schemas
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, schema)| schema.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let typed = match schema_type {
            "array" => {
                // A repeat of an exploded array adds to the items so far, taken rather than
                // copied: a query of many repeats costs linear time.
                let mut items: Vec<Value> = match (spec.explode, parameters.get_mut(&name)) {
                    (true, Some(Value::Array(items))) => std::mem::take(items),
                    _ => Vec::new(),
                };
                if spec.explode {
                    items.push(Value::String(value));
                } else {
                    items.extend(value.split(',').map(|item| Value::String(item.to_owned())));
                }
                Value::Array(items)
            }
            "integer" | "number" | "boolean" => match serde_json::from_str::<Value>(&value) {
                Ok(parsed @ (Value::Number(_) | Value::Bool(_))) => parsed,
                _ => Value::String(value),
            },
            _ => Value::String(value),
        };
        let repeated = parameters.insert(name.clone(), typed).is_some();
        if repeated && !(schema_type == "array" && spec.explode) {
            warnings.push(format!(
                "the query parameter {name:?} is given twice: the last one is kept"
            ));
        }
    }
}

/// Percent-decoded text; bytes that are not UTF-8 stay encoded.
fn decode(text: &str) -> String {
    match percent_decode_str(text).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_templates_are_filled() {
        let filled = fill(
            "https://api-sandbox.rebilly.com/organizations/{organizationId}",
            "https://api-sandbox.rebilly.com/organizations/org%201",
        );
        assert_eq!(
            filled,
            Some(vec![("organizationId".into(), "org 1".into())])
        );
        assert_eq!(
            fill(
                "https://api.rebilly.com/organizations/{o}",
                "https://api.rebilly.com/x/y"
            ),
            None
        );
        assert_eq!(
            fill("https://{host}.example.com", "https://a.example.com"),
            Some(vec![("host".into(), "a".into())])
        );
    }

    #[test]
    fn urls_keep_their_expressions() {
        let (base, segments, query) =
            split_url("https://h.example/organizations/${workflow.input.org}/api-keys?limit=5#x");
        assert_eq!(base, "https://h.example");
        assert_eq!(
            segments,
            ["organizations", "${workflow.input.org}", "api-keys"]
        );
        assert_eq!(query, "limit=5");
        let (base, segments, _) = split_url("${workflow.input.base}/api-keys");
        assert_eq!(base, "");
        assert_eq!(segments, ["${workflow.input.base}", "api-keys"]);
        let (base, _, _) = split_url("localhost:4010/api-keys");
        assert_eq!(base, "http://localhost:4010");
    }
}
