//! A failed attempt as a [`TaskError`] of the right kind: transport failures by when they
//! happened, answers by their status, in the operation's own words.

use crate::endpoint::Endpoint;
use crate::endpoint::secret_path::SecretPath;
use crate::error::{ErrorKind, InvalidField, TaskError};
use crate::output::ResponseOutput;
use crate::util::clock;
use crate::util::pointer::append_token;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, SystemTime};

use super::scrub::Scrub;
use super::wire::{Outgoing, Raw};

/// A transport failure. Only a request that could not be built, or a failure to connect,
/// happened before anything was sent.
pub(super) fn transport(error: reqwest::Error, reading_body: bool, scrub: &Scrub<'_>) -> TaskError {
    // Server-chosen text (a redirect's URL) may be in it.
    let cause = scrub.message(&error_chain(&error));
    let failure = if error.is_builder() {
        TaskError::new(
            ErrorKind::InvalidStep,
            format!("the request could not be built; nothing was sent: {cause}"),
        )
    } else if error.is_connect() {
        TaskError::new(
            ErrorKind::Unreachable,
            format!("could not connect; nothing was sent: {cause}"),
        )
    } else if error.is_timeout() {
        TaskError::new(
            ErrorKind::Timeout,
            format!(
                "timed out {}: {cause}",
                if reading_body {
                    "while reading the response"
                } else {
                    "waiting for the response"
                }
            ),
        )
    } else {
        TaskError::new(
            ErrorKind::ConnectionLost,
            format!(
                "the connection failed after the request was sent{}: {cause}",
                if reading_body {
                    ", while reading the response"
                } else {
                    ""
                }
            ),
        )
    };
    failure.with_source(error)
}

/// An embedder's client followed a redirect that ours would have reported.
pub(super) fn followed_redirect(
    request: &Outgoing<'_>,
    status: reqwest::StatusCode,
    headers: HeaderMap,
    landed: &str,
) -> TaskError {
    TaskError::new(
        ErrorKind::Redirected,
        format!(
            "the HTTP client followed a redirect to {} (build it with redirect::Policy::none()); {} may have happened there instead, and the credential went there too",
            request.scrub.message(landed),
            request.endpoint.operation().label()
        ),
    )
    .with_response(response_output(status, headers, Value::Null))
}

/// A non-2xx response as an error of the right kind.
pub(super) fn response(request: &Outgoing<'_>, raw: Raw) -> TaskError {
    let endpoint = request.endpoint;
    let operation = endpoint.operation();
    let status = raw.status;
    let mut body = parse_lenient(&raw.body);
    request.scrub.value(&mut body);
    let detail = match &raw.unread {
        Some(why) => format!("; {why}"),
        None => problem_text(&body),
    };
    let retry_after = retry_after(&raw.headers, SystemTime::now());
    let location = raw
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    redact_secrets(endpoint, &mut body);
    let response = response_output(status, raw.headers, body);
    let error = match status.as_u16() {
        300..=399 => TaskError::new(
            ErrorKind::Redirected,
            format!(
                "the server answered {status} (to {}); redirects are not followed, so {} did not happen there",
                location.as_deref().unwrap_or("no Location"),
                operation.label()
            ),
        ),
        401 => TaskError::new(
            ErrorKind::Unauthorized,
            format!("the credentials were rejected (401){detail}"),
        ),
        403 => TaskError::new(
            ErrorKind::Forbidden,
            format!(
                "the credentials may not call {} (403){detail}",
                operation.label()
            ),
        ),
        422 => {
            let fields = invalid_fields(&response.body);
            TaskError::new(
                ErrorKind::Unprocessable,
                format!("the server rejected the data (422){detail}"),
            )
            .with_invalid_fields(fields)
        }
        429 => TaskError::new(
            ErrorKind::RateLimited,
            format!(
                "rate limit exceeded (429){}",
                retry_after
                    .map(|d| format!(
                        "; the server allows a retry in {} s",
                        d.as_secs_f64().ceil()
                    ))
                    .unwrap_or_default()
            ),
        )
        .with_retry_after(retry_after),
        500..=599 => TaskError::new(
            ErrorKind::ServerError,
            format!("the server failed ({status}){detail}"),
        ),
        _ => TaskError::new(
            ErrorKind::Rejected,
            format!("the server answered {status}{detail}"),
        ),
    };
    error.with_response(response)
}

/// The body as JSON, or as text when it is not JSON, or `null` when empty.
fn parse_lenient(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `: title: detail` from problem details, when present.
fn problem_text(body: &Value) -> String {
    let part = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (part("title"), part("detail")) {
        (Some(title), Some(detail)) if title != detail => format!(": {title}: {detail}"),
        (Some(text), _) | (None, Some(text)) => format!(": {text}"),
        (None, None) => String::new(),
    }
}

/// `invalidFields` of a 422, with `acl.0.permissions` mapped to `/body/acl/0/permissions`.
fn invalid_fields(body: &Value) -> Vec<InvalidField> {
    body.get("invalidFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let field = entry.get("field")?.as_str()?.to_owned();
            let message = entry
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut path = String::from("/body");
            for token in field.split('.') {
                append_token(&mut path, token);
            }
            Some(InvalidField::new(field, Some(path), message))
        })
        .collect()
}

/// When the server allows a retry: `X-RateLimit-Retry-After` (a Unix timestamp in seconds),
/// else `Retry-After` (seconds, or an HTTP-date). Any value is accepted without overflow;
/// whether to wait that long is the retry policy's decision.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
    number("x-ratelimit-retry-after")
        .map(|timestamp| clock::until_unix(timestamp, now))
        .or_else(|| number("retry-after").map(Duration::from_secs))
        .or_else(|| {
            text("retry-after")
                .and_then(clock::parse_http_date)
                .map(|timestamp| clock::until_unix(timestamp, now))
        })
}

/// Replaces the definition's secret fields (`x-secret`) in a body that is not output.
fn redact_secrets(endpoint: &Endpoint, body: &mut Value) {
    SecretPath::redact_all(endpoint.secret_fields(), body);
}

/// A response as output: headers by lower-case name, repeated ones joined, cookies redacted.
pub(super) fn response_output(
    status: reqwest::StatusCode,
    headers: HeaderMap,
    body: Value,
) -> ResponseOutput {
    ResponseOutput {
        status_code: status.as_u16(),
        reason_phrase: status.canonical_reason().unwrap_or("").to_owned(),
        headers: headers.into(),
        body,
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn invalid_fields_map_to_parameter_pointers() {
        let fields = invalid_fields(&json!({"invalidFields": [
            {"field": "acl.0.permissions", "message": "bad"},
            {"field": "description", "message": "required"}]}));
        assert_eq!(fields[0].path.as_deref(), Some("/body/acl/0/permissions"));
        assert_eq!(fields[1].path.as_deref(), Some("/body/description"));
    }

    #[test]
    fn retry_after_prefers_the_rate_limit_timestamp() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(9)));
        headers.insert("x-ratelimit-retry-after", HeaderValue::from_static("1003"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        headers.insert("x-ratelimit-retry-after", HeaderValue::from_static("900"));
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(
            "x-ratelimit-retry-after",
            HeaderValue::from_static("18446744073709551615"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::MAX));
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_700);
        let mut headers = HeaderMap::new();
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(77)));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
