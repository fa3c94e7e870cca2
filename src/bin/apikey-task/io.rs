//! What every command shares: loading the endpoint and steps, printing JSON, exit codes.

use apikey_task::{Definition, Endpoint, Step, TaskError, TaskOutput};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::Path;

use crate::cli::Cli;

/// Input that cannot be used at all: exit 2 with one line on stderr.
pub struct Unusable(pub String);

/// The step failed, or a test request found errors.
pub const EXIT_FAILED: u8 = 1;
/// The input could not be used at all.
pub const EXIT_UNUSABLE: u8 = 2;

/// The endpoint the global `--definition`, `--operation` and `--allow-server` options select.
/// `also_allowed` are servers the command itself names (`run --server`, `serve
/// --allow-run-to`): typed by the operator, so allowed too.
pub fn endpoint(cli: &Cli, also_allowed: &[String]) -> Result<Endpoint, Unusable> {
    let mut builder = Endpoint::builder();
    for server in cli.allow_servers.iter().chain(also_allowed) {
        builder = builder.allow_server(server);
    }
    if let Some(path) = &cli.definition {
        let definition = Definition::from_path(path).map_err(|e| Unusable(e.to_string()))?;
        builder = builder.definition(definition);
    }
    if let Some(id) = &cli.operation {
        builder = builder.operation_id(id);
    }
    builder.build().map_err(|e| Unusable(e.to_string()))
}

/// A step file.
pub fn read_step(path: &Path) -> Result<Step, Unusable> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
    Step::from_json(&text)
        .map_err(|e| Unusable(format!("{}: not a step file: {e}", path.display())))
}

/// `--server`: send to this base URL instead of the step's own.
pub fn override_server(step: &mut Step, server: Option<&str>) {
    if let Some(server) = server {
        step.parameters
            .insert("server".into(), Value::String(server.to_owned()));
    }
}

/// The output or error of one execution as JSON text, and whether it succeeded.
pub fn outcome_json(
    outcome: &Result<TaskOutput, TaskError>,
    pretty: bool,
) -> Result<(String, bool), Unusable> {
    let ok = outcome.is_ok();
    let text = match (outcome, pretty) {
        (Ok(output), true) => serde_json::to_string_pretty(output),
        (Ok(output), false) => serde_json::to_string(output),
        (Err(error), true) => serde_json::to_string_pretty(error),
        (Err(error), false) => serde_json::to_string(error),
    }
    .map_err(json_error)?;
    Ok((text, ok))
}

/// Lines of FILE (or stdin), numbered from 1, blank ones skipped.
pub fn lines(path: &Path) -> Result<Vec<(usize, String)>, Unusable> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
        if !line.trim().is_empty() {
            out.push((index + 1, line));
        }
    }
    Ok(out)
}

/// The output line for an input line that is not a step, so outputs stay aligned with inputs.
pub fn unusable_line(number: usize, error: &serde_json::Error) -> String {
    json!({ "line": number, "error": format!("not a step: {error}") }).to_string()
}

/// One JSON document on stdout.
pub fn print_json(text: &str) -> Result<(), Unusable> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(write_error)
}

pub fn json_error(error: serde_json::Error) -> Unusable {
    Unusable(format!("cannot write JSON: {error}"))
}

pub fn write_error(error: std::io::Error) -> Unusable {
    Unusable(format!("cannot write output: {error}"))
}
