//! `apikey-task test-request`: the dry run, for one step file or one step per line.

use apikey_task::{Credentials, Endpoint, Step, TestReport};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

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
/// not a step gets `{"line": N, "error": ...}`. Lines are read on a thread of their own and
/// checked in batches on one thread per core, each line's whole work (parsing, checking,
/// writing its record) on one thread; the records are written in input order. The first
/// record still comes out at once, and memory holds a few batches, not the file.
pub fn lines_of(endpoint: Endpoint, path: &Path, max_line_bytes: usize) -> Result<u8, Unusable> {
    let lines = LineStream::open(path, max_line_bytes)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    let checked = check_ahead(lines, Arc::new(endpoint), Credentials::from_env(), workers);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    // The total is not known before the end: a terminal gets a counter, not a bar.
    let mut progress = Progress::new(None, &["valid", "invalid", "unusable"]);
    let code = write_in_order(checked, &mut out, &mut progress)?;
    progress.finish();
    Ok(code)
}

/// Writes the checked batches in input order as they come back, flushing where the input
/// paused; the exit status they add up to.
fn write_in_order(
    checked: CheckAhead,
    out: &mut impl Write,
    progress: &mut Progress,
) -> Result<u8, Unusable> {
    let mut code = 0;
    // Batches finished ahead of their turn, by sequence number.
    let mut early: BTreeMap<usize, Checked> = BTreeMap::new();
    let mut next = 0;
    while let Ok(batch) = checked.results.recv() {
        early.insert(batch.sequence, batch);
        while let Some(batch) = early.remove(&next) {
            next += 1;
            for outcome in batch.outcomes {
                progress.record(outcome);
            }
            code = code.max(batch.code);
            if !batch.records.is_empty() {
                progress.print(out, &batch.records).map_err(write_error)?;
            }
            if batch.pause {
                out.flush().map_err(write_error)?;
            }
            if let Some(error) = batch.failed {
                out.flush().map_err(write_error)?;
                return Err(error);
            }
            // Its slot is free: the reader may send one more batch.
            let _ = checked.slots.recv();
        }
    }
    out.flush().map_err(write_error)?;
    if !early.is_empty() {
        // Batches after one that never came back: its lines would have no records.
        return Err(Unusable(
            "internal error: a batch of lines was not checked; the records after the last one written are missing".into(),
        ));
    }
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
    /// Reading failed after these lines.
    failed: Option<Unusable>,
}

/// A batch checked: its records, one per line, ready to write.
struct Checked {
    sequence: usize,
    /// The records, separated by line breaks (the last one without).
    records: Vec<u8>,
    outcomes: Vec<&'static str>,
    code: u8,
    pause: bool,
    failed: Option<Unusable>,
}

/// Where the checked batches come back, and the slots the caller frees as it writes them.
struct CheckAhead {
    results: Receiver<Checked>,
    slots: Receiver<()>,
}

/// Most lines in a batch, and most bytes of them: a batch is a hand-off between threads,
/// which costs about what checking a typical line does.
const BATCH_LINES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

