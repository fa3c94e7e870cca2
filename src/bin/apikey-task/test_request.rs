//! `apikey-task test-request`: the dry run, for one step file or one step per line.

use apikey_task::{Credentials, Endpoint};
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use crate::io::{
    EXIT_FAILED, EXIT_UNUSABLE, Unusable, json_error, lines, print_json, read_step, step_of,
    unusable_line, write_error,
};

/// What a line's record says when checking it panicked (the panic itself is on stderr).
const INTERNAL: &str =
    "internal error: checking this step failed (see stderr); the other lines are unaffected";

/// One pretty report; exit 0 when valid, 1 when not.
pub fn one(endpoint: &Endpoint, path: &Path) -> Result<u8, Unusable> {
    let step = read_step(path)?;
    let report = endpoint.test_request(step, Credentials::from_env().as_ref());
    print_json(&serde_json::to_string_pretty(&report).map_err(json_error)?)?;
    Ok(if report.valid { 0 } else { EXIT_FAILED })
}

/// One compact report per input line, in order. A line that is not a step gets
/// `{"line": N, "error": ...}` so outputs stay aligned with inputs.
pub fn lines_of(endpoint: &Endpoint, path: &Path) -> Result<u8, Unusable> {
    let credentials = Credentials::from_env();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    for (number, line) in lines(path)? {
        let checked = step_of(line).and_then(|step| {
            // A panic is this line's failure, not the whole file's.
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                endpoint.test_request(step, credentials.as_ref())
            }))
            .map_err(|_| INTERNAL.to_owned())
        });
        match checked {
            Ok(report) => {
                if !report.valid {
                    code = code.max(EXIT_FAILED);
                }
                serde_json::to_writer(&mut out, &report).map_err(json_error)?;
            }
            Err(why) => {
                code = EXIT_UNUSABLE;
                out.write_all(unusable_line(number, &why).as_bytes())
                    .map_err(write_error)?;
            }
        }
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(code)
}
