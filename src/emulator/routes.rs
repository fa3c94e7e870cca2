//! The requests the emulator answers: `POST /api-keys` and `GET /api-keys/{id}`, with or
//! without an `/organizations/{organizationId}` prefix.

use super::answer::{Answer, field_name, invalid, json_response, problem};
use super::{State, lock, rate};
use crate::util::{clock, noise};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use std::time::SystemTime;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1 << 20;

pub(super) async fn handle(state: &State, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    // `/organizations/{id}/api-keys...` or `/api-keys...`
    let (organization, rest) = match path.strip_prefix("/organizations/") {
        Some(tail) => match tail.split_once('/') {
            Some((org, rest)) => (org.to_owned(), format!("/{rest}")),
            None => (tail.to_owned(), String::new()),
        },
        None => ("default".to_owned(), path.clone()),
    };
    let prefix = path[..path.len() - rest.len()].to_owned();
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let base = format!("http://{host}{prefix}");

    if !authorized(state, &request) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid credentials: send REB-APIKEY or Authorization: Bearer.",
            &path,
        );
    }
    match (request.method(), rest.as_str()) {
        (&Method::POST, "/api-keys") => create(state, request, &organization, &base, &path).await,
        (&Method::GET, id_path) if id_path.starts_with("/api-keys/") => {
            let id = &id_path["/api-keys/".len()..];
            match lock(&state.keys).get(id) {
                Some(key) => json_response(StatusCode::OK, key, &[]),
                None => problem(
                    StatusCode::NOT_FOUND,
                    "Not Found",
                    "No such API key.",
                    &path,
                ),
            }
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The emulator serves POST /api-keys and GET /api-keys/{id}.",
            &path,
        ),
    }
}

fn authorized(state: &State, request: &Request<Incoming>) -> bool {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let given = header("reb-apikey").or_else(|| {
        header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    });
    match given {
        None => false,
        Some(credential) => {
            state.config.api_keys.is_empty()
                || state.config.api_keys.iter().any(|k| k == credential)
        }
    }
}

async fn create(
    state: &State,
    request: Request<Incoming>,
    organization: &str,
    base: &str,
    path: &str,
) -> Answer {
    let (limit, remaining) = match rate::admit(state, organization) {
        Ok(counts) => counts,
        Err(retry_at) => {
            let now = clock::unix_seconds(SystemTime::now());
            let wait = retry_at.saturating_sub(now).max(1);
            let mut answer = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Rate limit exceeded for this organization.",
                path,
            );
            let headers = answer.headers_mut();
            for (name, value) in [
                ("x-ratelimit-retry-after", retry_at.to_string()),
                ("retry-after", wait.to_string()),
                ("x-ratelimit-remaining", "0".to_owned()),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return answer;
        }
    };
    let json_content = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    // The reference documents 201, 401, 403, 422 and 429 for this operation, and its
    // validating mock answers 422 for a body it cannot take: so does the emulator.
    if !json_content {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid data",
            "Send the body as application/json.",
            path,
        );
    }
    let bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                "The body is larger than 1 MiB.",
                path,
            );
        }
    };
    let body: Value = match lenient_json(&bytes) {
        Ok(body) => body,
        Err(error) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid data",
                &format!("The body is not JSON: {error}"),
                path,
            );
        }
    };
    let problems = match &state.validator {
        Some(endpoint) => endpoint.server_side_problems(&body),
        None => Vec::new(),
    };
    let Value::Object(fields) = body else {
        return invalid(
            path,
            vec![json!({"field": "", "message": "The body must be an object."})],
        );
    };
    if !problems.is_empty() {
        let invalid_fields = problems
            .iter()
            .map(|p| json!({ "field": field_name(p), "message": p.message }))
            .collect();
        return invalid(path, invalid_fields);
    }

    let id = format!(
        "api_key_{}",
        noise::string(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)
    );
    let now = clock::rfc3339(SystemTime::now());
    let href = format!("{base}/api-keys/{id}");
    let mut key = Map::new();
    key.insert("id".into(), json!(id));
    key.insert(
        "description".into(),
        fields.get("description").cloned().unwrap_or(Value::Null),
    );
    key.insert(
        "type".into(),
        fields
            .get("type")
            .cloned()
            .unwrap_or_else(|| json!("secret")),
    );
    key.insert(
        "acl".into(),
        fields.get("acl").cloned().unwrap_or_else(|| json!([])),
    );
    key.insert(
        "allowedIps".into(),
        fields.get("allowedIps").cloned().unwrap_or(Value::Null),
    );
    key.insert("apiUser".into(), json!("emulator"));
    key.insert("createdTime".into(), json!(now));
    key.insert("updatedTime".into(), json!(now));
    key.insert("_links".into(), json!([{ "href": href, "rel": "self" }]));
    lock(&state.keys).insert(id.clone(), Value::Object(key.clone()));

    let secret = format!(
        "sk_sandbox_{}",
        noise::string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
    );
    key.insert("secretKey".into(), json!(secret));
    json_response(
        StatusCode::CREATED,
        &Value::Object(key),
        &[
            ("location", href),
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
        ],
    )
}

/// The body as JSON, taking what is valid JSON but no Rust string as the API does: a lone
/// surrogate escape (`"\ud800"`) becomes U+FFFD.
fn lenient_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(error) => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Err(error);
            };
            let repaired = replace_lone_surrogates(text);
            if repaired == text {
                return Err(error);
            }
            serde_json::from_str(&repaired).map_err(|_| error)
        }
    }
}

/// `\uD800`-`\uDFFF` escapes that are not half of a pair, replaced by `\uFFFD`.
fn replace_lone_surrogates(text: &str) -> String {
    let unit = |at: usize| -> Option<u16> {
        let hex = text.get(at + 2..at + 6)?;
        text[at..]
            .starts_with("\\u")
            .then(|| u16::from_str_radix(hex, 16).ok())?
    };
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        // An escaped backslash is not the start of an escape.
        if text[at..].starts_with("\\\\") {
            out.push_str("\\\\");
            at += 2;
            continue;
        }
        match unit(at) {
            Some(0xD800..=0xDBFF) if matches!(unit(at + 6), Some(0xDC00..=0xDFFF)) => {
                out.push_str(&text[at..at + 12]);
                at += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str("\\uFFFD");
                at += 6;
            }
            _ => {
                let next = text[at..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[at..at + next]);
                at += next;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        let body = lenient_json(br#"{"d": "a\ud800b\udc00c\ud83d\ude00\\ud800"}"#).ok();
        assert_eq!(
            body.as_ref().and_then(|b| b["d"].as_str()),
            Some("a\u{fffd}b\u{fffd}c\u{1f600}\\ud800")
        );
        assert!(lenient_json(b"{not json").is_err());
    }
}
