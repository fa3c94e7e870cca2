//! Answers in the API's shapes: problem details (RFC 9457) and JSON bodies.

use crate::problem::Problem;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub(super) type Answer = Response<Full<Bytes>>;

/// The API's name for the field a problem is about. A missing field is reported at its parent
/// object; the API names the field itself.
pub(super) fn field_name(problem: &Problem) -> String {
    let parent = dotted(&problem.path);
    let missing = problem
        .message
        .strip_prefix("missing required field \"")
        .and_then(|rest| rest.strip_suffix('"'));
    match missing {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent,
    }
}

/// `/body/acl/0/permissions` to the API's dot notation, `acl.0.permissions`.
fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches("/body")
        .trim_start_matches('/')
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) fn invalid(path: &str, fields: Vec<Value>) -> Answer {
    let mut body = problem_body(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid data",
        "Invalid data was sent.",
        path,
    );
    body["invalidFields"] = Value::Array(fields);
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &body, &[])
}

fn problem_body(status: StatusCode, title: &str, detail: &str, instance: &str) -> Value {
    json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "instance": instance,
    })
}

pub(super) fn problem(status: StatusCode, title: &str, detail: &str, instance: &str) -> Answer {
    json_response(status, &problem_body(status, title, detail, instance), &[])
}

pub(super) fn json_response(
    status: StatusCode,
    body: &Value,
    headers: &[(&'static str, String)],
) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_headers(response, headers)
}

/// An answer without a body, as 204.
pub(super) fn empty(status: StatusCode, headers: &[(&'static str, String)]) -> Answer {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    with_headers(response, headers)
}

/// `answer` with these headers added (or replaced).
pub(super) fn with_headers(mut answer: Answer, headers: &[(&'static str, String)]) -> Answer {
    let map = answer.headers_mut();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_dot_notation() {
        assert_eq!(dotted("/body/acl/0/permissions"), "acl.0.permissions");
        assert_eq!(dotted("/body/description"), "description");
    }
}