/// Reads `lines` on a thread and checks them in batches on `workers` threads, with
/// `credentials` configured. At most two batches a worker are read and not yet written,
/// whichever is slow. The threads are not joined: if the caller stops early (stdout closed),
/// the process ends with them even if the reader is waiting for input.
fn check_ahead(
    mut lines: LineStream,
    endpoint: Arc<Endpoint>,
    credentials: Option<Credentials>,
    workers: usize,
) -> CheckAhead {
    let (slot, slots) = sync_channel::<()>(2 * workers);
    let (jobs, job) = sync_channel::<Batch>(workers);
    let (result, results) = std::sync::mpsc::channel::<Checked>();
    let job = Arc::new(Mutex::new(job));
    for _ in 0..workers {
        let (job, result, endpoint) = (job.clone(), result.clone(), endpoint.clone());
        let credentials = credentials.clone();
        std::thread::spawn(move || {
            loop {
                let batch = match job.lock() {
                    Ok(job) => job.recv(),
                    Err(poisoned) => poisoned.into_inner().recv(),
                };
                let Ok(mut batch) = batch else { return };
                let failed = batch.failed.take();
                // Every batch comes back, so that the writer never waits for a lost one: each
                // line's panic is caught in `check_batch`, and any other as the whole batch's.
                let (sequence, pause) = (batch.sequence, batch.pause);
                let numbers: Vec<usize> = batch.lines.iter().map(|(number, _)| *number).collect();
                let mut checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    check_batch(&endpoint, credentials.as_ref(), batch)
                }))
                .unwrap_or_else(|_| {
                    let records: Vec<String> = numbers
                        .iter()
                        .map(|&number| unusable_line(number, INTERNAL))
                        .collect();
                    Checked {
                        sequence,
                        records: records.join("\n").into_bytes(),
                        outcomes: vec!["unusable"; numbers.len()],
                        code: EXIT_UNUSABLE,
                        pause,
                        failed: None,
                    }
                });
                checked.failed = failed;
                if result.send(checked).is_err() {
                    return;
                }
            }
        });
    }
    std::thread::spawn(move || {
        let mut sequence = 0;
        // Sized for most batches at once: grown line by line it would be copied as it grows.
        let fresh = || String::with_capacity(64 << 10);
        let mut batch = Vec::with_capacity(BATCH_LINES);
        let mut text = fresh();
        loop {
            let (end, failed) = match lines.next_line() {
                Ok(Some((number, line))) => {
                    let line = line.map(|line| {
                        text.push_str(line);
                        text.len()
                    });
                    batch.push((number, line));
                    (false, None)
                }
                Ok(None) => (true, None),
                Err(error) => (true, Some(error)),
            };
            let pause = end || lines.drained();
            if pause || batch.len() >= BATCH_LINES || text.len() >= BATCH_BYTES {
                // A slot first: the batches read and not yet written stay bounded.
                if slot.send(()).is_err() {
                    return;
                }
                let sent = jobs.send(Batch {
                    sequence,
                    text: std::mem::replace(&mut text, fresh()),
                    lines: std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES)),
                    pause,
                    failed,
                });
                if sent.is_err() || end {
                    return;
                }
                sequence += 1;
            }
        }
    });
    CheckAhead { results, slots }
}

/// Each line of a batch parsed, checked and written as its record.
fn check_batch(endpoint: &Endpoint, credentials: Option<&Credentials>, batch: Batch) -> Checked {
    let mut checked = Checked {
        sequence: batch.sequence,
        // A record is about four times its line (the body twice, once in the curl line, and
        // the rest of the report): sized at once, not grown and copied line by line.
        records: Vec::with_capacity(batch.text.len().saturating_mul(4) + 4096),
        outcomes: Vec::with_capacity(batch.lines.len()),
        code: 0,
        pause: batch.pause,
        failed: batch.failed,
    };
    let mut start = 0;
    for (number, line) in batch.lines {
        if !checked.records.is_empty() {
            checked.records.push(b'\n');
        }
        let line = line.map(|end| {
            let text = batch.text.get(start..end).unwrap_or_default();
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
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = std::env::temp_dir().join(format!("apikey-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let file = dir.join("steps.jsonl");
        std::fs::write(&file, &text).expect("written");
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
            let lines = LineStream::open(&file, usize::MAX).expect("opened");
            let checked = check_ahead(lines, endpoint.clone(), None, workers);
            let mut out = Vec::new();
            let mut progress = Progress::new(None, &["valid", "invalid", "unusable"]);
            let code = write_in_order(checked, &mut out, &mut progress).expect("written");
            assert_eq!(code, EXIT_UNUSABLE, "{workers} workers");
            assert!(out == expected, "{workers} workers: the records differ");
        }
        let _ = std::fs::remove_dir_all(&dir);
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
