//! A successful answer as task output: the body parsed, each secret field (`x-secret` in the
//! definition) that is a string handed to the secret sink and replaced by what the sink
//! returns, and any other redacted.

use super::classify::response_output;
use super::wire::{Outgoing, Raw};
use crate::credentials::{REDACTED, Secret};
use crate::endpoint::secret_path::{Found, SecretPath, redact_around};
use crate::error::{ErrorKind, TaskError};
use crate::output::ResponseOutput;
use crate::secrets::{ReturnedSecret, SecretSink};
use serde_json::Value;

pub(super) async fn success(
    request_sent: &Outgoing<'_>,
    raw: Raw,
    secrets: &dyn SecretSink,
) -> Result<(ResponseOutput, Option<bool>), TaskError> {
    let mut body = if raw.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice::<Value>(&raw.body).map_err(|error| {
            TaskError::new(
                ErrorKind::MalformedResponse,
                format!(
                    "the server answered {} but its body is not JSON ({error})",
                    raw.status
                ),
            )
            .with_source(error)
        })?
    };
    // Before the sink sees anything: a reflected credential is not a returned secret. The
    // bytes were scrubbed already; only an escape could spell it again.
    if request_sent.scrub.needs_value_pass(&raw.body) {
        request_sent.scrub.value(&mut body);
    }
    // The answer as read holds the secrets in plain text, and may be a slice of the
    // connection's read buffer: neither is kept while the sink works.
    let Raw {
        status,
        headers,
        body: read,
        ..
    } = raw;
    drop(read);
    let endpoint = request_sent.endpoint;
    let mut sink_failure = None;
    let mut stored = 0;
    // The resource's id as the server sent it, before any secret field is replaced; none if
    // the definition calls the id itself a secret, which must not travel as plain text.
    let mut resource_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    let Found { places, around } = SecretPath::slots_mut(endpoint.secret_fields(), &mut body);
    if places
        .iter()
        .map(|(pointer, _)| pointer)
        .chain(&around)
        .any(|p| p == "/id")
    {
        resource_id = None;
    }
    for (field, slot) in places {
        let Value::String(value) = std::mem::take(slot) else {
            *slot = Value::String(REDACTED.to_owned());
            continue;
        };
        let secret = ReturnedSecret {
            field: field.clone(),
            resource_id: resource_id.clone(),
            value: Secret::new(value),
        };
        match secrets.store(secret).await {
            Ok(reference) => {
                *slot = Value::String(reference);
                stored += 1;
            }
            Err(error) => {
                *slot = Value::String(REDACTED.to_owned());
                sink_failure = Some((field, error));
            }
        }
    }
    // A secret holding others is redacted whole, now that those are with the sink.
    redact_around(&around, &mut body);
    let response = response_output(status, headers, body);
    if let Some((field, error)) = sink_failure {
        return Err(TaskError::new(
            ErrorKind::SecretSink,
            format!(
                "{} succeeded ({}{}) but the secret sink refused the secret at {field}: {error}. Unless the API shows the secret again (for a resource created at a chosen id, repeating the step reads it back), revoke or replace what it belongs to",
                endpoint.operation().label(),
                status,
                response
                    .body
                    .get("id")
                    .and_then(Value::as_str)
                    .map(|id| format!(", id {id}"))
                    .unwrap_or_default()
            ),
        )
        .with_response(response)
        .with_source(error));
    }
    // Said only of one resource's own secret, not of the items of a list.
    let secrets = endpoint.secret_fields();
    let secret_obtained =
        (!secrets.is_empty() && secrets.iter().all(|path| path.is_single())).then_some(stored > 0);
    Ok((response, secret_obtained))
}
