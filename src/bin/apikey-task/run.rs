//! `apikey-task run`: execute one step file, or one step per line with bounded concurrency.

use apikey_task::secrets::SecretSink;
use apikey_task::{Endpoint, Executor, FromEnv, Step};
use futures_util::StreamExt;
use std::io::Write;
use std::path::Path;

use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, Unusable, lines, outcome_json, override_server, print_json,
    read_step, unusable_line, write_error,
};

/// One pretty output or error document; exit 0 on success, 1 when the step failed.
pub async fn one(
    endpoint: &Endpoint,
    executor: &Executor,
    path: &Path,
    server: Option<&str>,
    sink: &dyn SecretSink,
) -> Result<u8, Unusable> {
    let mut step = read_step(path)?;
    override_server(&mut step, server);
    let (text, ok) = outcome_json(
        &executor.execute(endpoint, step, &FromEnv, sink).await,
        true,
    )?;
    print_json(&text)?;
    Ok(if ok { 0 } else { EXIT_FAILED })
}

/// Executes one step per line with up to `concurrency` in flight; prints results in input
/// order as they complete.
pub async fn lines_of(
    endpoint: &Endpoint,
    executor: &Executor,
    path: &Path,
    concurrency: u16,
    server: Option<&str>,
    sink: &dyn SecretSink,
) -> Result<u8, Unusable> {
    let lines = lines(path)?;
    let mut results = futures_util::stream::iter(lines)
        .map(|(number, line)| async move {
            match Step::from_json(&line) {
                Ok(mut step) => {
                    override_server(&mut step, server);
                    let outcome = executor.execute(endpoint, step, &FromEnv, sink).await;
                    outcome_json(&outcome, false).map(|(text, ok)| (text, ok, true))
                }
                Err(error) => Ok((unusable_line(number, &error), false, false)),
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
