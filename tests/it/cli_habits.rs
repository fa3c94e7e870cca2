//! The command line's habits: line numbers and order in `--jsonl` runs, progress on stderr,
//! `-` for stdin, suggestions, completions and the man page, signals, a closed stdout, logs
//! without colour off a terminal, `--version`, refused options, `--format text`. A
//! pseudo-terminal (util-linux `script`) stands in where a terminal matters.

use crate::support::{
    CANARY_KEY, KillOnDrop, LiveEmulator, Scratch, cli, fixture, run, scratch_dir, started,
    stdout_json, text,
};
use apikey_task::emulator::Emulator;
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn one_line(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    serde_json::from_str::<Value>(&text)
        .expect("fixture JSON")
        .to_string()
}

fn records(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `script` runs `shell_command` with a pseudo-terminal as its stdin, stdout and stderr; what
/// the terminal showed comes back (both streams, in order).
fn on_a_terminal(shell_command: &str) -> String {
    let output = Command::new("script")
        .args(["-qec", shell_command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script runs");
    text(&output.stdout)
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_apikey-task")
}

/// `test-request --jsonl` answers each line as it comes: the record for line 1 is out while
/// stdin is still open, and memory does not wait for the end of the input.
#[test]
fn test_request_jsonl_answers_a_line_before_the_input_ends() {
    let mut child = KillOnDrop(
        cli()
            .args(["test-request", "--jsonl", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    let stdout = child.0.stdout.take().expect("stdout");
    let (records, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if records.send(line).is_err() {
                break;
            }
        }
    });
    let next_record = || -> Value {
        let line = received
            .recv_timeout(Duration::from_secs(20))
            .expect("a record while stdin is still open")
            .expect("stdout is text");
        serde_json::from_str(&line).expect("a JSON record")
    };
    for (number, step) in [
        (1, "valid/minimal.json"),
        (2, "invalid/read-only-fields.json"),
    ] {
        writeln!(stdin, "{}", one_line(step)).expect("a line written");
        stdin.flush().expect("flushed");
        let record = next_record();
        assert_eq!(record["line"], number, "{record}");
        assert_eq!(record["valid"], number == 1, "{record}");
    }
    drop(stdin);
    let status = child.0.wait().expect("exits");
    assert_eq!(
        status.code(),
        Some(1),
        "an invalid step makes the exit status 1"
    );
}

#[test]
fn jsonl_records_carry_their_input_line_and_a_summary_goes_to_stderr() {
    let input = [
        one_line("valid/minimal.json"),
        String::new(),
        "not a step".into(),
        one_line("invalid/read-only-fields.json"),
        "   ".into(),
        one_line("valid/server-live.json"),
    ]
    .join("\n");
    let output = run(cli().args(["test-request", "--jsonl", "-"]), Some(&input));
    assert_eq!(output.status.code(), Some(2));
    let lines: Vec<Value> = records(&output.stdout)
        .iter()
        .map(|r| r["line"].clone())
        .collect();
    // Blank lines count but produce no record.
    assert_eq!(lines, [1, 3, 4, 6]);
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("apikey-task: 4 lines in ")
            && stderr.contains("2 valid, 1 invalid, 1 unusable"),
        "{stderr}"
    );

    let emulator = LiveEmulator::start(Emulator::builder());
    let steps = (0..6)
        .map(|i| format!(r#"{{"parameters": {{"body": {{"description": "k{i}"}}}}}}"#))
        .collect::<Vec<_>>()
        .join("\n\n");
    for extra in [None, Some("--unordered")] {
        let mut command = cli();
        command.env("REBILLY_API_KEY", CANARY_KEY).args([
            "run",
            "--jsonl",
            "-",
            "--concurrency",
            "3",
            "--server",
            &emulator.url(),
        ]);
        command.args(extra);
        let output = run(&mut command, Some(&steps));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let mut seen: Vec<u64> = records(&output.stdout)
            .iter()
            .map(|r| {
                let line = r["line"].as_u64().expect("a line number");
                let description = &r["response"]["body"]["description"];
                assert_eq!(description, &format!("k{}", (line - 1) / 2), "{r}");
                line
            })
            .collect();
        if extra.is_none() {
            assert_eq!(seen, [1, 3, 5, 7, 9, 11]);
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 3, 5, 7, 9, 11]);
        assert!(
            text(&output.stderr).contains("6 lines in"),
            "{}",
            text(&output.stderr)
        );
    }
}

/// `count` copies of a fixture's step, one per line, in a scratch folder named `name` (kept
/// while the first value lives).
fn jsonl_file(name: &str, fixture: &str, count: usize) -> (Scratch, std::path::PathBuf) {
    let dir = scratch_dir(name);
    let file = dir.join("steps.jsonl");
    let lines: Vec<String> = (0..count).map(|_| one_line(fixture)).collect();
    std::fs::write(&file, lines.join("\n")).expect("write steps");
    (dir, file)
}

#[test]
fn a_terminal_gets_progress_and_the_summary() {
    let (_dir, file) = jsonl_file("progress", "valid/acl-every-scope.json", 200);
    let shown = on_a_terminal(&format!(
        "{} test-request --jsonl {} >/dev/null",
        binary(),
        file.display()
    ));
    assert!(shown.contains("apikey-task: 200 lines in"), "{shown:?}");
    assert!(
        shown.contains("200 valid, 0 invalid, 0 unusable"),
        "{shown:?}"
    );
    // Records on the same terminal are written with the bar lifted off: each one whole.
    let shown = on_a_terminal(&format!(
        "{} test-request --jsonl {}",
        binary(),
        file.display()
    ));
    let records = shown
        .lines()
        .filter_map(|line| line.rsplit("\u{1b}[2K").next())
        .filter(|line| line.starts_with("{\"line\":") && line.ends_with('}'))
        .count();
    assert_eq!(records, 200, "{shown:?}");
}

#[test]
fn dash_reads_stdin_everywhere() {
    let step = std::fs::read_to_string(fixture("valid/minimal.json")).expect("fixture");
    let output = run(cli().args(["test-request", "-"]), Some(&step));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(stdout_json(&output)["valid"], true);

    let emulator = LiveEmulator::start(Emulator::builder());
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .args(["run", "-", "--server", &emulator.url()]),
        Some(&step),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(stdout_json(&output)["response"]["statusCode"], 201);

    // reconcile reads the error document from stdin, and names it so.
    let output = run(
        cli().args(["reconcile", "-"]),
        Some(r#"{"error": {"kind": "timeout"}}"#),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("apikey-task: stdin: no error.reconcile"),
        "{}",
        text(&output.stderr)
    );

    let output = run(cli().args(["test-request", "-"]), Some("{"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("apikey-task: stdin: not a step file"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn typos_get_a_suggestion() {
    let output = run(cli().arg("test-reqest"), None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("similar subcommand exists: 'test-request'"),
        "{}",
        text(&output.stderr)
    );
    let output = run(cli().args(["run", "--concurency", "2", "x.json"]), None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--concurrency"),
        "{}",
        text(&output.stderr)
    );
    // Off a terminal, errors carry no colour; on one they do, unless NO_COLOR says not to.
    assert!(!output.stderr.contains(&0x1b));
    let shown = on_a_terminal(&format!("{} test-reqest", binary()));
    assert!(
        shown.contains("test-request") && shown.contains("\u{1b}["),
        "{shown:?}"
    );
    let shown = on_a_terminal(&format!("NO_COLOR=1 {} test-reqest", binary()));
    assert!(
        shown.contains("test-request") && !shown.contains("\u{1b}["),
        "{shown:?}"
    );
}

#[test]
fn completions_and_the_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef apikey-task"),
        ("fish", "complete -c apikey-task"),
    ] {
        let output = run(cli().args(["completions", shell]), None);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("test-request") && script.contains("convert"),
            "{shell}"
        );
    }
    let output = run(cli().arg("man"), None);
    assert_eq!(output.status.code(), Some(0));
    let page = text(&output.stdout);
    assert!(page.contains(".TH apikey-task 1"), "{page}");
    assert!(page.contains("test\\-request"), "{page}");
}

#[test]
fn version_names_the_built_features_and_help_hides_what_is_not_built() {
    let output = run(cli().arg("--version"), None);
    let version = text(&output.stdout);
    assert!(
        version.starts_with("apikey-task 0.1.0 (features: cli, serve, emulator"),
        "{version}"
    );
    assert!(version.contains("exact-numbers"), "{version}");
    assert_eq!(
        version.contains("temporal"),
        cfg!(feature = "temporal"),
        "{version}"
    );
    let help = text(&run(cli().arg("--help"), None).stdout);
    assert_eq!(
        help.contains("\n  worker "),
        cfg!(feature = "temporal"),
        "{help}"
    );
    if !cfg!(feature = "temporal") {
        let output = run(cli().arg("worker"), None);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            text(&output.stderr).contains("--features temporal"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn options_that_do_not_apply_are_refused() {
    for (args, option, command) in [
        (
            &["--definition", "x.json", "emulator"][..],
            "--definition",
            "emulator",
        ),
        (
            &["demo", "--operation", "GetApiKey"][..],
            "--operation",
            "demo",
        ),
        (
            &["reconcile", "e.json", "--task", "GetApiKey"][..],
            "--task",
            "reconcile",
        ),
        (
            &["completions", "bash", "--allow-server", "https://x"][..],
            "--allow-server",
            "completions",
        ),
    ] {
        let output = run(cli().args(args), None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&output.stderr).trim_end(),
            format!("apikey-task: {option} does not apply to `{command}`"),
            "{args:?}"
        );
        assert!(output.stdout.is_empty());
    }
    // --format is for one step; a batch is JSON lines.
    let output = run(
        cli().args(["test-request", "--jsonl", "-", "--format", "text"]),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("cannot be used with"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn format_text_is_short_and_human() {
    let output = run(
        cli()
            .args(["test-request", "--format", "text"])
            .arg(fixture("invalid/read-only-fields.json")),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let shown = text(&output.stdout);
    let mut lines = shown.lines();
    assert_eq!(lines.next(), Some("invalid"));
    for start in ["error /body/", "POST https://", "curl -X POST"] {
        assert!(
            shown.lines().any(|l| l.starts_with(start)),
            "no line starts with {start:?}: {shown}"
        );
    }

    let emulator = LiveEmulator::start(Emulator::builder());
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .args(["run", "--format", "text", "--server", &emulator.url()])
            .arg(fixture("valid/minimal.json")),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    assert!(
        shown.starts_with(&format!(
            "POST {}/api-keys -> 201 Created\nkey api_key_",
            emulator.url()
        )),
        "{shown}"
    );
    assert!(
        !shown.contains("CANARY") && !shown.contains("sk_"),
        "{shown}"
    );

    let output = run(
        cli()
            .args(["run", "--format", "text", "--server", &emulator.url()])
            .arg(fixture("valid/minimal.json")),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).starts_with("failed ("),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let (_dir, file) = jsonl_file("closed-stdout", "valid/minimal.json", 20_000);
    let mut child = KillOnDrop(
        cli()
            .args(["test-request", "--jsonl"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("one line");
    // The reader is gone: `| head -1`.
    assert!(first.starts_with("{\"line\":1,"), "{first}");
    let status = child.0.wait().expect("exits");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // The demo too: `apikey-task demo | head -1`.
    let mut demo = KillOnDrop(
        cli()
            .arg("demo")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let mut first = String::new();
    let stdout = demo.0.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("one line");
    assert!(first.starts_with("== "), "{first}");
    let status = demo.0.wait().expect("exits");
    let mut stderr = String::new();
    let _ = demo
        .0
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn terminate(child: &KillOnDrop) {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn exit_within(child: &mut KillOnDrop, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.0.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn sigterm_lets_the_servers_answer_what_is_in_flight_and_exit_0() {
    let (mut emulator, line) =
        started(cli().args(["emulator", "--port", "0", "--slow-creates-ms", "800"]));
    let url = line
        .trim()
        .strip_prefix("emulator listening on ")
        .expect("its URL")
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let create = runtime.spawn(async move {
        crate::support::http()
            .post(format!("{url}/api-keys"))
            .header("REB-APIKEY", "any")
            .header("content-type", "application/json")
            .body(r#"{"description": "in flight"}"#)
            .send()
            .await
            .map(|response| response.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(300));
    terminate(&emulator);
    let answered = runtime.block_on(create).expect("joined");
    assert_eq!(answered.ok(), Some(201), "the create in flight is answered");
    assert_eq!(exit_within(&mut emulator, Duration::from_secs(10)), Some(0));

    let (mut serve, line) = started(cli().args(["serve", "--port", "0"]));
    assert!(line.starts_with("serving on "), "{line}");
    terminate(&serve);
    assert_eq!(exit_within(&mut serve, Duration::from_secs(10)), Some(0));
}

#[test]
fn logs_are_plain_off_a_terminal_json_on_request_and_coloured_on_one() {
    let emulator = LiveEmulator::start(Emulator::builder());
    let step = fixture("valid/minimal.json");
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .env("RUST_LOG", "debug")
            .args(["run", "--server", &emulator.url()])
            .arg(&step),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(!output.stderr.is_empty(), "debug logs");
    assert!(!output.stderr.contains(&0x1b), "{}", text(&output.stderr));

    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .env("RUST_LOG", "debug")
            .args(["--log-format", "json", "run", "--server", &emulator.url()])
            .arg(&step),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.lines().count() > 0);
    for line in stderr.lines() {
        let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(record["level"].is_string(), "{line}");
    }
    assert!(!stderr.contains("CANARY"));

    let command = format!(
        "REBILLY_API_KEY=x RUST_LOG=debug {} run --server {} {}",
        binary(),
        emulator.url(),
        step.display()
    );
    assert!(
        on_a_terminal(&command).contains("\u{1b}["),
        "colour on a terminal"
    );
    let plain = on_a_terminal(&format!("NO_COLOR=1 {command}"));
    assert!(
        plain.contains("DEBUG") && !plain.contains("\u{1b}["),
        "{plain:?}"
    );
}
