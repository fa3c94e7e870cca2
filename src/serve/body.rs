//! A request body to a [`Step`]: the media type, the size limit, JSON, and the shape
//! `{"parameters": {...}, "context": {...}, "operationId"?: "..."}`, each refused with a
//! located 4xx.

use super::error::ApiError;
use super::operations::Choice;
use crate::endpoint::{Step, StepError};
use crate::problem::json_kind;
use crate::util::pointer::push_token;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use std::time::Duration;

/// A step read from a request body.
pub(super) struct ReadStep {
    pub step: Step,
    /// The operation the body names, if any.
    pub choice: Option<Choice>,
    /// The body's size in bytes.
    pub bytes: usize,
    /// At most how many expressions it holds (`${`, and the escapes that could spell one):
    /// with its size, what bounds the work of checking it (each expression may copy at most
    /// the whole step). Counted only in a body of at most the size `read_step` was given;
    /// `usize::MAX` for a larger one.
    pub expressions: usize,
}

/// Reads `{"parameters": {...}, "context": {...}}` and the operation it names, if any
/// (`"operationId"` or `"taskType"`), refusing with a located 4xx whatever is
/// not that: another media type (which also makes cross-origin browsers ask first), too many
/// bytes, text that is not JSON, or JSON of another shape.
pub(super) async fn read_step(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
    counted_up_to: usize,
) -> Result<ReadStep, ApiError> {
    let (value, bytes, expressions) =
        read_json_sized(headers, body, limit, timeout, counted_up_to).await?;
    let (step, choice) = step_from_value(value)?;
    Ok(ReadStep {
        step,
        choice,
        bytes,
        expressions,
    })
}

/// Reads a JSON body within the limits, refusing with a located 4xx another media type, too
/// many bytes, a body too slow to arrive, or text that is not JSON.
pub(super) async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Value, ApiError> {
    Ok(read_json_sized(headers, body, limit, timeout, 0).await?.0)
}

/// [`read_json`], the body's size in bytes and, for a body of at most `counted_up_to` bytes,
/// at most how many expressions it holds (`usize::MAX` for a larger one).
async fn read_json_sized(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
    counted_up_to: usize,
) -> Result<(Value, usize, usize), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the step as Content-Type: application/json",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            )
        })?;
    let bytes: Bytes = read.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("cannot read the request body: {error}"),
            )
        }
    })?;
    // Text first: serde_json calls a bad byte "invalid unicode code point", and the text
    // read lossily to locate it would have its positions shifted. Parsed as that text, which
    // serde_json then does not check again.
    let text = std::str::from_utf8(&bytes).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not UTF-8: invalid byte at offset {}",
                error.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|error| {
        // Located in the text as sent: the line and column, and the value being read.
        let located = StepError::new(text, error);
        let answer = ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {located}"),
        );
        match located.pointer() {
            Some(pointer) => answer.at(pointer),
            None => answer,
        }
    })?;
    // At most as many expressions as `${` written as it is, plus the escapes that could
    // spell its `$` or its `{` (`\u0024`, `\u007b`): other escapes spell neither.
    // Only where the count is used: a large body is not read four times more for nothing.
    let count = |needle: &[u8]| memchr::memmem::find_iter(&bytes, needle).count();
    let expressions = if bytes.len() <= counted_up_to {
        count(b"${") + count(b"\\u0024") + count(b"\\u007b") + count(b"\\u007B")
    } else {
        usize::MAX
    };
    Ok((value, bytes.len(), expressions))
}

/// The step in a parsed body and the operation it names, or a 422 at the pointer of the first
/// thing that is wrong.
pub(super) fn step_from_value(value: Value) -> Result<(Step, Option<Choice>), ApiError> {
    let invalid = |pointer: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_step", message).at(pointer)
    };
    let Value::Object(fields) = value else {
        return Err(invalid(
            "",
            "the body must be an object: {\"parameters\": {...}, \"context\": {...}}".into(),
        ));
    };
    if !fields.contains_key("parameters") {
        return Err(invalid(
            "",
            "missing field \"parameters\": the body is {\"parameters\": {...}, \"context\": {...}}"
                .into(),
        ));
    }
    let mut step = Step::default();
    let mut choice = None;
    for (name, value) in fields {
        let pointer = push_token("", &name);
        match (name.as_str(), value) {
            ("parameters", Value::Object(parameters)) => step.parameters = parameters,
            ("context", Value::Object(context)) => step.context = context,
            ("operationId" | "taskType", Value::String(chosen)) => {
                let this = if name == "operationId" {
                    Choice::OperationId(chosen)
                } else {
                    Choice::TaskType(chosen)
                };
                if choice.is_some() {
                    return Err(invalid(
                        &pointer,
                        "give operationId or taskType, not both".into(),
                    ));
                }
                choice = Some(this);
            }
            ("operationId" | "taskType", other) => {
                return Err(invalid(
                    &pointer,
                    format!("{name} must be a string, not {}", json_kind(&other)),
                ));
            }
            ("parameters" | "context", other) => {
                return Err(invalid(
                    &pointer,
                    format!("{name} must be an object, not {}", json_kind(&other)),
                ));
            }
            _ => {
                return Err(invalid(
                    &pointer,
                    format!(
                        "unknown field {name:?}: a step has parameters and context, and may name its operationId or taskType"
                    ),
                ));
            }
        }
    }
    Ok((step, choice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_of_the_wrong_shape_are_located() {
        let pointer = |value: Value| step_from_value(value).err().and_then(|e| e.pointer);
        assert_eq!(pointer(json!([])), Some(String::new()));
        assert_eq!(pointer(json!({"context": {}})), Some(String::new()));
        assert_eq!(
            pointer(json!({"parameters": []})),
            Some("/parameters".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "context": "x"})),
            Some("/context".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "a/b": 1})),
            Some("/a~1b".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "operationId": 7})),
            Some("/operationId".into())
        );
        assert_eq!(
            pointer(json!({"parameters": {}, "operationId": "A", "taskType": "B"})),
            Some("/taskType".into())
        );
        let step = step_from_value(json!({"parameters": {"x": 1}})).ok();
        assert_eq!(step.map(|(s, _)| s.parameters.len()), Some(1));
        let chosen = step_from_value(json!({"parameters": {}, "taskType": "ListApiKeys"})).ok();
        assert_eq!(
            chosen.and_then(|(_, c)| c),
            Some(Choice::TaskType("ListApiKeys".into()))
        );
    }
}
