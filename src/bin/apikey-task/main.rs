//! `apikey-task`: the command line of the apikey-task plugin. This file only parses and
//! dispatches; each subcommand has its own module, and all of them use the library's public
//! API.

#![forbid(unsafe_code)]

mod cli;
mod convert;
mod demo;
mod emulator;
mod io;
mod progress;
mod reconcile;
mod run;
mod schema;
mod serve;
mod test_request;
mod worker;

use apikey_task::Executor;
use apikey_task::secrets::{Redact, Reveal, SecretSink};
use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command, Input, LogFormat};
use io::{EXIT_UNUSABLE, Unusable};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc, where the `mimalloc` feature is on (the default): see Cargo.toml.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    init_logs(cli.log_format);
    match dispatch(cli).await {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`| head -1`) is not a failure: stop quietly.
        Err(unusable) if unusable.is_closed_output() => ExitCode::SUCCESS,
        Err(Unusable(message)) => {
            eprintln!("apikey-task: {message}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

/// The grammar, with `--version` naming the cargo features this binary was built with.
pub fn command() -> clap::Command {
    let features: Vec<&str> = [
        ("cli", cfg!(feature = "cli")),
        ("serve", cfg!(feature = "serve")),
        ("emulator", cfg!(feature = "emulator")),
        ("temporal", cfg!(feature = "temporal")),
        ("exact-numbers", cfg!(feature = "exact-numbers")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let version = format!(
        "{} (features: {})",
        env!("CARGO_PKG_VERSION"),
        features.join(", ")
    );
    // Built once per process; clap keeps `&'static str`s.
    Cli::command().version(&*Box::leak(version.into_boxed_str()))
}

/// Logs to stderr at RUST_LOG's level (default `warn`): colour only on a terminal and without
/// NO_COLOR, so a log file or CI output holds no escape codes.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Unusable> {
    io::refuse_inapplicable(&cli)?;
    let named = match &cli.command {
        Command::Run {
            server: Some(server),
            ..
        } if server.contains("://") => vec![server.clone()],
        Command::Serve(args) => args.allow_run_to.clone(),
        _ => Vec::new(),
    };
    // These choose their operations themselves, or need none.
    match &cli.command {
        Command::Reconcile { error } => {
            let create = io::endpoint(&cli, &named)?;
            return reconcile::run(io::builder(&cli, &named)?, &create, error).await;
        }
        Command::Demo => return demo::run(io::builder(&cli, &named)?).await,
        Command::Completions { shell } => {
            let mut out = std::io::stdout();
            clap_complete::generate(*shell, &mut command(), "apikey-task", &mut out);
            return Ok(0);
        }
        Command::Man => {
            let mut out = std::io::stdout();
            clap_mangen::Man::new(command())
                .render(&mut out)
                .map_err(io::write_error)?;
            return Ok(0);
        }
        Command::Convert {
            from,
            to,
            name,
            input,
        } => {
            let builder = io::builder(&cli, &named)?;
            // --task or --operation, when given, is what the input must be.
            let chosen = (cli.task.is_some() || cli.operation.is_some())
                .then(|| io::endpoint(&cli, &named))
                .transpose()?;
            let selected = || io::endpoint(&cli, &named);
            return convert::run(builder, selected, chosen, *from, *to, name, input);
        }
        _ => {}
    }
    let endpoint = io::endpoint(&cli, &named)?;
    match cli.command {
        Command::Schema { which } => schema::run(&endpoint, which),
        Command::TestRequest {
            input: Input {
                step: Some(path), ..
            },
            format,
        } => test_request::one(&endpoint, &path, format),
        Command::TestRequest {
            input:
                ref input @ Input {
                    jsonl: Some(ref path),
                    ..
                },
            ..
        } => test_request::lines_of(endpoint, path, input.line_limit()),
        Command::TestRequest { .. } => Err(Unusable("give STEP.json or --jsonl FILE".into())),
        Command::Run {
            input,
            concurrency,
            server,
            reveal_secret,
            unordered,
            format,
        } => {
            let executor = Executor::builder()
                .build()
                .map_err(|e| Unusable(e.to_string()))?;
            let sink: &dyn SecretSink = if reveal_secret { &Reveal } else { &Redact };
            let max_line_bytes = input.line_limit();
            match (input.step, input.jsonl) {
                (Some(path), _) => {
                    run::one(&endpoint, &executor, &path, server.as_deref(), sink, format).await
                }
                (None, Some(path)) => {
                    let options = run::Batch {
                        concurrency: usize::from(concurrency),
                        server: server.as_deref(),
                        unordered,
                        max_line_bytes,
                    };
                    run::lines_of(endpoint, &executor, &path, options, sink).await
                }
                (None, None) => Err(Unusable("give STEP.json or --jsonl FILE".into())),
            }
        }
        Command::Emulator(args) => emulator::run(args).await,
        Command::Serve(args) => serve::run(endpoint, args).await,
        Command::Worker {
            temporal_address,
            namespace,
            task_queue,
        } => worker::run(endpoint, temporal_address, namespace, task_queue).await,
        Command::Demo
        | Command::Reconcile { .. }
        | Command::Completions { .. }
        | Command::Man
        | Command::Convert { .. } => Err(Unusable("this command is dispatched above".into())),
    }
}
