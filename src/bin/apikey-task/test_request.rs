//! `apikey-task test-request`: the dry run, for one step file or one step per line.

use apikey_task::{Credentials, Endpoint, TestReport};
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use crate::cli::Format;
use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, LineStream, Record, Unusable, json_error, print_json, read_step,
    step_of, unusable_line, write_error,
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
/// not a step gets `{"line": N, "error": ...}`. Lines are read as they are checked, so the
/// first record comes out at once and memory does not grow with the file.
pub fn lines_of(endpoint: &Endpoint, path: &Path) -> Result<u8, Unusable> {
    let credentials = Credentials::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    let mut lines = LineStream::open(path)?;
    // The total is not known before the end: a terminal gets a counter, not a bar.
    let mut progress = Progress::new(None, &["valid", "invalid", "unusable"]);
    // Each record is serialized into this buffer, reused from line to line.
    let mut text = Vec::new();
    while let Some((number, line)) = lines.next_line()? {
        let checked = step_of(line).and_then(|step| {
            // A panic is this line's failure, not the whole file's.
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                endpoint.test_request(step, credentials.as_ref())
            }))
            .map_err(|_| INTERNAL.to_owned())
        });
        text.clear();
        match checked {
            Ok(report) => {
                progress.record(if report.valid { "valid" } else { "invalid" });
                if !report.valid {
                    code = code.max(EXIT_FAILED);
                }
                let record = Record {
                    line: number,
                    document: &report,
                };
                serde_json::to_writer(&mut text, &record).map_err(json_error)?;
            }
            Err(why) => {
                progress.record("unusable");
                code = EXIT_UNUSABLE;
                text.extend_from_slice(unusable_line(number, &why).as_bytes());
            }
        }
        progress.print(&mut out, &text).map_err(write_error)?;
        if lines.drained() {
            out.flush().map_err(write_error)?;
        }
    }
    out.flush().map_err(write_error)?;
    progress.finish();
    Ok(code)
}
