//! The command line's grammar (clap): global options, subcommands and their arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Create Rebilly API keys from workflow steps: render, validate, dry-run and execute
/// `POST /api-keys`.
#[derive(Parser)]
#[command(name = "apikey-task", version)]
pub struct Cli {
    /// Load this endpoint definition (OpenAPI 3.0/3.1 JSON) instead of the embedded one.
    #[arg(long, global = true, value_name = "PATH")]
    pub definition: Option<PathBuf>,
    /// Select the operation by operationId (default: the only one, or PostApiKey when embedded).
    #[arg(long, global = true, value_name = "ID", conflicts_with = "task")]
    pub operation: Option<String>,
    /// Select the operation by the task type the definition gives it (`x-task-type`); the
    /// embedded definition has CreateApiKey (its default), GetApiKey, ListApiKeys,
    /// UpsertApiKey and DeleteApiKey.
    #[arg(long, global = true, value_name = "TYPE")]
    pub task: Option<String>,
    /// Let steps send credentials to this base URL's origin besides the definition's servers
    /// and loopback (repeatable). Workflow data can choose a server but never add one.
    #[arg(long = "allow-server", global = true, value_name = "URL")]
    pub allow_servers: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// List the keys a create of unknown outcome may have made, from the error `run` printed.
    ///
    /// ERROR.json is the error document (`"outcomeUnknown": true`); its `reconcile.list` step
    /// is run with REBILLY_API_KEY or REBILLY_JWT, and the keys created since the request with
    /// the same description are printed as `candidates`. Exit status: 0 the listing worked
    /// (see `candidates`), 1 it failed, 2 unusable input.
    Reconcile {
        /// The error document printed by `apikey-task run`.
        #[arg(value_name = "ERROR.json")]
        error: PathBuf,
    },
    /// Serve the local emulator of the API-key resource until interrupted: GET and POST
    /// /api-keys, GET, PUT and DELETE /api-keys/{id}, per organization.
    ///
    /// Paths may carry an /organizations/{organizationId} prefix; without one the organization
    /// is `default`. Keys live in memory only. --lose-answers and --slow-creates-ms make it
    /// misbehave on purpose, to try how a client copes with a create whose answer never
    /// comes back or comes late.
    Emulator(EmulatorArgs),
    /// Serve the editor's HTTP API and its reference panel: open http://127.0.0.1:PORT/.
    ///
    /// POST /v1/test-request, GET /v1/schemas/{input,output,report}, GET /healthz, and
    /// POST /v1/run with --allow-run. The first line on stdout is `serving on URL`.
    Serve(ServeArgs),
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
    /// Run a key-rotation workflow against a local emulator: create the new key at an id of
    /// its own (safe to retry, and the emulator loses the first answer to show it), read it
    /// back, delete the key it replaces; then run it again with the same workflow id, which
    /// creates nothing. No account and no network needed.
    Demo,
    /// Print a JSON document: a JSON Schema, or the loaded endpoint definition.
    Schema {
        #[arg(value_enum)]
        which: SchemaKind,
    },
}

/// What `serve` takes: where to listen, who may call, and what it may do.
#[derive(Args)]
pub struct ServeArgs {
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub host: std::net::IpAddr,
    /// Also answer this Host name (repeatable). By default only localhost, 127.0.0.1 and
    /// [::1] are answered; on a non-loopback --host without this, any.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Enable POST /v1/run: execute steps for real with REBILLY_API_KEY or REBILLY_JWT,
    /// against the definition's servers only.
    #[arg(long)]
    pub allow_run: bool,
    /// Let /v1/run also send to this base URL, e.g. a local emulator (repeatable).
    #[arg(long = "allow-run-to", value_name = "URL", requires = "allow_run")]
    pub allow_run_to: Vec<String>,
    /// Let pages on this origin call the API (repeatable; `*` for any, not with
    /// --allow-run).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes [default: 262144].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most connections open at once; a new one beyond it closes the oldest [default:
    /// half of the open-file limit left after 64, at most 1024].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
}

/// What `emulator` takes: where to listen, who may call, its rate limit and its misbehaviour.
#[derive(Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    pub port: u16,
    /// Answer 429 after this many non-GET requests per organization within --rate-window
    /// (default: the sandbox's 3000 per 600 s; 0 for no limit).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// The rate-limit window, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub rate_window: u64,
    /// Accept only this credential (repeatable); by default any non-empty one.
    #[arg(long, value_name = "KEY")]
    pub accept: Vec<String>,
    /// Lose the answers of the first N creates (POST, or a PUT that creates): store the key,
    /// then close the connection without answering.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub lose_answers: u32,
    /// Hold each create's or update's answer this many milliseconds after storing the key.
    #[arg(long, value_name = "MS")]
    pub slow_creates_ms: Option<u64>,
}

/// One step file, or many steps as JSON lines.
#[derive(Args)]
pub struct Input {
    /// The step file: {"parameters": {...}, "context": {...}}.
    #[arg(
        value_name = "STEP.json",
        required_unless_present = "jsonl",
        conflicts_with = "jsonl"
    )]
    pub step: Option<PathBuf>,
    /// One step per line of FILE (`-` for stdin); one output line per step, in input order.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// JSON Schema of a step's parameters, for editors.
    Input,
    /// JSON Schema of the task output.
    Output,
    /// JSON Schema of the test-request report.
    Report,
    /// The endpoint definition in use.
    Definition,
}
