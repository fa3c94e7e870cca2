//! The requests the emulator answers, with or without an `/organizations/{organizationId}`
//! prefix: `GET` and `POST /api-keys`, and `GET`, `PUT` and `DELETE /api-keys/{id}`.

use super::answer::{Answer, empty, field_name, invalid, json_response, problem, with_headers};
use super::collection::Query;
use super::fault::LostAnswer;
use super::{State, lock, rate, store};
use crate::util::clock;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use std::time::SystemTime;

/// Request bodies larger than this are refused with 413.
const MAX_BODY: usize = 1 << 20;

/// The API's limit on an id chosen with PUT.
const MAX_ID: usize = 50;

const SERVED: &str = "The emulator serves GET and POST /api-keys, and GET, PUT and DELETE \
     /api-keys/{id}, with or without an /organizations/{organizationId} prefix.";

/// Whose keys a request is about, where their links point, and its path for problem details.
struct Target {
    organization: String,
    /// `http://host/organizations/{id}` or `http://host`: where `/api-keys...` is appended.
    base: String,
    /// The request's path, for `instance`.
    path: String,
}

/// Answers a request; `Err` when its answer is to be lost on purpose (hyper then drops the
/// connection).
pub(super) async fn handle(
    state: &State,
    request: Request<Incoming>,
) -> Result<Answer, LostAnswer> {
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
    let target = Target {
        organization,
        base: format!("http://{host}{prefix}"),
        path: path.clone(),
    };

    if !authorized(state, &request) {
        return Ok(problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid credentials: send REB-APIKEY or Authorization: Bearer.",
            &path,
        ));
    }
    let method = request.method().clone();
    match rest.strip_prefix("/api-keys") {
        Some("") => match method {
            Method::GET => Ok(list(state, &request, &target)),
            Method::POST => post(state, request, &target).await,
            _ => Ok(not_allowed("GET, POST", &path)),
        },
        Some(id) if id.starts_with('/') && !id[1..].contains('/') => {
            let id = &id[1..];
            match method {
                Method::GET => Ok(get(state, &target, id)),
                Method::PUT => put(state, request, &target, id).await,
                Method::DELETE => Ok(delete(state, &target, id)),
                _ => Ok(not_allowed("GET, PUT, DELETE", &path)),
            }
        }
        _ => Ok(problem(StatusCode::NOT_FOUND, "Not Found", SERVED, &path)),
    }
}

fn not_allowed(allow: &str, path: &str) -> Answer {
    let answer = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        &format!("This path takes {allow}. {SERVED}"),
        path,
    );
    with_headers(answer, &[("allow", allow.to_owned())])
}

