//! `apikey-task`: the command line of the apikey-task plugin.

#![forbid(unsafe_code)]

use apikey_task::emulator::Emulator;
use apikey_task::secrets::{Redact, Reveal, SecretSink};
use apikey_task::task::TaskContext;
use apikey_task::{
    Credentials, Definition, Endpoint, Executor, FromEnv, Secret, Step, TaskOutput, TestReport,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Create Rebilly API keys from workflow steps: render, validate, dry-run and execute
/// `POST /api-keys`.
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
        #[command(flatten)]
        input: Input,
    },
    /// Execute a step: send the request and print the task output.
    ///
    /// Credentials come from REBILLY_API_KEY or REBILLY_JWT. Exit status: 0 success, 1 the
    /// step failed (the error says whether a retry is safe), 2 unusable input.
    Run {
        #[command(flatten)]
        input: Input,
        /// Steps in flight at once with --jsonl.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
        concurrency: u16,
        /// Send to this base URL instead of the step's `server`.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Print the created key's secretKey in the output (it is redacted otherwise).
        #[arg(long)]
        reveal_secret: bool,
    },
    /// Serve the local emulator of POST /api-keys and GET /api-keys/{id} until interrupted.
    Emulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 4010)]
        port: u16,
        /// Answer 429 after this many POSTs per organization within --rate-window (default:
        /// the sandbox's 3000 per 600 s; 0 for no limit).
        #[arg(long, value_name = "N")]
        rate_limit: Option<u32>,
        /// The rate-limit window, in seconds.
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        rate_window: u64,
        /// Accept only this credential (repeatable); by default any non-empty one.
        #[arg(long, value_name = "KEY")]
        accept: Vec<String>,
    },
    /// Serve the editor's HTTP API and its reference panel: open http://127.0.0.1:PORT/.
    ///
    /// POST /v1/test-request, GET /v1/schemas/{input,output,report}, GET /healthz, and
    /// POST /v1/run with --allow-run. The first line on stdout is `serving on URL`.
    Serve {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
        host: std::net::IpAddr,
        /// Also answer this Host name (repeatable). By default only localhost, 127.0.0.1 and
        /// [::1] are answered; on a non-loopback --host without this, any.
        #[arg(long = "allowed-host", value_name = "NAME")]
        allowed_hosts: Vec<String>,
        /// Enable POST /v1/run: execute steps for real with REBILLY_API_KEY or REBILLY_JWT,
        /// against the definition's servers only.
        #[arg(long)]
        allow_run: bool,
        /// Let /v1/run also send to this base URL, e.g. a local emulator (repeatable).
        #[arg(long = "allow-run-to", value_name = "URL", requires = "allow_run")]
        allow_run_to: Vec<String>,
        /// Let pages on this origin call the API (repeatable; `*` for any, not with
        /// --allow-run).
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// The largest request body accepted, in bytes [default: 262144].
        #[arg(long, value_name = "BYTES")]
        max_body_bytes: Option<usize>,
    },
    /// Run a Temporal activity worker: activity `CreateApiKey`, workflow `CreateApiKeyWorkflow`.
    ///
    /// Needs a build with `--features temporal`. Credentials come from REBILLY_API_KEY or
    /// REBILLY_JWT in the worker's environment.
    Worker {
        /// The Temporal frontend, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7233", value_name = "HOST:PORT")]
        temporal_address: String,
        /// The namespace.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// The task queue to poll.
        #[arg(long, default_value = "apikey-task")]
        task_queue: String,
    },
    /// Run a two-step workflow against a local emulator: create a key, then a second step that
    /// uses `${createKey.output.response.body.id}`. No account and no network needed.
    Demo,
    /// Print a JSON document: a JSON Schema, or the loaded endpoint definition.
    Schema {
        #[arg(value_enum)]
        which: SchemaKind,
    },
}

