//! `apikey-task test-request`: the dry run, for one step file or one step per line.

use apikey_task::{Credentials, Endpoint, Step, TestReport};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::cli::Format;
use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, LineStream, Unusable, json_error, print_json, read_step, step_of,
    unusable_line, write_error,
};
use crate::progress::Progress;
use crate::run::shown_pointer;

/// What a line's record says when checking it panicked (the panic itself is on stderr).
const INTERNAL: &str =
    "internal error: checking this step failed (see stderr); the other lines are unaffected";

/// One pretty report (or its text rendering); exit 0 when valid, 1 when not.
pub fn one(endpoint: &Endpoint, path: &Path, format: Format) -> Result<u8, Unusable> {
    let step = read_step(path)?;
    let report = endpoint.test_request(step, Credentials::from_env().as_ref());
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report).map_err(json_error)?,
        Format::Text => as_text(&report),
    };
    print_json(&text)?;
    Ok(if report.valid { 0 } else { EXIT_FAILED })
}

/// Writes a line's record, `{"line": N, ...the report...}`: the bytes
/// [`record`](crate::io::record) makes of the report as a JSON value, without building that
/// value, and with the body written once for the request and the curl line. The report's
/// validity, or why the record could not be written.
fn write_record(
    text: &mut Vec<u8>,
    line: usize,
    endpoint: &Endpoint,
    step: Step,
    credentials: Option<&Credentials>,
) -> Result<bool, Unusable> {
    // `{"line":N` and the report's own `{"valid":...}` with its brace turned into a comma.
    text.extend_from_slice(b"{\"line\":");
    serde_json::to_writer(&mut *text, &line).map_err(json_error)?;
    let report_starts = text.len();
    let report = endpoint.test_request_json(step, credentials, text);
    text[report_starts] = b',';
    Ok(report.valid)
}

/// The short rendering: valid or not, each problem as `POINTER: message`, the request line
/// and the curl line.
fn as_text(report: &TestReport) -> String {
    let mut text = String::from(if report.valid { "valid" } else { "invalid" });
    for (label, problems) in [("error", &report.errors), ("warning", &report.warnings)] {
        for problem in problems {
            text.push_str(&format!(
                "\n{label} {}: {}",
                shown_pointer(&problem.path),
                problem.message
            ));
        }
    }
    text.push_str(&format!(
        "\n{} {}\n{}",
        report.request.method, report.request.url, report.curl
    ));
    text
}

/// One compact report per input line, in order, each with its `line` number. A line that is
/// not a step gets `{"line": N, "error": ...}`. Lines are checked in batches by one thread per
/// core, each taking the next batch of the input in its turn and writing the batch's records
/// in its turn (see [`check_in_turn`]). The first record still comes out at once, and memory
/// holds at most three batches a thread, not the file.
pub fn lines_of(endpoint: Endpoint, path: &Path, max_line_bytes: usize) -> Result<u8, Unusable> {
    let lines = LineStream::open(path, max_line_bytes)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    // The total is not known before the end: a terminal gets a counter, not a bar.
    let progress = Progress::new(None, &["valid", "invalid", "unusable"]);
    let out = BufWriter::new(std::io::stdout());
    let (code, _, progress) = check_in_turn(
        lines,
        Arc::new(endpoint),
        Credentials::from_env(),
        workers,
        out,
        progress,
    );
    let code = code?;
    progress.finish();
    Ok(code)
}

/// Lines read, to be checked together.
struct Batch {
    sequence: usize,
    /// The lines' text, one after another: one buffer a batch, not one a line.
    text: String,
    /// Each line's number, and where its text ends in `text` (it starts where the one before
    /// ended), or why it has none.
    lines: Vec<(usize, Result<usize, String>)>,
    /// The input paused after these (all it held so far is read): the moment to flush, so
    /// that whoever reads the other end sees the record of every line that has come in.
    pause: bool,
    /// The work ends after these: the input ended (`Ok`), or reading failed after them.
    end: Option<Result<(), Unusable>>,
}

/// A batch checked: its records, one per line, ready to write.
struct Checked {
    /// The records, each ending in a line break.
    records: Vec<u8>,
    outcomes: Vec<&'static str>,
    code: u8,
    /// The input paused after the batch's lines: flush after them.
    pause: bool,
    /// The work ends after them: the last batch, or the input failed after it.
    end: Option<Result<(), Unusable>>,
}

