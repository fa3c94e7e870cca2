//! `apikey-task run`: execute one step file, or one step per line with bounded concurrency.

use apikey_task::secrets::SecretSink;
use apikey_task::{Endpoint, Executor, FromEnv, Step};
use futures_util::{FutureExt, StreamExt};
use serde_json::json;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, Line, Unusable, lines, outcome_json, override_server, print_json,
    read_step, step_of, unusable_line, write_error,
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
    if usize::from(concurrency) > executor.max_in_flight() {
        eprintln!(
            "apikey-task: at most {} requests in flight (the open-file limit allows no more); the other steps wait for a free slot",
            executor.max_in_flight()
        );
    }
    let execute = |mut step: Step| async move {
        override_server(&mut step, server);
        let outcome = executor.execute(endpoint, step, &FromEnv, sink).await;
        outcome_json(&outcome, false)
    };
    let stdout = std::io::stdout();
    each_line(lines, usize::from(concurrency), execute, &mut stdout.lock()).await
}

/// Runs `execute` for each line, up to `concurrency` at once, and writes exactly one record
/// per line in input order: its output or error document, `{"line": N, "error": "..."}` for a
/// line that is not a step, and for a step whose execution panicked an error record that
/// says its outcome is unknown. The exit code is the worst seen: 2 for an unusable line, 1
/// for a failed step.
async fn each_line<F, Fut>(
    lines: Vec<(usize, Line)>,
    concurrency: usize,
    execute: F,
    out: &mut impl Write,
) -> Result<u8, Unusable>
where
    F: Fn(Step) -> Fut,
    Fut: Future<Output = Result<(String, bool), Unusable>>,
{
    let mut results = futures_util::stream::iter(lines)
        .map(|(number, line)| {
            let step = step_of(line);
            let execute = &execute;
            async move {
                let step = match step {
                    Ok(step) => step,
                    Err(why) => return Ok((unusable_line(number, &why), EXIT_UNUSABLE)),
                };
                match AssertUnwindSafe(execute(step)).catch_unwind().await {
                    Ok(Ok((text, ok))) => Ok((text, if ok { 0 } else { EXIT_FAILED })),
                    // The outcome could not be written: still this line's record, not the end
                    // of the batch.
                    Ok(Err(Unusable(why))) => Ok((unusable_line(number, &why), EXIT_FAILED)),
                    Err(_) => Ok((panicked(number), EXIT_FAILED)),
                }
            }
        })
        .buffered(concurrency.max(1));
    let mut code = 0;
    while let Some(result) = results.next().await {
        let (text, line_code) = result?;
        code = code.max(line_code);
        writeln!(out, "{text}").map_err(write_error)?;
    }
    Ok(code)
}

/// The record of a line whose execution panicked: the request may have left, so the outcome
/// is unknown. The panic's own message is on stderr.
fn panicked(number: usize) -> String {
    json!({
        "line": number,
        "error": {
            "kind": "internal",
            "retryable": false,
            "outcomeUnknown": true,
            "message": "internal error while executing this step (see stderr); the request may have been sent: check before retrying",
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn numbered(texts: &[&str]) -> Vec<(usize, Line)> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| (i + 1, Ok((*text).to_owned())))
            .collect()
    }

    fn records(out: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(out)
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON line"))
            .collect()
    }

    const STEP: &str = r#"{"parameters": {"n": 1}}"#;

    #[tokio::test]
    async fn unusable_lines_get_their_own_record_and_the_others_run() {
        let mut lines = numbered(&[STEP, "not json", STEP]);
        lines.push((4, Err("not UTF-8: invalid byte at offset 3".to_owned())));
        let execute = |_step: Step| async { Ok(("{\"ok\":true}".to_owned(), true)) };
        let mut out = Vec::new();
        let code = each_line(lines, 2, execute, &mut out).await.ok();
        let records = records(&out);
        assert_eq!(code, Some(EXIT_UNUSABLE));
        assert_eq!(records.len(), 4, "{records:?}");
        assert_eq!(records[0]["ok"], true);
        assert_eq!(records[1]["line"], 2);
        assert_eq!(records[2]["ok"], true);
        assert_eq!(records[3]["line"], 4);
        assert_eq!(records[3]["error"], "not UTF-8: invalid byte at offset 3");
    }

    #[tokio::test]
    async fn a_panicking_step_is_its_own_line_and_the_others_complete() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let panicking = |_step: Step| {
            let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                tokio::task::yield_now().await;
                assert!(call != 1, "step two blows up");
                Ok(("{\"ok\":true}".to_owned(), true))
            }
        };
        let mut out = Vec::new();
        let code = each_line(numbered(&[STEP, STEP, STEP]), 3, panicking, &mut out)
            .await
            .ok();
        let records = records(&out);
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0]["ok"], true);
        assert_eq!(records[1]["line"], 2);
        assert_eq!(records[1]["error"]["kind"], "internal");
        assert_eq!(records[1]["error"]["outcomeUnknown"], true);
        assert_eq!(records[2]["ok"], true);
        assert_eq!(code, Some(EXIT_FAILED));
    }
}