fn no_such_key(path: &str) -> Answer {
    problem(
        StatusCode::NOT_FOUND,
        "Not Found",
        "No such API key in this organization.",
        path,
    )
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

/// GetApiKeyCollection: the organization's keys, filtered, sorted and paged.
fn list(state: &State, request: &Request<Incoming>, target: &Target) -> Answer {
    let query = match Query::parse(request.uri().query()) {
        Ok(query) => query,
        Err(fields) => return invalid(&target.path, fields),
    };
    let keys = lock(&state.keys).list(&target.organization);
    let (total, page) = query.page(keys);
    json_response(
        StatusCode::OK,
        &Value::Array(page.into_iter().map(Value::Object).collect()),
        &[
            ("pagination-total", total.to_string()),
            ("pagination-limit", query.limit.to_string()),
            ("pagination-offset", query.offset.to_string()),
        ],
    )
}

/// GetApiKey: the key, its secret included.
fn get(state: &State, target: &Target, id: &str) -> Answer {
    match lock(&state.keys).get(&target.organization, id) {
        Some(key) => json_response(StatusCode::OK, &Value::Object(key.clone()), &[]),
        None => no_such_key(&target.path),
    }
}

/// DeleteApiKey: 204, or 404 when there was no such key.
fn delete(state: &State, target: &Target, id: &str) -> Answer {
    // Every non-GET request counts against the organization's window.
    let counts = match rate::admit(state, &target.organization) {
        Ok(counts) => counts,
        Err(retry_at) => return too_many(target, retry_at),
    };
    if lock(&state.keys).remove(&target.organization, id) {
        empty(StatusCode::NO_CONTENT, &rate_headers(counts))
    } else {
        no_such_key(&target.path)
    }
}

/// PostApiKey: a new key at a generated id.
async fn post(
    state: &State,
    request: Request<Incoming>,
    target: &Target,
) -> Result<Answer, LostAnswer> {
    // Every non-GET request counts against the organization's window, refused ones too.
    let counts = match rate::admit(state, &target.organization) {
        Ok(counts) => counts,
        Err(retry_at) => return Ok(too_many(target, retry_at)),
    };
    let fields = match body(state, request, &target.path).await {
        Ok(fields) => fields,
        Err(answer) => return Ok(answer),
    };
    let id = store::new_id();
    let href = format!("{}/api-keys/{id}", target.base);
    let key = store::new_key(&id, &fields, &href);
    lock(&state.keys).insert(&target.organization, key.clone());
    state.faults.after_commit(true).await?;
    let mut headers = vec![("location", href)];
    headers.extend(rate_headers(counts));
    Ok(json_response(
        StatusCode::CREATED,
        &Value::Object(key),
        &headers,
    ))
}

/// PutApiKey: creates the key at `id` (201), or updates the one there (200).
async fn put(
    state: &State,
    request: Request<Incoming>,
    target: &Target,
    id: &str,
) -> Result<Answer, LostAnswer> {
    // Every non-GET request counts against the organization's window, refused ones too.
    let counts = match rate::admit(state, &target.organization) {
        Ok(counts) => counts,
        Err(retry_at) => return Ok(too_many(target, retry_at)),
    };
    if let Err(message) = valid_id(id) {
        return Ok(invalid(
            &target.path,
            vec![json!({ "field": "id", "message": message })],
        ));
    }
    let fields = match body(state, request, &target.path).await {
        Ok(fields) => fields,
        Err(answer) => return Ok(answer),
    };
    let href = format!("{}/api-keys/{id}", target.base);
    let (created, key) = lock(&state.keys).put(&target.organization, id, &fields, &href);
    state.faults.after_commit(created).await?;
    let (status, mut headers) = if created {
        (StatusCode::CREATED, vec![("location", href)])
    } else {
        (StatusCode::OK, Vec::new())
    };
    headers.extend(rate_headers(counts));
    Ok(json_response(status, &Value::Object(key), &headers))
}

/// The API's rule for a chosen id: `^[@~\-.\w]+$`, at most 50 characters.
fn valid_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '~' | '-' | '.');
    if id.is_empty() || !id.chars().all(allowed) {
        Err("An id is made of letters, digits and _ @ ~ - . only.".to_owned())
    } else if id.chars().count() > MAX_ID {
        Err(format!("An id is at most {MAX_ID} characters long."))
    } else {
        Ok(())
    }
}

/// The 429 for a non-GET request past the organization's rate window, which reopens at
/// `retry_at` (Unix seconds).
fn too_many(target: &Target, retry_at: u64) -> Answer {
    let now = clock::unix_seconds(SystemTime::now());
    let wait = retry_at.saturating_sub(now).max(1);
    let answer = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Rate limit exceeded for this organization.",
        &target.path,
    );
    with_headers(
        answer,
        &[
            ("x-ratelimit-retry-after", retry_at.to_string()),
            ("retry-after", wait.to_string()),
            ("x-ratelimit-remaining", "0".to_owned()),
        ],
    )
}

fn rate_headers((limit, remaining): (u32, u32)) -> [(&'static str, String); 2] {
    [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
    ]
}

/// A POST's or PUT's body, validated as the API validates it, or the answer refusing it.
async fn body(
    state: &State,
    request: Request<Incoming>,
    path: &str,
) -> Result<Map<String, Value>, Answer> {
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
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid data",
            "Send the body as application/json.",
            path,
        ));
    }
    let bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                "The body is larger than 1 MiB.",
                path,
            ));
        }
    };
    let body: Value = match lenient_json(&bytes) {
        Ok(body) => body,
        Err(error) => {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid data",
                &format!("The body is not JSON: {error}"),
                path,
            ));
        }
    };
    let problems = match &state.validator {
        Some(endpoint) => endpoint.server_side_problems(&body),
        None => Vec::new(),
    };
    let Value::Object(fields) = body else {
        return Err(invalid(
            path,
            vec![json!({"field": "", "message": "The body must be an object."})],
        ));
    };
    if !problems.is_empty() {
        let invalid_fields = problems
            .iter()
            .map(|p| json!({ "field": field_name(p), "message": p.message }))
            .collect();
        return Err(invalid(path, invalid_fields));
    }
    Ok(fields)
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
    fn chosen_ids_follow_the_apis_pattern() {
        for ok in ["k1", "a@b~c-d.e_F", &"x".repeat(50)] {
            assert!(valid_id(ok).is_ok(), "{ok}");
        }
        for wrong in ["", "a b", "a%2Fb", "é", "a/b", &"x".repeat(51)] {
            assert!(valid_id(wrong).is_err(), "{wrong}");
        }
    }

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