/// Most lines in a batch, and most bytes of them: a batch is a turn at the input and one at
/// the output, each a lock taken, and a wait when another thread has the turn.
const BATCH_LINES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// What the threads checking lines share: the input, read a batch at a time in turn, and
/// the output, where each batch's records are written when the batches before it are.
struct Turns<W> {
    input: Mutex<Input>,
    output: Mutex<Output<W>>,
    /// Signalled when a batch has been written: threads waiting to be less far ahead.
    written: Condvar,
    /// Signalled when the work has ended: the caller, waiting for the end.
    ended: Condvar,
    /// The work has ended: a thread that has not yet taken the input's lock takes no more
    /// batches.
    stopped: AtomicBool,
    /// How far ahead of the batch written next a thread may be before it waits.
    ahead: usize,
}

struct Input {
    lines: LineStream,
    /// The next batch's number.
    sequence: usize,
    /// The input has ended or failed: nothing more to read.
    ended: bool,
}

struct Output<W> {
    /// Taken back by the caller at the end.
    sink: Option<(W, Progress)>,
    /// The batch whose records are written next.
    next: usize,
    /// Batches checked before their turn, by number.
    early: BTreeMap<usize, Checked>,
    /// Threads waiting for their batch to be less far ahead.
    behind: usize,
    /// The exit status of the records written so far.
    code: u8,
    /// Set when the work has ended: every record written, or why it stopped.
    end: Option<Result<(), Unusable>>,
}

