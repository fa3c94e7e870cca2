//! `apikey-task run`: execute one step file, or one step per line with bounded concurrency.

use apikey_task::secrets::SecretSink;
use apikey_task::task::{HttpTask, Task};
use apikey_task::{Endpoint, Executor, FromEnv, Step, TaskContext, TaskError, TaskOutput};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use tokio::sync::mpsc;

use crate::cli::Format;
use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, Line, LineStream, Unusable, count_lines, json_error, outcome_json,
    override_server, print_json, read_step, record, step_of, unusable_line, write_error,
};
use crate::progress::Progress;

/// One pretty output or error document (or its text rendering); exit 0 on success, 1 when
/// the step failed.
pub async fn one(
    endpoint: &Endpoint,
    executor: &Executor,
    path: &Path,
    server: Option<&str>,
    sink: &dyn SecretSink,
    format: Format,
) -> Result<u8, Unusable> {
    let mut step = read_step(path)?;
    override_server(&mut step, server);
    let outcome = executor.execute(endpoint, step, &FromEnv, sink).await;
    let (text, ok) = match format {
        Format::Json => outcome_json(&outcome, true)?,
        Format::Text => (as_text(&outcome), outcome.is_ok()),
    };
    print_json(&text)?;
    Ok(if ok { 0 } else { EXIT_FAILED })
}

/// The short rendering: the status line and the key's id, or what failed and whether a retry
/// is safe.
fn as_text(outcome: &Result<TaskOutput, TaskError>) -> String {
    match outcome {
        Ok(output) => {
            let mut text = format!(
                "{} {} -> {} {}",
                output.request.method,
                output.request.url,
                output.response.status_code,
                output.response.reason_phrase
            );
            if let Some(id) = output.response.body.get("id").and_then(Value::as_str) {
                text.push_str(&format!("\nkey {id}"));
            }
            text
        }
        Err(error) => {
            let mut text = format!("failed ({}): {}", error.kind(), error.message());
            for problem in error.problems() {
                text.push_str(&format!(
                    "\n{}: {}",
                    shown_pointer(&problem.path),
                    problem.message
                ));
            }
            text.push_str(if error.is_outcome_unknown() {
                "\noutcome unknown: check before retrying (apikey-task reconcile)"
            } else if error.is_retryable() {
                "\nsafe to retry"
            } else {
                "\nnot retryable"
            });
            text
        }
    }
}

/// A pointer as a text line shows it: the whole document is `/`.
pub fn shown_pointer(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// How a `--jsonl` batch runs.
pub struct Batch<'a> {
    /// Steps in flight at once.
    pub concurrency: usize,
    /// `--server`.
    pub server: Option<&'a str>,
    /// Print each record as it finishes instead of in input order.
    pub unordered: bool,
    /// `--max-line-bytes`.
    pub max_line_bytes: usize,
}

/// Executes one step per line with up to `concurrency` in flight; prints one record per line,
/// each with its `line` number.
pub async fn lines_of(
    endpoint: Endpoint,
    executor: &Executor,
    path: &Path,
    batch: Batch<'_>,
    sink: &dyn SecretSink,
) -> Result<u8, Unusable> {
    // Lines are read on a thread of their own, a bounded way ahead of the steps running: the
    // first step starts at once, memory does not grow with the file, and a slow pipe holds up
    // no record.
    let window = batch.concurrency.saturating_mul(4).max(1);
    let lines = read_ahead(LineStream::open(path, batch.max_line_bytes)?, window);
    if batch.concurrency > executor.max_in_flight() {
        eprintln!(
            "apikey-task: at most {} requests in flight (the open-file limit allows no more); the other steps wait for a free slot",
            executor.max_in_flight()
        );
    }
    let server = batch.server;
    // A task, as a runner holds one: lines that repeat a step's parameters with their own
    // workflow state are executed from the template the endpoint keeps of them (what is sent
    // is the same).
    let task = &HttpTask::new("run", std::sync::Arc::new(endpoint), executor.clone());
    let execute = |mut step: Step| async move {
        override_server(&mut step, server);
        let Step {
            parameters,
            context,
        } = step;
        let ctx = TaskContext::new(&context, &FromEnv, sink);
        let outcome = task.execute(parameters, &ctx).await;
        let ok = outcome.is_ok();
        let document = match &outcome {
            Ok(output) => serde_json::to_value(output),
            Err(error) => serde_json::to_value(error),
        }
        .map_err(json_error)?;
        Ok((document, ok))
    };
    // A bar needs the total: a regular file is counted first, when the bar is drawn at all.
    let total = Progress::draws()
        .then(|| count_lines(path, batch.max_line_bytes))
        .flatten();
    let mut progress = Progress::new(total, &["ok", "failed", "unusable"]);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let order = if batch.unordered {
        Order::AsFinished
    } else {
        Order::Input { window }
    };
    let mut emit = |text: &str, code: u8| {
        progress
            .print(&mut out, text.as_bytes())
            .map_err(write_error)?;
        out.flush().map_err(write_error)?;
        progress.record(outcome_name(code));
        Ok(())
    };
    let code = each_line(lines, batch.concurrency, order, execute, &mut emit).await;
    progress.finish();
    code
}

