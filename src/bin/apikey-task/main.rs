//! `apikey-task`: the command line of the apikey-task plugin. This file only parses and
//! dispatches; each subcommand has its own module, and all of them use the library's public
//! API.

#![forbid(unsafe_code)]

mod cli;
mod demo;
mod emulator;
mod io;
mod reconcile;
mod run;
mod schema;
mod serve;
mod test_request;
mod worker;

use apikey_task::Executor;
use apikey_task::secrets::{Redact, Reveal, SecretSink};
use clap::Parser;
use cli::{Cli, Command, Input};
use io::{EXIT_UNUSABLE, Unusable};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(Cli::parse()).await {
        Ok(code) => ExitCode::from(code),
        Err(Unusable(message)) => {
            eprintln!("apikey-task: {message}");
            ExitCode::from(EXIT_UNUSABLE)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Unusable> {
    let named = match &cli.command {
        Command::Run {
            server: Some(server),
            ..
        } if server.contains("://") => vec![server.clone()],
        Command::Serve(args) => args.allow_run_to.clone(),
        _ => Vec::new(),
    };
    // These two choose their operations themselves.
    match &cli.command {
        Command::Reconcile { error } => {
            let create = io::endpoint(&cli, &named)?;
            return reconcile::run(io::builder(&cli, &named)?, &create, error).await;
        }
        Command::Demo => return demo::run(io::builder(&cli, &named)?).await,
        _ => {}
    }
    let endpoint = io::endpoint(&cli, &named)?;
    match cli.command {
        Command::Schema { which } => schema::run(&endpoint, which),
        Command::TestRequest {
            input: Input {
                step: Some(path), ..
            },
        } => test_request::one(&endpoint, &path),
        Command::TestRequest {
            input: Input {
                jsonl: Some(path), ..
            },
        } => test_request::lines_of(&endpoint, &path),
        Command::TestRequest { .. } => Err(Unusable("give STEP.json or --jsonl FILE".into())),
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
                    run::one(&endpoint, &executor, &path, server.as_deref(), sink).await
                }
                (None, Some(path)) => {
                    let server = server.as_deref();
                    run::lines_of(&endpoint, &executor, &path, concurrency, server, sink).await
                }
                (None, None) => Err(Unusable("give STEP.json or --jsonl FILE".into())),
            }
        }
        Command::Emulator(args) => emulator::run(args).await,
        Command::Demo | Command::Reconcile { .. } => {
            Err(Unusable("this command is dispatched above".into()))
        }
        Command::Serve(args) => serve::run(endpoint, args).await,
        Command::Worker {
            temporal_address,
            namespace,
            task_queue,
        } => worker::run(endpoint, temporal_address, namespace, task_queue).await,
    }
}