impl<W: Write> Output<W> {
    /// The next batch's records written, flushed if the input paused after them, and the
    /// work ended if they were the last or writing failed.
    fn write(&mut self, checked: Checked) {
        self.code = self.code.max(checked.code);
        let written = match self.sink.as_mut() {
            Some((out, progress)) => {
                for outcome in checked.outcomes {
                    progress.record(outcome);
                }
                let printed = if checked.records.is_empty() {
                    Ok(())
                } else {
                    progress.print_lines(out, &checked.records)
                };
                printed
                    .and_then(|()| {
                        if checked.pause || checked.end.is_some() {
                            out.flush()
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(write_error)
            }
            None => Ok(()),
        };
        self.next += 1;
        self.end = match written {
            Err(error) => Some(Err(error)),
            Ok(()) => checked.end,
        };
    }
}

/// Checks `lines` on `workers` threads with `credentials` configured, and writes every
/// line's record to `out` in input order, flushing where the input paused; the exit status,
/// or why the records stopped, then `out` and `progress` back.
///
/// Each thread takes the next batch of lines from the input and checks it. If the batches
/// before it are written, it writes its records, and those of any batch that came early
/// after it; if not, it leaves them to the thread that writes the one before, and takes the
/// next batch. Most lines are thus read, parsed, checked and written on one core. The version
/// before read on a thread of its own and wrote on another, handing every batch and its
/// records between threads: beside this one, it took 1.22-1.44x the time of a program that
/// only parses the lines against 1.10-1.28x, and 1.93-2.09x its CPU against 1.82-1.98x
/// (docs/performance.md). The threads are not joined: if the output stops early (stdout
/// closed), this returns, and the process ends with them, even with one waiting for input.
fn check_in_turn<W: Write + Send + 'static>(
    lines: LineStream,
    endpoint: Arc<Endpoint>,
    credentials: Option<Credentials>,
    workers: usize,
    out: W,
    progress: Progress,
) -> (Result<u8, Unusable>, W, Progress) {
    // With none, nothing would end the wait below.
    let workers = workers.max(1);
    let turns = Arc::new(Turns {
        input: Mutex::new(Input {
            lines,
            sequence: 0,
            ended: false,
        }),
        output: Mutex::new(Output {
            sink: Some((out, progress)),
            next: 0,
            early: BTreeMap::new(),
            behind: 0,
            code: 0,
            end: None,
        }),
        written: Condvar::new(),
        ended: Condvar::new(),
        stopped: AtomicBool::new(false),
        ahead: 2 * workers,
    });
    for _ in 0..workers {
        let (turns, endpoint, credentials) = (turns.clone(), endpoint.clone(), credentials.clone());
        std::thread::spawn(move || turns.work(&endpoint, credentials.as_ref()));
    }
    let mut output = turns.lock_output();
    while output.end.is_none() {
        output = match turns.ended.wait(output) {
            Ok(output) => output,
            Err(poisoned) => poisoned.into_inner(),
        };
    }
    // Left set, so that no thread goes on once the caller has the sink back.
    let end = output.end.replace(Ok(())).unwrap_or(Ok(()));
    let code = output.code;
    let (out, progress) = output
        .sink
        .take()
        .expect("the sink is taken once, by the caller, at the end");
    (end.map(|()| code), out, progress)
}

impl<W: Write> Turns<W> {
    /// One thread's work: batches in turn until the input or the output ends.
    fn work(&self, endpoint: &Endpoint, credentials: Option<&Credentials>) {
        // A panic outside a batch's check (each line's and each batch's are caught) would
        // leave its batch unwritten and every other thread waiting for it: it ends the work.
        let _abandoned = Abandoned(self);
        while let Some(batch) = self.next_batch() {
            let sequence = batch.sequence;
            let numbers: Vec<usize> = batch.lines.iter().map(|(number, _)| *number).collect();
            // Every batch is written, so that no thread waits for a lost one: each line's
            // panic is caught in `check_batch`, and any other as the whole batch's.
            let mut checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                check_batch(endpoint, credentials, &batch.text, batch.lines)
            }))
            .unwrap_or_else(|_| {
                let records: String = numbers
                    .iter()
                    .map(|&number| unusable_line(number, INTERNAL) + "\n")
                    .collect();
                Checked {
                    records: records.into_bytes(),
                    outcomes: vec!["unusable"; numbers.len()],
                    code: EXIT_UNUSABLE,
                    pause: false,
                    end: None,
                }
            });
            checked.pause = batch.pause;
            checked.end = batch.end;
            if !self.write_in_turn(sequence, checked) {
                return;
            }
        }
    }

    /// The next batch of lines, unless the input has ended or the work has.
    fn next_batch(&self) -> Option<Batch> {
        let mut input = match self.input.lock() {
            Ok(input) => input,
            Err(poisoned) => poisoned.into_inner(),
        };
        if input.ended || self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let sequence = input.sequence;
        input.sequence += 1;
        // Sized for most batches at once: grown line by line it would be copied as it grows.
        let mut text = String::with_capacity(64 << 10);
        let mut lines = Vec::with_capacity(BATCH_LINES);
        loop {
            let end = match input.lines.next_line() {
                Ok(Some((number, line))) => {
                    let line = line.map(|line| {
                        text.push_str(line);
                        text.len()
                    });
                    lines.push((number, line));
                    None
                }
                Ok(None) => Some(Ok(())),
                Err(error) => Some(Err(error)),
            };
            let pause = end.is_some() || input.lines.drained();
            if pause || lines.len() >= BATCH_LINES || text.len() >= BATCH_BYTES {
                input.ended = end.is_some();
                return Some(Batch {
                    sequence,
                    text,
                    lines,
                    pause,
                    end,
                });
            }
        }
    }

    /// Writes `checked`'s records when the batches before `sequence` are written: at once if
    /// they are, and then those that came early after it; if not, it is left for the thread
    /// that writes the one before it, and this thread goes on to the next batch. A thread
    /// whose batch is too far ahead waits, so that memory holds a few batches whatever one
    /// line costs. False when the work has ended.
    fn write_in_turn(&self, sequence: usize, checked: Checked) -> bool {
        let mut output = self.lock_output();
        while output.end.is_none() && sequence >= output.next + self.ahead {
            output.behind += 1;
            output = match self.written.wait(output) {
                Ok(output) => output,
                Err(poisoned) => poisoned.into_inner(),
            };
            output.behind -= 1;
        }
        if output.end.is_some() {
            return false;
        }
        if sequence != output.next {
            output.early.insert(sequence, checked);
            return true;
        }
        let mut checked = checked;
        loop {
            output.write(checked);
            if output.end.is_some() {
                break;
            }
            let next = output.next;
            match output.early.remove(&next) {
                Some(early) => checked = early,
                None => break,
            }
        }
        let ended = output.end.is_some();
        if ended {
            self.stopped.store(true, Ordering::Relaxed);
        }
        // Each signal is a system call, waited for or not.
        let behind = output.behind > 0;
        drop(output);
        if behind {
            self.written.notify_all();
        }
        if ended {
            self.ended.notify_all();
        }
        !ended
    }

    fn lock_output(&self) -> std::sync::MutexGuard<'_, Output<W>> {
        match self.output.lock() {
            Ok(output) => output,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Ends the work if the thread holding it panics outside a batch's check.
struct Abandoned<'t, W: Write>(&'t Turns<W>);

impl<W: Write> Drop for Abandoned<'_, W> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut output = self.0.lock_output();
        if output.end.is_none() {
            output.end = Some(Err(Unusable(
                "internal error: a thread checking lines stopped; the records after the last one written are missing".into(),
            )));
        }
        self.0.stopped.store(true, Ordering::Relaxed);
        drop(output);
        self.0.written.notify_all();
        self.0.ended.notify_all();
    }
}

