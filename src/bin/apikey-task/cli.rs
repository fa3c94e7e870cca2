//! The command line's grammar (clap): global options, subcommands and their arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Create Rebilly API keys from workflow steps: render, validate, dry-run and execute
/// `POST /api-keys`.
#[derive(Parser)]
#[command(name = "apikey-task", version)]
pub struct Cli {
    /// How log lines on stderr are written (RUST_LOG sets which): text, coloured only on a
    /// terminal and without NO_COLOR, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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
        /// `json` (the report), or `text`: valid or not, each problem as `POINTER: message`,
        /// the request line and the curl line.
        #[arg(long, value_enum, default_value_t = Format::Json, conflicts_with = "jsonl")]
        format: Format,
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
        /// With --jsonl: print each record as its step finishes, not in input order (each
        /// still carries its `line`). Not `requires = "jsonl"`: see `Input::max_line_bytes`.
        #[arg(long, conflicts_with = "step")]
        unordered: bool,
        /// `json` (the output or error document), or `text`: the status line and the key's
        /// id, or the error.
        #[arg(long, value_enum, default_value_t = Format::Json, conflicts_with = "jsonl")]
        format: Format,
    },
    /// List the keys a create of unknown outcome may have made, from the error `run` printed.
    ///
    /// ERROR.json is the error document (`"outcomeUnknown": true`); its `reconcile.list` step
    /// is run with REBILLY_API_KEY or REBILLY_JWT, and the keys created since the request with
    /// the same description are printed as `candidates`. Exit status: 0 the listing worked
    /// (see `candidates`), 1 it failed, 2 unusable input.
    Reconcile {
        /// The error document printed by `apikey-task run` (`-` for stdin).
        #[arg(value_name = "ERROR.json")]
        error: PathBuf,
    },
    /// Serve the local emulator of the API-key resource until interrupted: GET and POST
    /// /api-keys, GET, PUT and DELETE /api-keys/{id}, per organization.
    ///
    /// Paths may carry an /organizations/{organizationId} prefix; without one the organization
    /// is `default`. Keys live in memory only. --lose-answers and --slow-creates-ms make it
    /// misbehave on purpose, to try how a client copes with a create whose answer never
    /// comes back or comes late. Ctrl-C or SIGTERM: the requests in flight are answered, then
    /// exit 0.
    Emulator(EmulatorArgs),
    /// Serve the editor's HTTP API and its reference panel: open http://127.0.0.1:PORT/.
    ///
    /// POST /v1/test-request, POST /v1/convert, GET /v1/schemas/{input,output,report}, GET
    /// /healthz, and POST /v1/run with --allow-run. The first line on stdout is `serving on
    /// URL`. Ctrl-C or SIGTERM: the requests in flight are answered, then exit 0.
    Serve(ServeArgs),
    /// Run a Temporal activity worker: activity `CreateApiKey`, workflow `CreateApiKeyWorkflow`.
    ///
    /// Needs a build with `--features temporal`. Credentials come from REBILLY_API_KEY or
    /// REBILLY_JWT in the worker's environment.
    #[cfg_attr(not(feature = "temporal"), command(hide = true))]
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
    /// Convert between a step, a curl command line and a Conductor HTTP task.
    ///
    /// A curl line or Conductor task becomes a step of the definition's operation with its
    /// method and path (`--task` and `--operation` are not needed); credential headers are
    /// left out, with a warning on stderr. A step is read for the operation `--task` or
    /// `--operation` selects. Exit status: 0 converted, 1 no operation of the definition
    /// matches, 2 unusable input.
    Convert {
        /// What FILE holds.
        #[arg(long, value_enum)]
        from: Kind,
        /// What to print: JSON, or for `curl` the command line as text.
        #[arg(long, value_enum)]
        to: Kind,
        /// The Conductor task's name and taskReferenceName, with --to conductor.
        #[arg(long, default_value = "api_key", value_name = "NAME")]
        name: String,
        /// The input (`-` for stdin).
        #[arg(value_name = "FILE", default_value = "-")]
        input: PathBuf,
    },
    /// Print a shell completion script: `apikey-task completions bash > /etc/bash_completion.d/apikey-task`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `apikey-task man | man -l -`.
    Man,
}

/// What `convert` reads and writes.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A step file: {"parameters": {...}, "context": {...}}.
    Step,
    /// A curl command line.
    Curl,
    /// A Conductor HTTP task (JSON).
    Conductor,
}

/// How `test-request` and `run` print their result.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The JSON document.
    Json,
    /// A short human-readable rendering.
    Text,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    /// The step file: {"parameters": {...}, "context": {...}} (`-` for stdin).
    #[arg(
        value_name = "STEP.json",
        required_unless_present = "jsonl",
        conflicts_with = "jsonl"
    )]
    pub step: Option<PathBuf>,
    /// One step per line of FILE (`-` for stdin); one record per step, in input order, each
    /// with its `line` number.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// With --jsonl: the longest line taken, in bytes [default: 16777216, 16 MiB]. A longer
    /// line gets an error record and is skipped without being held, so that one endless line
    /// cannot take all memory.
    // Not `requires = "jsonl"`: clap does not enforce it on an argument given with STEP,
    // which conflicts with --jsonl, and the option would be ignored without a word.
    #[arg(
        long,
        value_name = "BYTES",
        conflicts_with = "step",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_line_bytes: Option<u64>,
}

impl Input {
    /// `--max-line-bytes`, or its default.
    pub fn line_limit(&self) -> usize {
        self.max_line_bytes.map_or(DEFAULT_MAX_LINE_BYTES, |bytes| {
            usize::try_from(bytes).unwrap_or(usize::MAX)
        })
    }
}

/// `--max-line-bytes`: 16 MiB, room for a step with a large workflow state (a 10 MiB one
/// takes about 0.2 s).
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

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
