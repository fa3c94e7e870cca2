//! `apikey-task convert`: a step, a curl line or a Conductor HTTP task, as one of the others.

use apikey_task::convert::{self, ConvertErrorKind, Converted};
use apikey_task::{Endpoint, EndpointBuilder, Step};
use serde_json::Value;
use std::path::Path;

use crate::cli::Kind;
use crate::io::{EXIT_FAILED, Unusable, json_error, print_json, read_text, shown};

/// Reads FILE as `from`, prints it as `to`; warnings (what was left out) go to stderr.
pub fn run(
    builder: EndpointBuilder,
    selected: impl FnOnce() -> Result<Endpoint, Unusable>,
    chosen: Option<Endpoint>,
    from: Kind,
    to: Kind,
    name: &str,
    path: &Path,
) -> Result<u8, Unusable> {
    let text = read_text(path)?;
    let definition = builder.definition_or_embedded();
    let converted = match from {
        Kind::Curl => convert::from_curl(&text, &definition),
        Kind::Conductor => {
            let task: Value = serde_json::from_str(&text)
                .map_err(|e| Unusable(format!("{}: not JSON: {e}", shown(path))))?;
            convert::from_conductor(&task, &definition)
        }
        Kind::Step => {
            let step = Step::from_json(&text)
                .map_err(|e| Unusable(format!("{}: not a step file: {e}", shown(path))))?;
            let endpoint = selected()?;
            return print(&endpoint, step, to, name, &[]);
        }
    };
    let converted: Converted = match converted {
        Ok(converted) => converted,
        Err(error) if error.kind() == ConvertErrorKind::NoOperation => {
            eprintln!("apikey-task: {error}");
            return Ok(EXIT_FAILED);
        }
        Err(error) => return Err(Unusable(format!("{}: {error}", shown(path)))),
    };
    if let Some(chosen) = &chosen
        && chosen.operation().id() != converted.operation_id.as_deref()
    {
        return Err(Unusable(format!(
            "{}: the request is {}, not {} (--task/--operation)",
            shown(path),
            converted
                .operation_id
                .as_deref()
                .unwrap_or("no operation of the definition"),
            chosen.operation().label()
        )));
    }
    let mut builder = builder;
    if let Some(id) = &converted.operation_id {
        builder = builder.operation_id(id);
    }
    let endpoint = builder.build().map_err(|e| Unusable(e.to_string()))?;
    print(&endpoint, converted.step, to, name, &converted.warnings)
}

fn print(
    endpoint: &Endpoint,
    step: Step,
    to: Kind,
    name: &str,
    warnings: &[String],
) -> Result<u8, Unusable> {
    for warning in warnings {
        eprintln!("apikey-task: warning: {warning}");
    }
    let exported = match to {
        Kind::Step => {
            // A step file does not say its operation: say which, and how to use it.
            let operation = endpoint.operation();
            if let Some(task_type) = operation.task_type() {
                eprintln!(
                    "apikey-task: this is a {task_type} step ({}): use it with --task {task_type}",
                    operation.label()
                );
            }
            Ok(serde_json::to_string_pretty(&step).map_err(json_error)?)
        }
        Kind::Curl => convert::to_curl(step, endpoint),
        Kind::Conductor => convert::to_conductor(step, endpoint, name)
            .map(|task| serde_json::to_string_pretty(&task).unwrap_or_default()),
    };
    let text = match exported {
        Ok(text) => text,
        Err(error) => {
            eprintln!("apikey-task: {error}");
            return Ok(EXIT_FAILED);
        }
    };
    print_json(&text)?;
    Ok(0)
}
