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
    if !json_content {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
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
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
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
