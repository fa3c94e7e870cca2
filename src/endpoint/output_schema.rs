//! The JSON Schema of the endpoint's task output, for editors that offer
//! `${step.output.response.body.id}` before anything has run.

use super::input_schema::open_objects;
use crate::output::TaskOutput;
use serde_json::{Value, json};

/// The output's JSON Schema (2020-12): the envelope from the Rust types, with
/// `response.body` replaced by the operation's success-response schema, so an editor can offer
/// `${step.output.response.body.id}` before anything has run.
pub(crate) fn schema(success_body: Option<&Value>) -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(TaskOutput)).unwrap_or(Value::Null);
    if let Some(body) = success_body {
        let mut body = body.clone();
        open_objects(&mut body);
        if let Value::Object(fields) = &mut body {
            fields.insert(
                "description".into(),
                json!("The response body. Secret fields (x-secret) hold the reference the secret sink returned, `<redacted>` by default."),
            );
        }
        if let Some(slot) = schema.pointer_mut("/$defs/ResponseOutput/properties/body") {
            *slot = body;
        }
    }
    schema
}
