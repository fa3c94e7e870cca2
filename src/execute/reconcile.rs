//! What someone needs to find out whether a request whose outcome is unknown took effect.

use super::wire::Outgoing;
use crate::definition::{Operation, ReconcileSpec};
use crate::endpoint::{Endpoint, Prepared};
use crate::error::{ErrorKind, Reconcile, ReconcileList, TaskError};
use crate::problem::Problem;
use crate::util::clock;
use serde_json::{Map, Value, json};
use std::time::{Duration, SystemTime};

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
        ErrorKind::ServerError
            | ErrorKind::Timeout
            | ErrorKind::ConnectionLost
            | ErrorKind::Interrupted
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

/// How far before `requestedAt` a listing looks: the server's clock may be behind ours.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Adds the attempt count, and for an outcome that may have taken effect, what is needed to
/// reconcile, in the operation's own words.
pub(super) fn finish(
    error: TaskError,
    attempts: u32,
    endpoint: &Endpoint,
    prepared: &Prepared<'_>,
    requested_at: SystemTime,
    effect_maybe: bool,
) -> TaskError {
    let error = error.with_attempts(attempts);
    if !effect_maybe {
        return error;
    }
    let operation = endpoint.operation();
    let spec = operation.reconcile.as_ref();
    let body = prepared.body();
    let body = body.as_deref();
    let matches: Map<String, Value> = spec
        .into_iter()
        .flat_map(|spec| &spec.r#match)
        .filter_map(|field| Some((field.clone(), body?.get(field)?.clone())))
        .collect();
    let list = spec.and_then(|spec| {
        let task_type = endpoint
            .definition()
            .task_types()
            .into_iter()
            .find(|(_, id)| *id == spec.operation_id)
            .map(|(task_type, _)| task_type.to_owned());
        list_step(spec, operation, prepared, &matches, requested_at, task_type)
    });
    let look = match &list {
        Some(list) => format!(
            "run the ready {} step in `list` and look for an item created at or after createdFrom{}",
            match &list.task_type {
                Some(task_type) => format!("{task_type} ({})", list.operation_id),
                None => list.operation_id.clone(),
            },
            if matches.is_empty() {
                String::new()
            } else {
                format!(
                    " with the same {}",
                    matches.keys().cloned().collect::<Vec<_>>().join(" and ")
                )
            }
        ),
        None => "check the resource's state as of requestedAt".to_owned(),
    };
    let advice = format!(
        "{} may have taken effect: {look} before retrying",
        operation.label()
    );
    error.with_reconcile(Reconcile::new(
        prepared.request.url.clone(),
        clock::rfc3339(requested_at),
        advice,
        matches,
        list,
    ))
}

/// Reconcile data for a step that cannot be rendered now (the state it read is gone): when
/// and what, without a listing.
pub(super) fn unrendered(
    error: TaskError,
    endpoint: &Endpoint,
    problems: &[Problem],
    requested_at: SystemTime,
) -> TaskError {
    let operation = endpoint.operation();
    let why = problems
        .first()
        .map(|p| format!(" ({} at {})", p.message, p.path))
        .unwrap_or_default();
    let advice = format!(
        "{} may have taken effect: check the resource's state as of requestedAt before retrying; the step cannot be rendered again to list candidates{why}",
        operation.label()
    );
    error.with_reconcile(Reconcile::new(
        format!("{} {}", operation.method(), operation.path()),
        clock::rfc3339(requested_at),
        advice,
        Map::new(),
        None,
    ))
}

/// The listing step: the request's own base URL (so it asks the same server about the same
/// organization), a filter in the API's search-filter syntax on the creation time and on each
/// matched field whose value the syntax can carry, newest first.
fn list_step(
    spec: &ReconcileSpec,
    operation: &Operation,
    prepared: &Prepared<'_>,
    matches: &Map<String, Value>,
    requested_at: SystemTime,
    task_type: Option<String>,
) -> Option<ReconcileList> {
    // The base is the URL without the operation's path, which has no parameters to undo.
    let base = prepared.request.url.strip_suffix(operation.path())?;
    let created_from = clock::rfc3339(requested_at.checked_sub(CLOCK_SKEW)?);
    let mut filter = vec![format!("{}:{created_from}..", spec.created_field)];
    for (field, value) in matches {
        // `,` `;` `:` separate values and fields, `..` makes a range, and a leading `!` or
        // `@` negates or names a list: such a value is matched on the answer instead.
        // So is one too long for a URL (a query string has to fit in 8000 bytes).
        if let Value::String(text) = value
            && !text.is_empty()
            && text.len() <= MAX_FILTER_VALUE
            && !text.contains([',', ';', ':'])
            && !text.contains("..")
            && !text.starts_with(['!', '@'])
        {
            filter.push(format!("{field}:{text}"));
        }
    }
    let mut parameters = Map::new();
    parameters.insert("server".into(), Value::String(base.to_owned()));
    parameters.insert(
        spec.filter_parameter.clone(),
        Value::String(filter.join(";")),
    );
    if let Some(sort) = &spec.sort_parameter {
        parameters.insert(sort.clone(), json!([format!("-{}", spec.created_field)]));
    }
    if let Some(limit) = &spec.limit_parameter {
        parameters.insert(limit.clone(), json!(RECONCILE_LIMIT));
    }
    Some(ReconcileList {
        operation_id: spec.operation_id.clone(),
        task_type,
        step: json!({ "parameters": parameters }),
        created_field: spec.created_field.clone(),
        created_from,
    })
}

/// The longest value put in the filter, in bytes; percent-encoded it may triple.
const MAX_FILTER_VALUE: usize = 1024;

/// Items a listing asks for: a lost create is among the newest few, and a page this size
/// is one request.
const RECONCILE_LIMIT: u32 = 100;
