//! What someone needs to find out whether a request whose outcome is unknown took effect.

use super::wire::Outgoing;
use crate::endpoint::{Endpoint, Prepared};
use crate::error::{ErrorKind, Reconcile, TaskError};
use crate::util::clock;
use serde_json::Value;
use std::time::SystemTime;

/// Adds the attempt count, and reconcile data when the kind of failure means the request may
/// have taken effect.
pub(super) fn finish_classified(
    error: TaskError,
    attempts: u32,
    request: &Outgoing<'_>,
    requested_at: SystemTime,
) -> TaskError {
    let effect_maybe = matches!(
        error.kind(),
        ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::ConnectionLost
    ) || (matches!(
        error.kind(),
        ErrorKind::MalformedResponse | ErrorKind::ResponseTooLarge
    ) && error.status().is_none_or(|s| (200..300).contains(&s)));
    // For an idempotent request the question "did it happen?" does not arise.
    let effect_maybe = effect_maybe && !error.is_retryable() && !request.idempotent();
    finish(
        error,
        attempts,
        request.endpoint,
        request.prepared,
        requested_at,
        effect_maybe,
    )
}

/// Adds the attempt count, and for an outcome that may have taken effect, what is needed to
/// reconcile, in the operation's own words.
pub(super) fn finish(
    error: TaskError,
    attempts: u32,
    endpoint: &Endpoint,
    prepared: &Prepared,
    requested_at: SystemTime,
    effect_maybe: bool,
) -> TaskError {
    let error = error.with_attempts(attempts);
    if !effect_maybe {
        return error;
    }
    let operation = endpoint.operation();
    let description = prepared
        .request
        .body
        .as_ref()
        .and_then(|b| b.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    // A POST adds to the collection at its own path: listing that path shows what it made.
    let look = if operation.method() == "POST" {
        format!(
            "list GET {} and look for an item{} created at or after requestedAt",
            operation.path(),
            if description.is_some() {
                " with this description"
            } else {
                ""
            }
        )
    } else {
        "check the resource's state as of requestedAt".to_owned()
    };
    let advice = format!(
        "{} may have taken effect: {look} before retrying",
        operation.label()
    );
    error.with_reconcile(Reconcile::new(
        prepared.request.url.clone(),
        description,
        clock::rfc3339(requested_at),
        advice,
    ))
}
