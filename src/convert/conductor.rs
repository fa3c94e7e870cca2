//! A Conductor HTTP task to the request it sends, and back.

use super::error::{ConvertError, ConvertErrorKind};
use super::matching::RawRequest;
use crate::util::pointer::push_token;
use serde_json::{Map, Value, json};

/// The request of a Conductor HTTP task: `inputParameters.http_request` (the classic form)
/// or `uri`, `method`, `headers` and `body` directly under `inputParameters`. Expressions
/// (`${workflow.input.x}`) are the same syntax in both worlds and stay as written.
pub(crate) fn parse(task: &Value, warnings: &mut Vec<String>) -> Result<RawRequest, ConvertError> {
    let shape = |pointer: &str, message: String| {
        ConvertError::new(ConvertErrorKind::Shape, message).at(pointer)
    };
    let Value::Object(task) = task else {
        return Err(shape("", "a Conductor task is a JSON object".into()));
    };
    match task.get("type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("HTTP") => {}
        Some(other) => {
            return Err(shape(
                "/type",
                format!("only HTTP tasks convert to a step, not {other}"),
            ));
        }
    }
    let Some(Value::Object(input)) = task.get("inputParameters") else {
        return Err(shape(
            "/inputParameters",
            "an HTTP task needs an inputParameters object".into(),
        ));
    };
    let (request, base) = match input.get("http_request") {
        Some(Value::Object(request)) => (request, "/inputParameters/http_request"),
        Some(_) => {
            return Err(shape(
                "/inputParameters/http_request",
                "http_request must be an object".into(),
            ));
        }
        None => (input, "/inputParameters"),
    };
    let at = |name: &str| push_token(base, name);
    let string = |name: &str| -> Result<Option<String>, ConvertError> {
        match request.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(shape(&at(name), format!("{name} must be a string"))),
        }
    };
    let Some(uri) = string("uri")? else {
        return Err(shape(&at("uri"), "the HTTP task has no uri".into()));
    };
    let mut headers = Vec::new();
    match request.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let Value::String(value) = value else {
                    return Err(shape(
                        &push_token(&at("headers"), name),
                        format!("the {name} header must be a string"),
                    ));
                };
                headers.push((name.clone(), value.clone()));
            }
        }
        Some(_) => return Err(shape(&at("headers"), "headers must be an object".into())),
    }
    if let Some(content_type) = string("contentType")? {
        headers.push(("Content-Type".into(), content_type));
    }
    for ignored in [
        "connectionTimeOut",
        "readTimeOut",
        "vipAddress",
        "appName",
        "encode",
    ] {
        if request.contains_key(ignored) {
            warnings.push(format!("left out {ignored}: a step has no such setting"));
        }
    }
    Ok(RawRequest {
        method: string("method")?.unwrap_or_else(|| "GET".into()),
        url: uri,
        headers,
        body: request.get("body").filter(|body| !body.is_null()).cloned(),
    })
}

/// A Conductor HTTP task in the classic `http_request` form, which Conductor OSS and Orkes
/// both read.
pub(crate) fn task(
    name: &str,
    method: &str,
    uri: &str,
    headers: Map<String, Value>,
    content_type: Option<String>,
    body: Option<Value>,
) -> Value {
    let mut request = json!({
        "uri": uri,
        "method": method,
        "headers": headers,
        "accept": "application/json",
    });
    if let Some(content_type) = content_type {
        request["contentType"] = Value::String(content_type);
    }
    if let Some(body) = body {
        request["body"] = body;
    }
    json!({
        "name": name,
        "taskReferenceName": name,
        "type": "HTTP",
        "inputParameters": { "http_request": request },
    })
}