/// Each line of a batch parsed, checked and written as its record.
fn check_batch(
    endpoint: &Endpoint,
    credentials: Option<&Credentials>,
    text: &str,
    lines: Vec<(usize, Result<usize, String>)>,
) -> Checked {
    let mut checked = Checked {
        // A record is about four times its line (the body twice, once in the curl line, and
        // the rest of the report): sized at once, not grown and copied line by line.
        records: Vec::with_capacity(text.len().saturating_mul(4) + 4096),
        outcomes: Vec::with_capacity(lines.len()),
        code: 0,
        pause: false,
        end: None,
    };
    let mut start = 0;
    for (number, line) in lines {
        let line = line.map(|end| {
            let text = text.get(start..end).unwrap_or_default();
            start = end;
            text
        });
        let starts = checked.records.len();
        // A panic anywhere in a line's work (parsing, checking, writing its record) is this
        // line's failure, not the batch's nor the file's.
        let written = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let step = step_of(line)?;
            write_record(&mut checked.records, number, endpoint, step, credentials)
                .map_err(|error| error.0)
        }))
        .unwrap_or_else(|_| Err(INTERNAL.to_owned()));
        if written.is_err() {
            checked.records.truncate(starts);
        }
        match written {
            Ok(true) => checked.outcomes.push("valid"),
            Ok(false) => {
                checked.outcomes.push("invalid");
                checked.code = checked.code.max(EXIT_FAILED);
            }
            Err(why) => {
                checked.outcomes.push("unusable");
                checked.code = EXIT_UNUSABLE;
                checked
                    .records
                    .extend_from_slice(unusable_line(number, &why).as_bytes());
            }
        }
        checked.records.push(b'\n');
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory holding `steps.jsonl`, removed when dropped.
    struct Scratch {
        dir: PathBuf,
        file: PathBuf,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn scratch(name: &str, text: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("apikey-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let file = dir.join("steps.jsonl");
        std::fs::write(&file, text).expect("written");
        Scratch { dir, file }
    }

    /// `path`'s lines checked on `workers` threads and written to `out`: the outcome, and
    /// `out` back.
    fn check_to<W: Write + Send + 'static>(
        path: &Path,
        endpoint: &Arc<Endpoint>,
        workers: usize,
        out: W,
    ) -> (Result<u8, Unusable>, W) {
        let lines = LineStream::open(path, usize::MAX).expect("opened");
        let progress = Progress::new(None, &["valid", "invalid", "unusable"]);
        let (code, out, _) = check_in_turn(lines, endpoint.clone(), None, workers, out, progress);
        (code, out)
    }

    /// Batches checked on several threads, some slower than others, come out as one thread
    /// writes them: every line's record, in input order, with the same exit status.
    #[test]
    fn records_come_out_in_input_order_whatever_thread_checked_them() {
        let endpoint = Endpoint::builder().build().expect("embedded definition");
        let typical = r#"{"parameters": {"organizationId": "org-1", "body": {"description": "k ${workflow.input.i}"}}, "context": {"workflow": {"input": {"i": 0}}}}"#;
        let acl: Vec<serde_json::Value> = (0..300)
            .map(|i| serde_json::json!({"scope": {"planId": [format!("p-{i}")]}, "permissions": ["GetCustomer"]}))
            .collect();
        let slow = serde_json::json!({"parameters": {"organizationId": "org-1",
            "body": {"description": "slow", "acl": acl}}})
        .to_string();
        let mut text = String::new();
        for i in 0..700 {
            let line = match i % 97 {
                0 => slow.clone(),
                13 => "{not json".to_owned(),
                29 => String::new(),
                41 => r#"{"parameters": {"body": {"description": 5}}}"#.to_owned(),
                _ => typical.replace("\"i\": 0", &format!("\"i\": {i}")),
            };
            text.push_str(&line);
            text.push('\n');
        }
        let scratch = scratch("order", &text);
        // As one thread would write them.
        let mut expected = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match crate::io::step_of(Ok(line)) {
                Ok(step) => {
                    write_record(&mut expected, i + 1, &endpoint, step, None).expect("written");
                }
                Err(why) => expected.extend_from_slice(unusable_line(i + 1, &why).as_bytes()),
            }
            expected.push(b'\n');
        }
        let endpoint = Arc::new(endpoint);
        for workers in [1, 3, 8] {
            let (code, out) = check_to(&scratch.file, &endpoint, workers, Vec::new());
            assert_eq!(code.expect("written"), EXIT_UNUSABLE, "{workers} workers");
            assert!(out == expected, "{workers} workers: the records differ");
        }
    }

    /// Output that takes `room` bytes, then fails as a closed pipe does.
    struct Closing {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Closing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let fits = bytes.len().min(self.room - self.taken.len());
            if fits == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.taken.extend_from_slice(&bytes[..fits]);
            Ok(fits)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// When the output stops taking records, the work ends with why, whatever thread was
    /// writing: no thread waits for a batch that will not be written, and what was written
    /// starts with the first line's whole record.
    #[test]
    fn a_closed_output_ends_the_work() {
        let endpoint = Arc::new(Endpoint::builder().build().expect("embedded definition"));
        let line = r#"{"parameters": {"organizationId": "org-1", "body": {"description": "k"}}}"#;
        let scratch = scratch("closing", &format!("{line}\n").repeat(2_000));
        let mut one = Vec::new();
        let step = crate::io::step_of(Ok(line)).expect("step");
        write_record(&mut one, 1, &endpoint, step, None).expect("written");
        for (workers, room) in [(1, 0), (2, 100_000), (3, 1_000_000), (8, 250_000)] {
            let out = Closing {
                taken: Vec::new(),
                room,
            };
            let (code, out) = check_to(&scratch.file, &endpoint, workers, out);
            let error = code.expect_err("the output closed");
            assert!(error.is_closed_output(), "{workers} workers: {}", error.0);
            assert_eq!(out.taken.len(), room, "{workers} workers");
            let first = out
                .taken
                .split(|&byte| byte == b'\n')
                .next()
                .unwrap_or_default();
            assert!(room < one.len() || first == one, "{workers} workers");
        }
    }

    /// Output that panics when written to.
    struct Panicking;

    impl Write for Panicking {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("the output panicked (as this test intends)");
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A thread that panics outside a batch's check (here, writing its records, with the
    /// output's lock held) ends the work with an internal error: no other thread, nor the
    /// caller, waits for the batch it held.
    #[test]
    fn a_thread_that_panics_while_writing_ends_the_work() {
        let endpoint = Arc::new(Endpoint::builder().build().expect("embedded definition"));
        let line = r#"{"parameters": {"organizationId": "org-1", "body": {"description": "k"}}}"#;
        let scratch = scratch("panicking", &format!("{line}\n").repeat(500));
        for workers in [1, 2, 8] {
            let (code, _) = check_to(&scratch.file, &endpoint, workers, Panicking);
            let error = code.expect_err("the output panicked");
            assert!(error.0.starts_with("internal error"), "{}", error.0);
        }
    }

    /// Input that cannot be read ends the work with why, after the records of the lines read
    /// before it.
    #[test]
    fn unreadable_input_ends_the_work() {
        let endpoint = Arc::new(Endpoint::builder().build().expect("embedded definition"));
        // A directory opens, and fails at the first read.
        let scratch = scratch("unreadable", "");
        for workers in [1, 2, 8] {
            let (code, out) = check_to(&scratch.dir, &endpoint, workers, Vec::new());
            let error = code.expect_err("unreadable");
            assert!(error.0.starts_with("cannot read"), "{}", error.0);
            assert!(out.is_empty(), "{workers} workers");
        }
    }

    /// Lines that choose each operation in turn, and one for an endpoint without a choice:
    /// each record is what `record` makes of the report as a JSON value.
    #[test]
    fn a_record_is_the_report_serialized_whole() {
        let endpoint = Endpoint::builder().build().expect("embedded definition");
        let single = Endpoint::builder()
            .operation_id("GetApiKey")
            .build()
            .expect("GetApiKey");
        let created =
            r#"{"parameters": {"organizationId": "org-1", "body": {"description": "k"}}}"#;
        let chosen = r#"{"parameters": {"organizationId": "org-1", "keyId": "k-1", "body": {"description": "k"}}}"#;
        let read = r#"{"parameters": {"organizationId": "org-1", "id": "k-1"}}"#;
        let mut text = Vec::new();
        for (line, (endpoint, step)) in [
            (&endpoint, created),
            (&endpoint, chosen),
            (&endpoint, chosen),
            (&endpoint, created),
            (&single, read),
        ]
        .into_iter()
        .enumerate()
        {
            let step = apikey_task::Step::from_json(step).expect("step");
            let report = endpoint.test_request(step.clone(), None);
            assert_eq!(report.operation.is_some(), line < 4, "line {line}");
            let whole = crate::io::record(line, serde_json::to_value(&report).expect("json"));
            text.clear();
            let valid = write_record(&mut text, line, endpoint, step, None).expect("written");
            assert_eq!(valid, report.valid);
            assert_eq!(String::from_utf8_lossy(&text), whole);
        }
    }
}
