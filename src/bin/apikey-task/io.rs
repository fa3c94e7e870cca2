//! What every command shares: loading the endpoint and steps, printing JSON, exit codes.

use apikey_task::{Definition, Endpoint, EndpointBuilder, Step, TaskError, TaskOutput};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::Path;

use crate::cli::{Cli, Command};

/// Input that cannot be used at all: exit 2 with one line on stderr.
#[derive(Debug)]
pub struct Unusable(pub String);

/// What [`write_error`] says when stdout's reader has gone (`| head -1`).
const CLOSED_OUTPUT: &str = "the output was closed";

impl Unusable {
    /// Stdout's reader went away: nothing is left to say, and nobody to say it to.
    pub fn is_closed_output(&self) -> bool {
        self.0 == CLOSED_OUTPUT
    }
}

/// Global options that mean nothing to a command are refused rather than ignored, so a
/// mistaken `emulator --definition X` does not look as if it had worked.
pub fn refuse_inapplicable(cli: &Cli) -> Result<(), Unusable> {
    let (name, takes_definition, takes_operation, takes_servers) = match &cli.command {
        Command::Emulator(_) => ("emulator", false, false, false),
        Command::Completions { .. } => ("completions", false, false, false),
        Command::Man => ("man", false, false, false),
        Command::Demo => ("demo", true, false, false),
        Command::Reconcile { .. } => ("reconcile", true, false, true),
        Command::Schema { .. } => ("schema", true, true, false),
        _ => return Ok(()),
    };
    let given = [
        ("--definition", cli.definition.is_some(), takes_definition),
        ("--operation", cli.operation.is_some(), takes_operation),
        ("--task", cli.task.is_some(), takes_operation),
        (
            "--allow-server",
            !cli.allow_servers.is_empty(),
            takes_servers,
        ),
    ];
    match given.iter().find(|(_, given, applies)| *given && !applies) {
        Some((option, ..)) => Err(Unusable(format!("{option} does not apply to `{name}`"))),
        None => Ok(()),
    }
}