fn outcome_name(code: u8) -> &'static str {
    match code {
        0 => "ok",
        EXIT_FAILED => "failed",
        _ => "unusable",
    }
}

/// The lines of `stream`, read by a thread of its own at most `ahead` lines before they are
/// taken. A read error is the last item.
fn read_ahead(
    mut stream: LineStream,
    ahead: usize,
) -> mpsc::Receiver<Result<(usize, Line), Unusable>> {
    let (lines, received) = mpsc::channel(ahead.max(1));
    std::thread::spawn(move || {
        loop {
            let next = match stream.next_line() {
                Ok(Some((number, line))) => Ok((number, line.map(str::to_owned))),
                Ok(None) => return,
                Err(error) => Err(error),
            };
            let failed = next.is_err();
            // Sending fails when the batch has stopped reading: its output was closed.
            if lines.blocking_send(next).is_err() || failed {
                return;
            }
        }
    });
    received
}

/// In which order records are written.
#[derive(Clone, Copy)]
enum Order {
    /// Input order. Steps after a slow one keep running, up to `window` lines past the
    /// oldest one not yet written, whose records wait their turn.
    Input { window: usize },
    /// As each step finishes.
    AsFinished,
}

/// Runs `execute` for each line, up to `concurrency` at once, and writes exactly one record
/// per line, `{"line": N, ...}`: its output or error document, `{"line": N, "error": "..."}`
/// for a line that is not a step, and for a step whose execution panicked an error record
/// that says its outcome is unknown. The exit code is the worst seen: 2 for an unusable
/// line, 1 for a failed step. `emit` writes each record, with its line's exit code. Lines
/// are taken from `lines` as there is room for them; when it ends in an error, the steps
/// already started finish and are written, then that error is returned.
async fn each_line<F, Fut>(
    mut lines: mpsc::Receiver<Result<(usize, Line), Unusable>>,
    concurrency: usize,
    order: Order,
    execute: F,
    emit: &mut dyn FnMut(&str, u8) -> Result<(), Unusable>,
) -> Result<u8, Unusable>
where
    F: Fn(Step) -> Fut,
    Fut: Future<Output = Result<(Value, bool), Unusable>>,
{
    let one = |index: usize, number: usize, line: Line| {
        let step = step_of(line.as_deref().map_err(String::clone));
        let execute = &execute;
        async move {
            let step = match step {
                Ok(step) => step,
                Err(why) => return (index, unusable_line(number, &why), EXIT_UNUSABLE),
            };
            let (text, code) = match AssertUnwindSafe(execute(step)).catch_unwind().await {
                Ok(Ok((document, ok))) => {
                    (record(number, document), if ok { 0 } else { EXIT_FAILED })
                }
                // The outcome could not be written: still this line's record, not the end of
                // the batch.
                Ok(Err(Unusable(why))) => (unusable_line(number, &why), EXIT_FAILED),
                Err(_) => (panicked(number), EXIT_FAILED),
            };
            (index, text, code)
        }
    };
    let mut running = FuturesUnordered::new();
    let mut finished: BTreeMap<usize, (String, u8)> = BTreeMap::new();
    let (mut started, mut next_out, mut code) = (0, 0, 0);
    let mut input_left = true;
    let mut unreadable = None;
    let mut write = |text: &str, line_code: u8, code: &mut u8| -> Result<(), Unusable> {
        *code = (*code).max(line_code);
        emit(text, line_code)
    };
    while input_left || !running.is_empty() {
        let room = running.len() < concurrency.max(1)
            && match order {
                Order::Input { window } => started < next_out + window,
                Order::AsFinished => true,
            };
        tokio::select! {
            biased;
            // A finished step first: its record goes out, and makes room for the next line.
            Some(done) = running.next(), if !running.is_empty() => {
                let (index, text, line_code): (usize, String, u8) = done;
                match order {
                    Order::AsFinished => {
                        write(&text, line_code, &mut code)?;
                        next_out += 1;
                    }
                    Order::Input { .. } => {
                        finished.insert(index, (text, line_code));
                        while let Some((text, line_code)) = finished.remove(&next_out) {
                            write(&text, line_code, &mut code)?;
                            next_out += 1;
                        }
                    }
                }
            }
            line = lines.recv(), if input_left && room => match line {
                Some(Ok((number, line))) => {
                    running.push(one(started, number, line));
                    started += 1;
                }
                // The steps already running still finish and get their records.
                Some(Err(unusable)) => {
                    input_left = false;
                    unreadable = Some(unusable);
                }
                None => input_left = false,
            },
            else => break,
        }
    }
    if let Some(unusable) = unreadable {
        return Err(unusable);
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

    /// Lines as the reading thread hands them over, all there at once.
    fn input(lines: Vec<(usize, Line)>) -> mpsc::Receiver<Result<(usize, Line), Unusable>> {
        let (sender, receiver) = mpsc::channel(lines.len().max(1));
        for line in lines {
            let _ = sender.try_send(Ok(line));
        }
        receiver
    }

    const STEP: &str = r#"{"parameters": {"n": 1}}"#;
    const ORDERED: Order = Order::Input { window: 8 };

    /// Records written to `out`, one per line.
    fn collect(out: &mut Vec<u8>) -> impl FnMut(&str, u8) -> Result<(), Unusable> + '_ {
        |text, _| writeln!(out, "{text}").map_err(write_error)
    }

    /// Steps whose `n` is how many milliseconds they take.
    fn timed(step: Step) -> impl Future<Output = Result<(Value, bool), Unusable>> {
        let ms = step.parameters["n"].as_u64().unwrap_or(0);
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok((json!({"n": ms}), true))
        }
    }

    fn steps(ms: &[u64]) -> Vec<(usize, Line)> {
        ms.iter()
            .enumerate()
            .map(|(i, ms)| {
                (
                    i + 1,
                    Ok(format!(r#"{{"parameters": {{"n": {ms}, "i": {i}}}}}"#)),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn steps_after_a_slow_one_keep_running_and_print_in_order() {
        // One slow step, then 12 fast ones with 2 in flight and a window of 8: lines 2 to 8
        // finish while line 1 runs (and no later one starts); records keep input order.
        let mut ms = vec![300];
        ms.extend([10; 12]);
        let finished = std::sync::Mutex::new(Vec::new());
        let execute = |step: Step| {
            let line = step.parameters["i"].as_u64().unwrap_or(0) + 1;
            let finished = &finished;
            async move {
                let answer = timed(step).await;
                finished.lock().map(|mut f| f.push(line)).ok();
                answer
            }
        };
        let mut out = Vec::new();
        let order = Order::Input { window: 8 };
        let code = each_line(input(steps(&ms)), 2, order, execute, &mut collect(&mut out))
            .await
            .ok();
        assert_eq!(code, Some(0));
        let lines: Vec<u64> = records(&out)
            .iter()
            .filter_map(|r| r["line"].as_u64())
            .collect();
        assert_eq!(lines, (1..=13).collect::<Vec<u64>>());
        let finished = finished.lock().map(|f| f.clone()).unwrap_or_default();
        assert_eq!(finished[..8], [2, 3, 4, 5, 6, 7, 8, 1], "{finished:?}");
    }

    #[tokio::test]
    async fn unordered_prints_each_as_it_finishes() {
        let mut out = Vec::new();
        let code = each_line(
            input(steps(&[300, 10, 10])),
            3,
            Order::AsFinished,
            timed,
            &mut collect(&mut out),
        )
        .await
        .ok();
        let lines: Vec<u64> = records(&out)
            .iter()
            .filter_map(|r| r["line"].as_u64())
            .collect();
        assert_eq!(code, Some(0));
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines.last(),
            Some(&1),
            "the slow line 1 comes last: {lines:?}"
        );
    }

    #[tokio::test]
    async fn unusable_lines_get_their_own_record_and_the_others_run() {
        let mut lines = numbered(&[STEP, "not json", STEP]);
        lines.push((4, Err("not UTF-8: invalid byte at offset 3".to_owned())));
        let execute = |_step: Step| async { Ok((json!({"ok": true}), true)) };
        let mut out = Vec::new();
        let code = each_line(input(lines), 2, ORDERED, execute, &mut collect(&mut out))
            .await
            .ok();
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
                Ok((json!({"ok": true}), true))
            }
        };
        let mut out = Vec::new();
        let lines = numbered(&[STEP, STEP, STEP]);
        let code = each_line(input(lines), 3, ORDERED, panicking, &mut collect(&mut out))
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

    /// A line's record goes out while the next line has not come in yet, and a read error
    /// ends the batch after the records of the lines before it.
    #[tokio::test]
    async fn each_record_goes_out_before_the_next_line_arrives() {
        let (sender, receiver) = mpsc::channel(4);
        let (written, mut seen) = mpsc::unbounded_channel();
        let feeder = tokio::spawn(async move {
            for number in 1..=3 {
                sender.send(Ok((number, Ok(STEP.to_owned())))).await.ok();
                // The next line comes only once this one's record is out.
                let record: Option<String> = seen.recv().await;
                assert!(record.is_some_and(|r| r.contains(&format!("\"line\":{number}"))));
            }
            sender
                .send(Err(Unusable("cannot read -: broken".to_owned())))
                .await
                .ok();
        });
        let execute = |_step: Step| async { Ok((json!({"ok": true}), true)) };
        let mut emit = |text: &str, _| {
            written.send(text.to_owned()).ok();
            Ok(())
        };
        let ended = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            each_line(receiver, 2, ORDERED, execute, &mut emit),
        )
        .await
        .expect("no record waited for a later line");
        assert_eq!(
            ended.err().map(|e| e.0),
            Some("cannot read -: broken".to_owned())
        );
        feeder
            .await
            .expect("every record came before the next line");
    }

    /// Only a regular file is counted for the bar: a FIFO (or a pipe, or `/dev/stdin`) read
    /// for counting would take its lines from the batch, and opening it would wait for a writer.
    #[test]
    fn only_a_regular_file_is_counted() {
        let dir = std::env::temp_dir().join(format!("apikey-count-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let file = dir.join("steps.jsonl");
        std::fs::write(&file, "{}\n\n  \n{}\n{}").expect("written");
        assert_eq!(crate::io::count_lines(&file, usize::MAX), Some(3));
        assert_eq!(
            crate::io::count_lines(Path::new("/dev/null"), usize::MAX),
            None
        );
        assert_eq!(crate::io::count_lines(Path::new("-"), usize::MAX), None);
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            let (counted, done) = std::sync::mpsc::channel();
            let path = fifo.clone();
            std::thread::spawn(move || counted.send(crate::io::count_lines(&path, usize::MAX)));
            let counted = done.recv_timeout(std::time::Duration::from_secs(10));
            assert_eq!(
                counted.ok(),
                Some(None),
                "a FIFO is not counted (nor opened)"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
