//! `apikey-task`: the command line of the apikey-task plugin.

#![forbid(unsafe_code)]

use apikey_task::{Credentials, Definition, Endpoint, Step, TestReport};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Create Rebilly API keys from workflow steps: render, validate and dry-run `POST /api-keys`.
#[derive(Parser)]
#[command(name = "apikey-task", version)]
struct Cli {
    /// Load this endpoint definition (OpenAPI 3.0/3.1 JSON) instead of the embedded one.
    #[arg(long, global = true, value_name = "PATH")]
    definition: Option<PathBuf>,
    /// Select the operation by operationId (default: the only one, or PostApiKey when embedded).
    #[arg(long, global = true, value_name = "ID")]
    operation: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dry run: print the request a step would send and every problem in it. No network.
    ///
    /// STEP.json is {"parameters": {...}, "context": {...}}. Credentials are read from
    /// REBILLY_API_KEY or REBILLY_JWT and shown only as <redacted>.
    /// Exit status: 0 valid, 1 invalid, 2 unusable input.
    #[command(name = "test-request")]
    TestRequest {
        /// The step file.
        #[arg(
            value_name = "STEP.json",
            required_unless_present = "jsonl",
            conflicts_with = "jsonl"
        )]
        step: Option<PathBuf>,
        /// Check one step per line of FILE (`-` for stdin); print one compact report per line.
        #[arg(long, value_name = "FILE")]
        jsonl: Option<PathBuf>,
    },
    /// Print a JSON document: the parameters' JSON Schema, or the loaded endpoint definition.
    Schema {
        #[arg(value_enum)]
        which: SchemaKind,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// JSON Schema of a step's parameters, for editors.
    Input,
    /// The endpoint definition in use.
    Definition,
}

/// Input that cannot be used at all: exit 2 with one line on stderr.
struct Unusable(String);

const EXIT_INVALID: u8 = 1;
const EXIT_UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Unusable(message)) => {
            eprintln!("apikey-task: {message}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Unusable> {
    let endpoint = endpoint(&cli)?;
    match cli.command {
        Command::Schema { which } => {
            let document = match which {
                SchemaKind::Input => endpoint.input_schema(),
                SchemaKind::Definition => endpoint.definition().document(),
            };
            print_json(&serde_json::to_string_pretty(document).map_err(json_error)?)?;
            Ok(0)
        }
        Command::TestRequest {
            step: Some(path), ..
        } => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
            let step = Step::from_json(&text)
                .map_err(|e| Unusable(format!("{}: not a step file: {e}", path.display())))?;
            let report = endpoint.test_request(step, Credentials::from_env().as_ref());
            print_json(&serde_json::to_string_pretty(&report).map_err(json_error)?)?;
            Ok(if report.valid { 0 } else { EXIT_INVALID })
        }
        Command::TestRequest {
            jsonl: Some(path), ..
        } => test_request_lines(&endpoint, &path),
        Command::TestRequest { .. } => Err(Unusable("give STEP.json or --jsonl FILE".into())),
    }
}

fn endpoint(cli: &Cli) -> Result<Endpoint, Unusable> {
    let mut builder = Endpoint::builder();
    if let Some(path) = &cli.definition {
        let definition = Definition::from_path(path).map_err(|e| Unusable(e.to_string()))?;
        builder = builder.definition(definition);
    }
    if let Some(id) = &cli.operation {
        builder = builder.operation_id(id);
    }
    builder.build().map_err(|e| Unusable(e.to_string()))
}

/// One compact report per input line, in order. A line that is not a step gets
/// `{"line": N, "error": ...}` so outputs stay aligned with inputs; blank lines are skipped.
fn test_request_lines(endpoint: &Endpoint, path: &PathBuf) -> Result<u8, Unusable> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
        Box::new(std::io::BufReader::new(file))
    };
    let credentials = Credentials::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let written = match Step::from_json(&line) {
            Ok(step) => {
                let report: TestReport = endpoint.test_request(step, credentials.as_ref());
                if !report.valid {
                    code = code.max(EXIT_INVALID);
                }
                serde_json::to_writer(&mut out, &report).map_err(json_error)?;
                Ok(())
            }
            Err(error) => {
                code = EXIT_UNUSABLE;
                let error =
                    serde_json::json!({ "line": number, "error": format!("not a step: {error}") });
                serde_json::to_writer(&mut out, &error).map_err(json_error)
            }
        };
        written?;
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(code)
}

fn print_json(text: &str) -> Result<(), Unusable> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(write_error)
}

fn json_error(error: serde_json::Error) -> Unusable {
    Unusable(format!("cannot write JSON: {error}"))
}

fn write_error(error: std::io::Error) -> Unusable {
    Unusable(format!("cannot write output: {error}"))
}