/// The text of FILE, or of stdin for `-`.
pub fn read_text(path: &Path) -> Result<String, Unusable> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
            .map_err(|e| Unusable(format!("cannot read stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))
}

/// How messages name FILE: `stdin` for `-`.
pub fn shown(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// The step failed, or a test request found errors.
pub const EXIT_FAILED: u8 = 1;
/// The input could not be used at all.
pub const EXIT_UNUSABLE: u8 = 2;

/// The endpoint the global `--definition`, `--operation` and `--allow-server` options select.
/// `also_allowed` are servers the command itself names (`run --server`, `serve
/// --allow-run-to`): typed by the operator, so allowed too.
pub fn endpoint(cli: &Cli, also_allowed: &[String]) -> Result<Endpoint, Unusable> {
    let mut builder = builder(cli, also_allowed)?;
    if let Some(id) = &cli.operation {
        builder = builder.operation_id(id);
    }
    if let Some(task) = &cli.task {
        let definition = builder.definition_or_embedded();
        let types = definition.task_types();
        if types.iter().filter(|(name, _)| name == task).count() > 1 {
            return Err(Unusable(format!(
                "two operations of the definition name the task type {task:?}"
            )));
        }
        let Some((_, id)) = types.iter().find(|(name, _)| name == task) else {
            let known: Vec<&str> = types.iter().map(|(name, _)| *name).collect();
            return Err(Unusable(format!(
                "no task type {task:?} in the definition (it has: {})",
                known.join(", ")
            )));
        };
        builder = builder.operation_id(*id);
    }
    builder.build().map_err(|e| Unusable(e.to_string()))
}

/// The builder with the global `--definition` and `--allow-server` options, for commands
/// that choose the operation themselves.
pub fn builder(cli: &Cli, also_allowed: &[String]) -> Result<EndpointBuilder, Unusable> {
    let mut builder = Endpoint::builder();
    for server in cli.allow_servers.iter().chain(also_allowed) {
        builder = builder.allow_server(server);
    }
    if let Some(path) = &cli.definition {
        let definition = Definition::from_path(path).map_err(|e| Unusable(e.to_string()))?;
        builder = builder.definition(definition);
    }
    Ok(builder)
}

/// A step file, or a step on stdin for `-`.
pub fn read_step(path: &Path) -> Result<Step, Unusable> {
    let text = read_text(path)?;
    Step::from_json(&text).map_err(|e| Unusable(format!("{}: not a step file: {e}", shown(path))))
}

/// `--server`: send to this base URL instead of the step's own.
pub fn override_server(step: &mut Step, server: Option<&str>) {
    if let Some(server) = server {
        step.parameters
            .insert("server".into(), Value::String(server.to_owned()));
    }
}

/// The output or error of one execution as JSON text, and whether it succeeded.
pub fn outcome_json(
    outcome: &Result<TaskOutput, TaskError>,
    pretty: bool,
) -> Result<(String, bool), Unusable> {
    let ok = outcome.is_ok();
    let text = match (outcome, pretty) {
        (Ok(output), true) => serde_json::to_string_pretty(output),
        (Ok(output), false) => serde_json::to_string(output),
        (Err(error), true) => serde_json::to_string_pretty(error),
        (Err(error), false) => serde_json::to_string(error),
    }
    .map_err(json_error)?;
    Ok((text, ok))
}

/// One input line: its text, or why it has none (it is not UTF-8).
pub type Line = Result<String, String>;

/// [`Line`], borrowed from the reader's buffer.
pub type LineRef<'a> = Result<&'a str, String>;

/// How many lines of FILE a batch takes (those [`LineStream`] gives), read through once; `None`
/// when it cannot be read (the batch itself then says why) or is not a regular file: a pipe,
/// a FIFO or `/dev/stdin` read here would take its lines from the batch.
pub fn count_lines(path: &Path, max_line_bytes: usize) -> Option<usize> {
    if !std::fs::metadata(path).is_ok_and(|meta| meta.is_file()) {
        return None;
    }
    let mut stream = LineStream::open(path, max_line_bytes).ok()?;
    let mut count = 0;
    while stream.next_line().ok()?.is_some() {
        count += 1;
    }
    Some(count)
}

/// The lines of FILE (or stdin) one at a time, numbered from 1, blank ones skipped; a line
/// that is not UTF-8, or longer than the limit, is an error of its own, so the rest of the
/// file is still used. A batch whose lines are independent starts on the first while the rest
/// are still being read, and holds one line (at most the limit), not the file.
pub struct LineStream {
    /// `Send`, so that whichever thread takes the next batch can read it.
    reader: std::io::BufReader<Box<dyn std::io::Read + Send>>,
    path: String,
    /// The current line's bytes, reused from one line to the next.
    bytes: Vec<u8>,
    number: usize,
    /// The longest line kept, in bytes, its line break not counted.
    max_line_bytes: usize,
    /// Whether the input is a regular file (not stdin, a pipe or a FIFO).
    regular_file: bool,
}

impl LineStream {
    pub fn open(path: &Path, max_line_bytes: usize) -> Result<LineStream, Unusable> {
        let (source, regular_file): (Box<dyn std::io::Read + Send>, bool) =
            if path.as_os_str() == "-" {
                (Box::new(std::io::stdin()), false)
            } else {
                let file = std::fs::File::open(path)
                    .map_err(|e| Unusable(format!("cannot read {}: {e}", path.display())))?;
                // The opened file's own kind: the path could name another thing by now.
                let regular = file.metadata().is_ok_and(|meta| meta.is_file());
                (Box::new(file), regular)
            };
        Ok(LineStream {
            reader: std::io::BufReader::with_capacity(1 << 16, source),
            path: path.display().to_string(),
            bytes: Vec::new(),
            number: 0,
            max_line_bytes,
            regular_file,
        })
    }

    /// Whether the input read so far holds no further line to check (at most blank lines and
    /// the start of one still coming), so that the next line waits for more: the moment for
    /// a batch to flush its output. Whoever reads the other end then sees the record of every
    /// line that has come in. Never for a regular file, whose records go out in large blocks.
    pub fn drained(&self) -> bool {
        // A regular file never keeps a reader waiting: its batches are cut by size alone.
        if self.regular_file {
            return false;
        }
        let buffer = self.reader.buffer();
        // The next line that is not blank starts at the first byte that is not white space;
        // it has come in whole if a line break follows.
        match buffer.iter().position(|&byte| !is_json_space(byte)) {
            Some(start) => memchr::memchr(b'\n', &buffer[start..]).is_none(),
            None => true,
        }
    }

    /// The next line that is not blank, with its number; `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(usize, LineRef<'_>)>, Unusable> {
        loop {
            let (read, too_long) = self
                .read_line()
                .map_err(|e| Unusable(format!("cannot read {}: {e}", self.path)))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            if too_long {
                let why = format!(
                    "the line is longer than --max-line-bytes ({} bytes); it was skipped",
                    self.max_line_bytes
                );
                return Ok(Some((self.number, Err(why))));
            }
            match std::str::from_utf8(&self.bytes) {
                Ok(text) if text.bytes().all(is_json_space) => continue,
                Ok(_) => break,
                Err(error) => {
                    let why = format!("not UTF-8: invalid byte at offset {}", error.valid_up_to());
                    return Ok(Some((self.number, Err(why))));
                }
            }
        }
        // Checked just above; borrowed again here so that the loop can reuse the buffer.
        let text = std::str::from_utf8(&self.bytes).map_err(|e| Unusable(e.to_string()))?;
        Ok(Some((self.number, Ok(text.trim_end_matches(['\n', '\r'])))))
    }

    /// Reads the next line into `bytes`, up to and including its `\n`, and says how many bytes
    /// it had (0 at the end of the input) and whether it was longer than the limit. A line
    /// over the limit is read through to its end without being kept.
    fn read_line(&mut self) -> std::io::Result<(usize, bool)> {
        self.bytes.clear();
        let mut read = 0;
        let mut too_long = false;
        // Whether a line too long to keep is only white space, and so as blank as any.
        let mut blank = true;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if buffer.is_empty() {
                break;
            }
            let (taken, ended) = match memchr::memchr(b'\n', buffer) {
                Some(at) => (at + 1, true),
                None => (buffer.len(), false),
            };
            let kept = self.bytes.len() + taken - usize::from(ended);
            if too_long || kept > self.max_line_bytes {
                if !too_long {
                    blank = self.bytes.iter().copied().all(is_json_space);
                }
                too_long = true;
                blank = blank && buffer[..taken].iter().copied().all(is_json_space);
                self.bytes.clear();
            } else {
                self.bytes.extend_from_slice(&buffer[..taken]);
            }
            read += taken;
            self.reader.consume(taken);
            if ended {
                break;
            }
        }
        // A long line's memory goes back rather than stay for the rest of the batch.
        if too_long {
            self.bytes = Vec::new();
        }
        // Skipped as blank lines are; its bytes are gone, and no text is left to trim.
        Ok((read, too_long && !blank))
    }
}

/// The output line for an input line that cannot be used, so outputs stay aligned with
/// inputs: `{"line": N, "error": "..."}`.
pub fn unusable_line(number: usize, why: &str) -> String {
    json!({ "line": number, "error": why }).to_string()
}

/// A step from one line, or the reason the line is unusable.
pub fn step_of(line: LineRef<'_>) -> Result<Step, String> {
    Step::from_json(line?).map_err(|error| format!("not a step: {error}"))
}

/// One JSON document on stdout.
pub fn print_json(text: &str) -> Result<(), Unusable> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(write_error)
}

