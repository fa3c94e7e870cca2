//! `apikey-task test-request`: the dry run, for one step file or one step per line.

use apikey_task::endpoint::ChosenOperation;
use apikey_task::{Credentials, Endpoint, TestReport};
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;

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

/// Writes a line's record. The report's last field, the operation chosen and why, is the same
/// for most lines (an endpoint offers at most two), and a fifth of the record's writing: its
/// JSON is written once and copied while lines keep choosing it.
#[derive(Default)]
struct OperationJson {
    last: Option<ChosenOperation>,
    json: Vec<u8>,
}

impl OperationJson {
    /// `{"line": N, ...the report...}`, the bytes [`record`](crate::io::record) makes of the
    /// report as a JSON value, without building that value.
    fn write(
        &mut self,
        text: &mut Vec<u8>,
        line: usize,
        mut report: TestReport,
    ) -> Result<(), Unusable> {
        let operation = report.operation.take();
        // `{"line":N` and the report's own `{"valid":...}` with its brace turned into a comma.
        text.extend_from_slice(b"{\"line\":");
        serde_json::to_writer(&mut *text, &line).map_err(json_error)?;
        let report_starts = text.len();
        report.write_json(text);
        text[report_starts] = b',';
        let Some(operation) = operation else {
            return Ok(());
        };
        if self.last.as_ref() != Some(&operation) {
            self.json.clear();
            serde_json::to_writer(&mut self.json, &operation).map_err(json_error)?;
            self.last = Some(operation);
        }
        // In place of the record's closing brace: the field serde writes last.
        text.pop();
        text.extend_from_slice(b",\"operation\":");
        text.extend_from_slice(&self.json);
        text.push(b'}');
        Ok(())
    }
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
pub fn lines_of(endpoint: &Endpoint, path: &Path, max_line_bytes: usize) -> Result<u8, Unusable> {
    let credentials = Credentials::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    let mut lines = LineStream::open(path, max_line_bytes)?;
    // The total is not known before the end: a terminal gets a counter, not a bar.
    let mut progress = Progress::new(None, &["valid", "invalid", "unusable"]);
    // Each record is serialized into this buffer, reused from line to line.
    let mut text = Vec::new();
    let mut operation = OperationJson::default();
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
                operation.write(&mut text, number, report)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines that choose each operation in turn, or none (an endpoint without a choice): each
    /// record is what `record` makes of the report as a JSON value.
    #[test]
    fn a_record_is_the_report_serialized_whole() {
        let endpoint = Endpoint::builder().build().expect("embedded definition");
        let created =
            r#"{"parameters": {"organizationId": "org-1", "body": {"description": "k"}}}"#;
        let chosen = r#"{"parameters": {"organizationId": "org-1", "keyId": "k-1", "body": {"description": "k"}}}"#;
        let mut operation = OperationJson::default();
        let mut text = Vec::new();
        for (line, step) in [created, chosen, chosen, created, created]
            .into_iter()
            .enumerate()
        {
            let report =
                endpoint.test_request(apikey_task::Step::from_json(step).expect("step"), None);
            assert!(report.operation.is_some());
            let whole = crate::io::record(line, serde_json::to_value(&report).expect("json"));
            text.clear();
            operation.write(&mut text, line, report).expect("written");
            assert_eq!(String::from_utf8_lossy(&text), whole);
        }
        let mut report =
            endpoint.test_request(apikey_task::Step::from_json(created).expect("step"), None);
        report.operation = None;
        let whole = crate::io::record(9, serde_json::to_value(&report).expect("json"));
        text.clear();
        operation.write(&mut text, 9, report).expect("written");
        assert_eq!(String::from_utf8_lossy(&text), whole);
    }
}
