//! `apikey-task reconcile ERROR.json`: list what a create of unknown outcome may have made,
//! from the error document `run` printed.

use apikey_task::secrets::Redact;
use apikey_task::{Endpoint, EndpointBuilder, Executor, FromEnv, Step};
use serde_json::{Map, Value, json};
use std::path::Path;

use crate::io::{EXIT_FAILED, Unusable, outcome_json, print_json, read_text, shown};

/// Runs the error's ready listing step and prints the items that match it: created at or
/// after `createdFrom`, with the same values of the matched fields. Secrets stay redacted.
///
/// The file is data: it may name only the listing the definition's create operation names
/// (`x-reconcile`, a `GET`), so a forged file can read, never write.
pub async fn run(builder: EndpointBuilder, create: &Endpoint, path: &Path) -> Result<u8, Unusable> {
    let text = read_text(path)?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|e| Unusable(format!("{}: not JSON: {e}", shown(path))))?;
    let reconcile = match document.pointer("/error/reconcile") {
        Some(reconcile @ Value::Object(_)) => reconcile,
        Some(_) => {
            return Err(Unusable(format!(
                "{}: error.reconcile is not an object",
                shown(path)
            )));
        }
        None => {
            return Err(Unusable(format!(
                "{}: no error.reconcile: the failure it records did not leave an unknown outcome",
                shown(path)
            )));
        }
    };
    let Some(list) = reconcile.get("list") else {
        let advice = reconcile["advice"].as_str().unwrap_or("check by hand");
        return Err(Unusable(format!(
            "{}: the definition names no listing for this operation: {advice}",
            shown(path)
        )));
    };
    let field = |name: &str| {
        list.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Unusable(format!("{}: reconcile.list.{name} is missing", shown(path))))
    };
    let operation_id = field("operationId")?;
    let created_field = field("createdField")?;
    let created_from = field("createdFrom")?;
    let expected = create.reconcile_listing();
    if expected != Some(operation_id) {
        return Err(Unusable(format!(
            "{}: reconcile.list.operationId is {operation_id:?}, but {} is reconciled with {}",
            shown(path),
            create.operation().label(),
            expected.map_or("no listing".to_owned(), |id| format!("{id:?}"))
        )));
    }
    if !is_utc_time(created_from) {
        return Err(Unusable(format!(
            "{}: reconcile.list.createdFrom {created_from:?} is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)",
            shown(path)
        )));
    }
    let step: Step = serde_json::from_value(list["step"].clone())
        .map_err(|e| Unusable(format!("{}: reconcile.list.step: {e}", shown(path))))?;
    let empty = Map::new();
    let matches = reconcile
        .get("matches")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let endpoint = builder
        .operation_id(operation_id)
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let outcome = executor.execute(&endpoint, step, &FromEnv, &Redact).await;
    let output = match outcome {
        Ok(output) => output,
        Err(_) => {
            let (text, _) = outcome_json(&outcome, true)?;
            print_json(&text)?;
            return Ok(EXIT_FAILED);
        }
    };
    let items = output.response.body.as_array().cloned().unwrap_or_default();
    let candidates: Vec<&Value> = items
        .iter()
        .filter(|item| {
            item.get(created_field)
                .and_then(Value::as_str)
                .is_some_and(|created| utc_seconds(created) >= utc_seconds(created_from))
                && matches
                    .iter()
                    .all(|(name, value)| item.get(name) == Some(value))
        })
        .collect();
    let total = output
        .response
        .headers
        .get("pagination-total")
        .and_then(|total| total.parse::<u64>().ok());
    eprintln!(
        "apikey-task: {} candidate{} among {} listed{}",
        candidates.len(),
        if candidates.len() == 1 { "" } else { "s" },
        items.len(),
        match total {
            Some(total) if total > items.len() as u64 =>
                format!(" ({total} match the filter: narrow it or page with offset)"),
            _ => String::new(),
        }
    );
    let report = json!({
        "candidates": candidates,
        "listed": items.len(),
        "total": total,
        "requestedAt": reconcile.get("requestedAt"),
        "createdFrom": created_from,
        "matches": matches,
        "request": output.request,
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| Unusable(e.to_string()))?;
    print_json(&text)?;
    Ok(0)
}

/// Whether `time` starts as an RFC 3339 time does: `YYYY-MM-DDTHH:MM:SS`.
fn is_utc_time(time: &str) -> bool {
    let bytes = time.as_bytes();
    bytes.len() >= 19
        && bytes[..19].iter().enumerate().all(|(at, byte)| match at {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            _ => byte.is_ascii_digit(),
        })
}

/// `YYYY-MM-DDTHH:MM:SS` of a UTC RFC 3339 time (`Z` or `+00:00`), which compares as text.
fn utc_seconds(time: &str) -> &str {
    time.get(..19).unwrap_or(time)
}
