//! A create at an id the step chose (`x-idempotent-variant`): look first, then create at that
//! id, retrying what is safe, so that however often the step runs there is one resource.
//!
//! 1. Read the id (the variant's `read` operation). Found with the values the step sends: that
//!    is the step's own earlier work (an attempt whose answer was lost, a replayed workflow),
//!    so it is the output and nothing is written. Found with other values: another step's
//!    resource, which a create must not overwrite: a conflict, nothing sent.
//! 2. Not found: send the variant (a create-or-update at that id). It is idempotent, so the
//!    attempt loop retries timeouts, lost connections and 5xx; a repeat that finds the
//!    resource its lost attempt made answers with it.
//! 3. An answer without the resource's secret is followed by a read of the id, so the secret
//!    reaches the sink; `secretObtained` says whether it did.

use super::Executor;
use crate::context::TaskContext;
use crate::endpoint::Endpoint;
use crate::error::{ErrorKind, TaskError};
use crate::output::TaskOutput;
use serde_json::{Map, Value};

pub(super) async fn create(
    executor: &Executor,
    original: &Endpoint,
    routed: &Endpoint,
    read: &Endpoint,
    parameters: Map<String, Value>,
    ctx: &TaskContext<'_>,
) -> Result<TaskOutput, TaskError> {
    let read_parameters = read_parameters(original, routed, read, &parameters);
    let parameter = original.idempotent_parameter().unwrap_or_default();
    match Box::pin(executor.execute_routed(read, read_parameters.clone(), ctx)).await {
        Ok(existing) => return settle_existing(routed, parameters, ctx, parameter, existing),
        // Not there: create it.
        Err(error) if error.status() == Some(404) => {}
        Err(error) => {
            return Err(error.in_context(&format!(
                "looking for the {parameter} before creating, {}",
                read.operation().label()
            )));
        }
    }
    let mut output = executor.execute_routed(routed, parameters, ctx).await?;
    if output.secret_obtained == Some(false) {
        read_secret(executor, read, read_parameters, &mut output, ctx).await;
    }
    Ok(output)
}

/// What was found at the id: the step's own resource (the same values for every field the
/// step sends), or another's, which is a conflict.
fn settle_existing(
    routed: &Endpoint,
    parameters: Map<String, Value>,
    ctx: &TaskContext<'_>,
    parameter: &str,
    existing: TaskOutput,
) -> Result<TaskOutput, TaskError> {
    let credentials = ctx.credentials().credentials();
    let prepared = routed
        .prepare(parameters, ctx.state(), credentials)
        .map_err(TaskError::invalid_step)?;
    let differing = differing_fields(prepared.body().as_deref(), &existing.response.body);
    if differing.is_empty() {
        return Ok(existing);
    }
    Err(TaskError::new(
        ErrorKind::Conflict,
        format!(
            "something already exists at this {parameter} with other values ({}); nothing was written. Give another {parameter}, or change it on purpose with {}",
            differing.join(", "),
            routed.operation().label()
        ),
    )
    .with_response(existing.response))
}

/// The top-level fields the step sends whose values differ from the resource's (an absent
/// field and `null` are the same).
fn differing_fields(sent: Option<&Value>, existing: &Value) -> Vec<String> {
    let Some(Value::Object(sent)) = sent else {
        return Vec::new();
    };
    sent.iter()
        .filter(|(name, value)| {
            let there = existing.get(name.as_str()).unwrap_or(&Value::Null);
            there != *value
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The read's parameters: where the create goes (`server` and the server variables, as the
/// step gave them), and the chosen id as the read's path parameter.
fn read_parameters(
    original: &Endpoint,
    routed: &Endpoint,
    read: &Endpoint,
    parameters: &Map<String, Value>,
) -> Map<String, Value> {
    let variables = &routed.operation().variables;
    let mut out: Map<String, Value> = parameters
        .iter()
        .filter(|(name, _)| *name == "server" || variables.contains(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let id = original
        .idempotent_parameter()
        .and_then(|parameter| parameters.get(parameter));
    if let (Some(id), Some(name)) = (id, read.operation().path_params.first()) {
        out.insert(name.clone(), id.clone());
    }
    out
}

/// Reads the id again for the secret an answer lacked, and puts its reference in `output`.
/// A failure leaves `secretObtained: false`: the resource exists either way.
async fn read_secret(
    executor: &Executor,
    read: &Endpoint,
    parameters: Map<String, Value>,
    output: &mut TaskOutput,
    ctx: &TaskContext<'_>,
) {
    match Box::pin(executor.execute_routed(read, parameters, ctx)).await {
        Ok(read_output) => {
            for path in read.secret_fields() {
                for pointer in path.pointers(&read_output.response.body) {
                    if let Some(value) = read_output.response.body.pointer(&pointer) {
                        set_at(&mut output.response.body, &pointer, value.clone());
                    }
                }
            }
            output.secret_obtained = read_output.secret_obtained;
        }
        Err(error) => {
            tracing::warn!(kind = %error.kind(), "the answer lacked the secret and reading it back failed: {error}");
        }
    }
}

/// Puts `value` at `pointer`, adding the last member if its object lacks it.
fn set_at(body: &mut Value, pointer: &str, value: Value) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(members)) = body.pointer_mut(parent) {
        members.insert(last.replace("~1", "/").replace("~0", "~"), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_sent_fields_that_differ_count() {
        let existing =
            json!({"id": "k", "description": "CI", "type": "secret", "allowedIps": null});
        assert!(differing_fields(Some(&json!({"description": "CI"})), &existing).is_empty());
        assert!(differing_fields(Some(&json!({"allowedIps": null})), &existing).is_empty());
        assert_eq!(
            differing_fields(
                Some(&json!({"description": "CI", "type": "publishable"})),
                &existing
            ),
            ["type"]
        );
    }
}