/// One step file, or many steps as JSON lines.
#[derive(Args)]
struct Input {
    /// The step file: {"parameters": {...}, "context": {...}}.
    #[arg(
        value_name = "STEP.json",
        required_unless_present = "jsonl",
        conflicts_with = "jsonl"
    )]
    step: Option<PathBuf>,
    /// One step per line of FILE (`-` for stdin); one output line per step, in input order.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// JSON Schema of a step's parameters, for editors.
    Input,
    /// JSON Schema of the task output.
    Output,
    /// JSON Schema of the test-request report.
    Report,
    /// The endpoint definition in use.
    Definition,
}

/// Input that cannot be used at all: exit 2 with one line on stderr.
struct Unusable(String);

const EXIT_FAILED: u8 = 1;
const EXIT_UNUSABLE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(Unusable(message)) => {
            eprintln!("apikey-task: {message}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Unusable> {
    let endpoint = endpoint(&cli)?;
    match cli.command {
        Command::Schema { which } => {
            let report = TestReport::schema();
            let document = match which {
                SchemaKind::Input => endpoint.input_schema(),
                SchemaKind::Output => endpoint.output_schema(),
                SchemaKind::Report => &report,
                SchemaKind::Definition => endpoint.definition().document(),
            };
            print_json(&serde_json::to_string_pretty(document).map_err(json_error)?)?;
            Ok(0)
        }
        Command::TestRequest {
            input: Input {
                step: Some(path), ..
            },
        } => {
            let step = read_step(&path)?;
            let report = endpoint.test_request(step, Credentials::from_env().as_ref());
            print_json(&serde_json::to_string_pretty(&report).map_err(json_error)?)?;
            Ok(if report.valid { 0 } else { EXIT_FAILED })
        }
        Command::TestRequest {
            input: Input {
                jsonl: Some(path), ..
            },
        } => test_request_lines(&endpoint, &path),
        Command::Run {
            input: Input { step, jsonl },
            concurrency,
            server,
            reveal_secret,
        } => {
            let executor = Executor::builder()
                .build()
                .map_err(|e| Unusable(e.to_string()))?;
            let sink: &dyn SecretSink = if reveal_secret { &Reveal } else { &Redact };
            match (step, jsonl) {
                (Some(path), _) => {
                    let mut step = read_step(&path)?;
                    override_server(&mut step, server.as_deref());
                    let (text, ok) = outcome_json(
                        &executor.execute(&endpoint, step, &FromEnv, sink).await,
                        true,
                    )?;
                    print_json(&text)?;
                    Ok(if ok { 0 } else { EXIT_FAILED })
                }
                (None, Some(path)) => {
                    run_lines(&endpoint, &executor, &path, concurrency, server, sink).await
                }
                (None, None) => Err(Unusable("give STEP.json or --jsonl FILE".into())),
            }
        }
        Command::Emulator {
            port,
            rate_limit,
            rate_window,
            accept,
        } => {
            let mut builder = Emulator::builder();
            builder = match rate_limit {
                Some(0) => builder.unlimited(),
                Some(limit) => builder.rate_limit(limit, Duration::from_secs(rate_window)),
                None => builder,
            };
            for credential in accept {
                builder = builder.accept(credential);
            }
            let running = builder
                .build()
                .start(&format!("127.0.0.1:{port}"))
                .await
                .map_err(|e| Unusable(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
            // Whoever started us may stop reading after the first line; that is no reason to
            // stop serving.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "emulator listening on {}", running.url());
            let _ = writeln!(
                out,
                "try: REBILLY_API_KEY=any apikey-task run STEP.json --server {}",
                running.url()
            );
            let _ = out.flush();
            let _ = tokio::signal::ctrl_c().await;
            running.shutdown().await;
            Ok(0)
        }
        Command::Demo => demo(&endpoint).await,
        Command::Serve {
            port,
            host,
            allowed_hosts,
            allow_run,
            allow_run_to,
            cors_origins,
            max_body_bytes,
        } => {
            let options = ServeOptions {
                addr: std::net::SocketAddr::new(host, port),
                allowed_hosts,
                allow_run,
                allow_run_to,
                cors_origins,
                max_body_bytes,
            };
            serve(endpoint, options).await
        }
        Command::Worker {
            temporal_address,
            namespace,
            task_queue,
        } => worker(temporal_address, namespace, task_queue).await,
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

fn read_step(path: &Path) -> Result<Step, Unusable> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
    Step::from_json(&text)
        .map_err(|e| Unusable(format!("{}: not a step file: {e}", path.display())))
}

fn override_server(step: &mut Step, server: Option<&str>) {
    if let Some(server) = server {
        step.parameters
            .insert("server".into(), Value::String(server.to_owned()));
    }
}

/// The output or error of one execution as JSON text, and whether it succeeded.
fn outcome_json(
    outcome: &Result<TaskOutput, apikey_task::TaskError>,
    pretty: bool,
) -> Result<(String, bool), Unusable> {
    let (value, ok) = match outcome {
        Ok(output) => (serde_json::to_value(output).map_err(json_error)?, true),
        Err(error) => (error.to_json(), false),
    };
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .map_err(json_error)?;
    Ok((text, ok))
}

/// Lines of FILE (or stdin), numbered from 1, blank ones skipped.
fn lines(path: &Path) -> Result<Vec<(usize, String)>, Unusable> {
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

fn unusable_line(number: usize, error: &serde_json::Error) -> String {
    json!({ "line": number, "error": format!("not a step: {error}") }).to_string()
}

/// One compact report per input line, in order. A line that is not a step gets
/// `{"line": N, "error": ...}` so outputs stay aligned with inputs.
fn test_request_lines(endpoint: &Endpoint, path: &Path) -> Result<u8, Unusable> {
    let credentials = Credentials::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    for (number, line) in lines(path)? {
        match Step::from_json(&line) {
            Ok(step) => {
                let report: TestReport = endpoint.test_request(step, credentials.as_ref());
                if !report.valid {
                    code = code.max(EXIT_FAILED);
                }
                serde_json::to_writer(&mut out, &report).map_err(json_error)?;
            }
            Err(error) => {
                code = EXIT_UNUSABLE;
                out.write_all(unusable_line(number, &error).as_bytes())
                    .map_err(write_error)?;
            }
        }
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(code)
}

/// Executes one step per line with up to `concurrency` in flight; prints results in input
/// order as they complete.
async fn run_lines(
    endpoint: &Endpoint,
    executor: &Executor,
    path: &Path,
    concurrency: u16,
    server: Option<String>,
    sink: &dyn SecretSink,
) -> Result<u8, Unusable> {
    let lines = lines(path)?;
    let mut results = futures_util::stream::iter(lines)
        .map(|(number, line)| {
            let server = server.clone();
            async move {
                match Step::from_json(&line) {
                    Ok(mut step) => {
                        override_server(&mut step, server.as_deref());
                        let outcome = executor.execute(endpoint, step, &FromEnv, sink).await;
                        outcome_json(&outcome, false).map(|(text, ok)| (text, ok, true))
                    }
                    Err(error) => Ok((unusable_line(number, &error), false, false)),
                }
            }
        })
        .buffered(usize::from(concurrency));
    let stdout = std::io::stdout();
    let mut code = 0;
    while let Some(result) = results.next().await {
        let (text, ok, usable) = result?;
        if !usable {
            code = EXIT_UNUSABLE;
        } else if !ok {
            code = code.max(EXIT_FAILED);
        }
        let mut out = stdout.lock();
        writeln!(out, "{text}").map_err(write_error)?;
    }
    Ok(code)
}

#[cfg_attr(not(feature = "serve"), allow(dead_code))]
struct ServeOptions {
    addr: std::net::SocketAddr,
    allowed_hosts: Vec<String>,
    allow_run: bool,
    allow_run_to: Vec<String>,
    cors_origins: Vec<String>,
    max_body_bytes: Option<usize>,
}

#[cfg(feature = "serve")]
async fn serve(endpoint: Endpoint, options: ServeOptions) -> Result<u8, Unusable> {
    use apikey_task::serve::EditorApi;
    let mut builder = EditorApi::builder(std::sync::Arc::new(endpoint)).credentials(FromEnv);
    if let Some(bytes) = options.max_body_bytes {
        builder = builder.body_limit(bytes);
    }
    if !options.addr.ip().is_loopback() {
        eprintln!(
            "apikey-task: listening on {}, reachable from other machines",
            options.addr
        );
        if options.allowed_hosts.is_empty() {
            builder = builder.any_host();
        }
    }
    for name in options.allowed_hosts {
        builder = builder.allowed_host(name);
    }
    if options.allow_run {
        let executor = Executor::builder()
            .build()
            .map_err(|e| Unusable(e.to_string()))?;
        builder = builder.allow_run(executor);
        for base in options.allow_run_to {
            builder = builder.allow_run_to(base);
        }
    }
    for origin in options.cors_origins {
        builder = builder.cors_origin(origin);
    }
    let server = builder.build().map_err(|e| Unusable(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| Unusable(format!("cannot listen on {}: {e}", options.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Unusable(format!("cannot listen on {}: {e}", options.addr)))?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "serving on http://{addr}/");
    let _ = out.flush();
    // Answers are written in more than one piece; without TCP_NODELAY the last piece of a
    // large report can wait for the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, server.into_router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Unusable(format!("server: {e}")))?;
    Ok(0)
}

#[cfg(not(feature = "serve"))]
async fn serve(_endpoint: Endpoint, _options: ServeOptions) -> Result<u8, Unusable> {
    Err(Unusable(
        "this build has no editor server; build with the default `serve` feature".into(),
    ))
}

#[cfg(feature = "temporal")]
async fn worker(address: String, namespace: String, task_queue: String) -> Result<u8, Unusable> {
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let task = apikey_task::task::HttpTask::create_api_key(executor)
        .map_err(|e| Unusable(e.to_string()))?;
    let config = apikey_task::temporal::WorkerConfig {
        address: address.clone(),
        namespace,
        task_queue,
    };
    eprintln!(
        "apikey-task: worker polling {address} (queue {})",
        config.task_queue
    );
    apikey_task::temporal::run_worker(config, task)
        .await
        .map_err(|e| Unusable(format!("worker: {e}")))?;
    Ok(0)
}

#[cfg(not(feature = "temporal"))]
async fn worker(_address: String, _namespace: String, _task_queue: String) -> Result<u8, Unusable> {
    Err(Unusable(
        "this build has no Temporal worker; build with `cargo build --release --features temporal`"
            .into(),
    ))
}

/// The embedded two-step workflow against an in-process emulator.
async fn demo(endpoint: &Endpoint) -> Result<u8, Unusable> {
    let workflow: Value = serde_json::from_str(include_str!("../fixtures/demo/workflow.json"))
        .map_err(|e| Unusable(format!("demo workflow: {e}")))?;
    let running = Emulator::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .map_err(|e| Unusable(format!("cannot start the emulator: {e}")))?;
    let server = format!("{}/organizations/{{organizationId}}", running.url());
    eprintln!(
        "demo: emulator on {}; running fixtures/demo/workflow.json",
        running.url()
    );
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let credentials = Credentials::ApiKey(Secret::new("sk_demo_local_emulator_only"));

    let mut context = Map::new();
    context.insert(
        "workflow".into(),
        json!({ "workflowId": "demo", "input": workflow["input"] }),
    );
    for step in workflow["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        let mut parameters = step["parameters"].as_object().cloned().unwrap_or_default();
        parameters.insert("server".into(), Value::String(server.clone()));
        let ctx = TaskContext::new(&context, &credentials, &Redact);
        let outcome = executor.execute_in(endpoint, parameters, &ctx).await;
        let (text, _) = outcome_json(&outcome, true)?;
        println!("== {name}\n{text}");
        let Ok(output) = outcome else {
            return Ok(EXIT_FAILED);
        };
        context.insert(
            name,
            json!({ "output": serde_json::to_value(&output).map_err(json_error)? }),
        );
    }
    running.shutdown().await;
    Ok(0)
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