pub fn json_error(error: serde_json::Error) -> Unusable {
    if error.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) {
        return Unusable(CLOSED_OUTPUT.into());
    }
    Unusable(format!("cannot write JSON: {error}"))
}

pub fn write_error(error: std::io::Error) -> Unusable {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        return Unusable(CLOSED_OUTPUT.into());
    }
    Unusable(format!("cannot write output: {error}"))
}

/// A `--jsonl` record: `{"line": N, ...}` with the document's own fields after it.
pub fn record(number: usize, document: Value) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("line".into(), Value::from(number));
    match document {
        Value::Object(own) => fields.extend(own),
        other => {
            fields.insert("value".into(), other);
        }
    }
    Value::Object(fields).to_string()
}

/// Ctrl-C or SIGTERM (what `docker stop` and systemd send): the servers stop accepting,
/// finish the requests in flight and exit 0. The handlers are installed when this is called,
/// before the server says it is ready: a signal right after that line is not the default
/// (fatal) one.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut terminate), Some(mut interrupt)) = signals {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// White space as JSON has it (space, tab, line feed, carriage return): a line of only these
/// is blank, however long.
fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::LineStream;

    /// Lines at the limit are kept whole, across the reader's buffer fills; a longer one is
    /// its own error, read through to its end without being kept, and the next line is whole.
    #[test]
    fn a_line_over_the_limit_is_skipped_and_not_held() {
        let dir = std::env::temp_dir().join(format!("apikey-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let file = dir.join("steps.jsonl");
        let max = 100_000; // over the 64 KiB buffer, so lines span fills
        let at_limit = "a".repeat(max);
        let over = "b".repeat(max + 1);
        let unterminated_over = "c".repeat(3 * max);
        std::fs::write(
            &file,
            format!(
                "{at_limit}\n{over}\n\n{at_limit}\r\nshort\n{}\n{unterminated_over}",
                " ".repeat(3 * max)
            ),
        )
        .expect("written");
        // The line break is not counted; a `\r` before it is the line's.
        let mut lines = LineStream::open(&file, max).expect("opened");
        let mut seen = Vec::new();
        while let Some((number, line)) = lines.next_line().expect("read") {
            seen.push((number, line.map(str::len)));
            assert!(lines.bytes.capacity() <= 2 * max + 2, "a line's memory");
        }
        let too_long =
            format!("the line is longer than --max-line-bytes ({max} bytes); it was skipped");
        assert_eq!(
            seen,
            [
                (1, Ok(max)),
                (2, Err(too_long.clone())),
                (4, Err(too_long.clone())),
                (5, Ok(5)),
                (7, Err(too_long)),
            ]
        );
        let mut lines = LineStream::open(&file, max + 1).expect("opened");
        let lengths: Vec<_> = std::iter::from_fn(|| {
            lines
                .next_line()
                .expect("read")
                .map(|(n, line)| (n, line.map(str::len).is_ok()))
        })
        .collect();
        assert_eq!(
            lengths,
            [(1, true), (2, true), (4, true), (5, true), (7, false)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
