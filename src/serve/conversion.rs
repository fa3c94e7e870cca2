//! `POST /v1/convert`: a step, a curl line or a Conductor HTTP task, as one of the others.
//!
//! The body is `{"from": "curl"|"conductor"|"step", "to": "step"|"curl"|"conductor",
//! "input": ..., "name"?: ...}`: `input` is the curl line as a string, or the Conductor task
//! or step as JSON. The answer is `{"operationId", "taskType", <to>: ..., "warnings": [...]}`.

use super::body::step_from_value;
use super::error::ApiError;
use super::operations::Choice;
use super::state::AppState;
use crate::convert::{self, ConvertErrorKind};
use crate::endpoint::Endpoint;
use crate::util::pointer::push_token;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The name a Conductor task gets when the request gives none.
const DEFAULT_NAME: &str = "api_key";

/// The answer to a parsed request body, or a located 422.
pub(super) fn answer(state: &AppState, request: Value) -> Result<Value, ApiError> {
    let invalid = |pointer: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message).at(pointer)
    };
    let Value::Object(mut fields) = request else {
        return Err(invalid(
            "",
            "the body is {\"from\": ..., \"to\": ..., \"input\": ...}".into(),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|name| !["from", "to", "input", "name"].contains(&name.as_str()))
    {
        return Err(invalid(
            &push_token("", unknown),
            format!("unknown field {unknown:?}: the body has from, to, input and name"),
        ));
    }
    let kind = |name: &str| -> Result<&'static str, ApiError> {
        match fields.get(name).and_then(Value::as_str) {
            Some("step") => Ok("step"),
            Some("curl") => Ok("curl"),
            Some("conductor") => Ok("conductor"),
            _ => Err(invalid(
                &push_token("", name),
                format!("{name} must be \"step\", \"curl\" or \"conductor\""),
            )),
        }
    };
    let (from, to) = (kind("from")?, kind("to")?);
    let name = match fields.get("name") {
        None => DEFAULT_NAME.to_owned(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(invalid("/name", "name must be a string".into())),
    };
    let Some(input) = fields.remove("input") else {
        return Err(invalid("", "missing field \"input\"".into()));
    };
    let definition = state.endpoint.definition();
    let not_convertible = |error: convert::ConvertError| {
        let kind = match error.kind() {
            ConvertErrorKind::NoOperation => "no_operation",
            ConvertErrorKind::InvalidStep => "invalid_step",
            _ => "not_convertible",
        };
        let pointer = format!("/input{}", error.pointer().unwrap_or_default());
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, kind, error.message()).at(pointer)
    };
    let (step, endpoint, warnings) = match from {
        "curl" => {
            let Value::String(line) = input else {
                return Err(invalid("/input", "a curl line is a string".into()));
            };
            let converted = convert::from_curl(&line, definition).map_err(not_convertible)?;
            let endpoint = endpoint_for(state, converted.operation_id.as_deref());
            (converted.step, endpoint, converted.warnings)
        }
        "conductor" => {
            let converted = convert::from_conductor(&input, definition).map_err(not_convertible)?;
            let endpoint = endpoint_for(state, converted.operation_id.as_deref());
            (converted.step, endpoint, converted.warnings)
        }
        _ => {
            let (step, choice) = step_from_value(input).map_err(|error| {
                let pointer = format!("/input{}", error.pointer.clone().unwrap_or_default());
                error.at(pointer)
            })?;
            let endpoint = state.catalogue.select(choice.as_ref()).map_err(|error| {
                let pointer = format!("/input{}", error.pointer.clone().unwrap_or_default());
                error.at(pointer)
            })?;
            (step, endpoint, Vec::new())
        }
    };
    let operation = endpoint.operation();
    let mut answer = Map::new();
    answer.insert("operationId".into(), json!(operation.id()));
    answer.insert("taskType".into(), json!(operation.task_type()));
    let converted = match to {
        "step" => {
            let mut document = Map::new();
            document.insert("parameters".into(), Value::Object(step.parameters));
            document.insert("context".into(), Value::Object(step.context));
            Value::Object(document)
        }
        "curl" => convert::to_curl(step, &endpoint)
            .map(Value::String)
            .map_err(not_convertible)?,
        _ => convert::to_conductor(step, &endpoint, &name).map_err(not_convertible)?,
    };
    answer.insert(to.into(), converted);
    answer.insert("warnings".into(), json!(warnings));
    Ok(Value::Object(answer))
}

/// The endpoint of the operation a conversion found, from the catalogue of every operation
/// compiled at startup; the served one when none was found.
fn endpoint_for(state: &AppState, operation_id: Option<&str>) -> Arc<Endpoint> {
    let choice = operation_id.map(|id| Choice::OperationId(id.to_owned()));
    state
        .catalogue
        .select(choice.as_ref())
        .unwrap_or_else(|_| state.endpoint.clone())
}
