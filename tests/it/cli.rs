//! The `apikey-task` binary, run as a user would: exit codes, stdout, stderr, environment.

use crate::support::{
    self, ECHO_MODES, LiveEmulator, answer_server, cli, echo_server, fixture, rate_limited_forever,
    root, run, run_bytes, run_within, scratch_dir, stdout_json, text, under_ulimit,
};
use apikey_task::emulator::Emulator;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

const CANARY_KEY: &str = "sk_sandbox_CANARY_0f1e2d3c";
const CANARY_JWT: &str = "eyJhbGciOi.CANARY.jwt";

#[test]
fn valid_step_exits_0_and_warns_without_credentials() {
    let output = run(
        cli().arg("test-request").arg(fixture("valid/minimal.json")),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], true);
    assert!(
        report["warnings"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no credentials configured"))
    );
    // With no credentials there is no credential header to show, and curl reads the env var.
    assert!(report["request"]["headers"].get("REB-APIKEY").is_none());
    insta::assert_snapshot!("minimal_without_credentials", text(&output.stdout));
}

#[test]
fn invalid_step_exits_1_with_located_errors() {
    let output = run(
        cli()
            .arg("test-request")
            .arg(fixture("invalid/allowed-ips-private-v4.json")),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "/body/allowedIps/0");
    assert!(output.stderr.is_empty());
}

#[test]
fn credentials_from_the_environment_are_redacted() {
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .arg("test-request")
            .arg(fixture("valid/minimal.json")),
        None,
    );
    let report = stdout_json(&output);
    assert_eq!(report["request"]["headers"]["REB-APIKEY"], "<redacted>");
    assert!(report["warnings"].as_array().is_some_and(Vec::is_empty));
    assert!(
        report["curl"]
            .as_str()
            .is_some_and(|c| c.contains("-H \"REB-APIKEY: $REBILLY_API_KEY\""))
    );

    let output = run(
        cli()
            .env("REBILLY_JWT", CANARY_JWT)
            .arg("test-request")
            .arg(fixture("invalid/credentials-in-headers.json")),
        None,
    );
    let report = stdout_json(&output);
    assert_eq!(
        report["request"]["headers"]["Authorization"],
        "Bearer <redacted>"
    );
    for output_text in [text(&output.stdout), text(&output.stderr)] {
        assert!(
            !output_text.contains("CANARY"),
            "a canary leaked: {output_text}"
        );
    }
}

#[test]
fn unusable_input_exits_2_with_one_line_on_stderr() {
    let dir = scratch_dir("cli");
    let cases = [
        ("not-json.json", "{ this is not json"),
        ("array-parameters.json", r#"{"parameters": [1, 2]}"#),
        ("extra-key.json", r#"{"parameters": {}, "contxt": {}}"#),
        ("no-parameters.json", r#"{"context": {}}"#),
    ];
    let mut paths: Vec<PathBuf> = cases
        .iter()
        .map(|(name, content)| {
            let path = dir.join(name);
            std::fs::write(&path, content).expect("write case");
            path
        })
        .collect();
    paths.push(dir.join("does-not-exist.json"));
    for path in paths {
        let output = run(cli().arg("test-request").arg(&path), None);
        assert_eq!(output.status.code(), Some(2), "{}", path.display());
        assert!(output.stdout.is_empty());
        let stderr = text(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("apikey-task: "), "{stderr}");
    }
}

#[test]
fn jsonl_reports_one_line_per_step_in_order() {
    let line = |name: &str| -> String {
        let text = std::fs::read_to_string(fixture(name)).expect("fixture");
        let value: Value = serde_json::from_str(&text).expect("fixture JSON");
        value.to_string()
    };
    let input = [
        line("valid/minimal.json"),
        line("invalid/read-only-fields.json"),
        String::new(),
        line("valid/server-live.json"),
    ]
    .join("\n");
    let output = run(cli().args(["test-request", "--jsonl", "-"]), Some(&input));
    assert_eq!(output.status.code(), Some(1));
    let reports: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(reports.len(), 3, "blank lines are skipped");
    assert_eq!(
        reports
            .iter()
            .map(|r| r["valid"].clone())
            .collect::<Vec<_>>(),
        [true, false, true]
    );
    assert!(
        reports[2]["request"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://api.rebilly.com/"))
    );

    let all_valid = [line("valid/minimal.json"), line("valid/acl-wildcard.json")].join("\n");
    let output = run(
        cli().args(["test-request", "--jsonl", "-"]),
        Some(&all_valid),
    );
    assert_eq!(output.status.code(), Some(0));

    let with_garbage = [line("valid/minimal.json"), "not a step".into()].join("\n");
    let output = run(
        cli().args(["test-request", "--jsonl", "-"]),
        Some(&with_garbage),
    );
    assert_eq!(output.status.code(), Some(2));
    let second: Value = text(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("an error line keeps the output aligned");
    assert_eq!(second["line"], 2);
}

#[test]
fn schema_definition_prints_the_loaded_definition() {
    let output = run(cli().args(["schema", "definition"]), None);
    assert_eq!(output.status.code(), Some(0));
    let printed = stdout_json(&output);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/api-keys.openapi.json"))
            .expect("definition file"),
    )
    .expect("definition is JSON");
    assert_eq!(printed, file);
}

#[test]
fn another_definition_is_loaded_from_a_path() {
    let definition = root().join("tests/data/widgets.openapi.json");
    let dir = scratch_dir("widgets");
    let step = dir.join("step.json");
    std::fs::write(
        &step,
        r#"{"parameters": {"shelfId": "top shelf", "body": {"name": "${workflow.input.n}", "colour": null, "id": "w1"}},
            "context": {"workflow": {"input": {"n": "sprocket"}}}}"#,
    )
    .expect("write step");

    let output = run(
        cli()
            .arg("--definition")
            .arg(&definition)
            .args(["--operation", "PostWidget", "test-request"])
            .arg(&step),
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = stdout_json(&output);
    assert_eq!(
        report["request"]["url"],
        "https://eu.widgets.example.com/v1/shelves/top%20shelf/widgets"
    );
    assert_eq!(report["request"]["body"]["name"], "sprocket");
    assert_eq!(report["errors"][0]["path"], "/body/id");
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(1));
    assert!(
        report["curl"]
            .as_str()
            .is_some_and(|c| c.contains("Authorization: Bearer $REBILLY_JWT"))
    );

    // Two operations and none chosen: a clear error listing them, exit 2.
    let output = run(
        cli()
            .arg("--definition")
            .arg(&definition)
            .args(["schema", "input"]),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("PostWidget (POST /shelves/{shelfId}/widgets)"),
        "{stderr}"
    );

    let output = run(
        cli()
            .arg("--definition")
            .arg(root().join("Cargo.toml"))
            .args(["schema", "input"]),
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("not valid JSON"));
}

#[test]
fn run_executes_against_the_emulator_and_redacts_the_secret() {
    let emulator = LiveEmulator::start(Emulator::builder());
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .env("RUST_LOG", "trace")
            .arg("run")
            .arg(fixture("valid/acl-every-scope.json"))
            .args(["--server", &emulator.url()]),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let result = stdout_json(&output);
    assert_eq!(result["response"]["statusCode"], 201);
    assert_eq!(result["response"]["body"]["secretKey"], "<redacted>");
    assert!(
        result["response"]["body"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("api_key_"))
    );
    assert!(!output.stderr.is_empty(), "RUST_LOG=trace logs to stderr");
    for stream in [text(&output.stdout), text(&output.stderr)] {
        assert!(!stream.contains("CANARY"), "the credential leaked");
        assert!(!stream.contains("sk_sandbox_"), "the secret leaked");
    }

    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .arg("run")
            .arg(fixture("valid/minimal.json"))
            .args(["--server", &emulator.url(), "--reveal-secret"]),
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout_json(&output)["response"]["body"]["secretKey"]
            .as_str()
            .is_some_and(|s| s.starts_with("sk_sandbox_"))
    );
    assert_eq!(emulator.created(), 2, "one key per run");
}

#[test]
fn run_reports_a_failed_step_as_an_error_document() {
    let emulator = LiveEmulator::start(Emulator::builder().accept("sk_other"));
    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .arg("run")
            .arg(fixture("valid/minimal.json"))
            .args(["--server", &emulator.url()]),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let result = stdout_json(&output);
    assert_eq!(result["error"]["kind"], "unauthorized");
    assert_eq!(result["error"]["retryable"], false);
    assert_eq!(result["response"]["statusCode"], 401);
    assert!(!text(&output.stdout).contains("CANARY"));

    let output = run(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .arg("run")
            .arg(fixture("invalid/allowed-ips-private-v6.json"))
            .args(["--server", &emulator.url()]),
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_json(&output)["error"]["kind"], "invalid_step");
    assert_eq!(emulator.created(), 0, "neither step created a key");
}

#[test]
fn run_jsonl_keeps_input_order_under_concurrency() {
    let emulator = LiveEmulator::start(Emulator::builder());
    let line = |description: &str| {
        serde_json::json!({ "parameters": { "body": { "description": description } } }).to_string()
    };
    let mut input: Vec<String> = (0..12).map(|i| line(&format!("key {i}"))).collect();
    input[5] = serde_json::json!({ "parameters": { "body": { "description": "bad", "allowedIps": ["127.0.0.1"] } } }).to_string();
    input[9] = "garbage".into();
    let output = run_jsonl(&emulator, 4, &input);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let results = json_lines(&output);
    assert_eq!(results.len(), 12);
    for (i, result) in results.iter().enumerate() {
        match i {
            5 => assert_eq!(result["error"]["kind"], "invalid_step"),
            9 => assert_eq!(result["line"], 10),
            _ => assert_eq!(
                result["response"]["body"]["description"],
                format!("key {i}")
            ),
        }
    }
}

/// Lines that repeat one step's parameters with their own workflow state, as a batch of
/// keys for many teams: from the third, they are executed from a template of the
/// parameters, and each still creates its own key from its own state, or is refused as the
/// first would be.
#[test]
fn run_jsonl_executes_repeated_parameters_each_with_its_state() {
    let emulator = LiveEmulator::start(Emulator::builder());
    let line = |team: &str, ip: &str| {
        serde_json::json!({
            "parameters": { "body": {
                "description": "key for ${workflow.input.team}",
                "allowedIps": ["${workflow.input.ip}"]
            } },
            "context": { "workflow": { "input": { "team": team, "ip": ip } } }
        })
        .to_string()
    };
    let mut input: Vec<String> = (0..6)
        .map(|i| line(&format!("team {i}"), "153.12.32.33"))
        .collect();
    input.push(line("ops", "10.0.0.1"));
    let output = run_jsonl(&emulator, 1, &input);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let results = json_lines(&output);
    assert_eq!(results.len(), 7);
    for (i, result) in results.iter().take(6).enumerate() {
        assert_eq!(
            result["response"]["body"]["description"],
            format!("key for team {i}")
        );
    }
    assert_eq!(results[6]["error"]["kind"], "invalid_step");
    assert_eq!(
        results[6]["error"]["errors"][0]["path"],
        "/body/allowedIps/0"
    );
    assert_eq!(emulator.created(), 6);
}

/// `run --jsonl -` starts on a line as soon as it comes in: its record is out while stdin is
/// still open, and the next line is read after that.
#[test]
fn run_jsonl_answers_each_line_while_the_input_is_still_open() {
    let emulator = LiveEmulator::start(Emulator::builder());
    answers_each_line_while_the_input_is_open(
        &["run", "--jsonl", "-", "--server", &emulator.url()],
        |record, description| {
            assert_eq!(record["response"]["body"]["description"], description);
        },
    );
    assert_eq!(emulator.created(), 2);
}

/// The same for `test-request --jsonl -`, whose threads take the input a batch at a time in
/// turn.
#[test]
fn test_request_jsonl_answers_each_line_while_the_input_is_still_open() {
    answers_each_line_while_the_input_is_open(
        &["test-request", "--jsonl", "-"],
        |record, description| {
            assert_eq!(record["request"]["body"]["description"], description);
        },
    );
}

/// Writes two lines to the command's stdin, one at a time, and expects each one's record
/// before the next line is written and before stdin closes; then no more, and exit 0.
fn answers_each_line_while_the_input_is_open(args: &[&str], check: impl Fn(&Value, &str)) {
    use std::io::{BufRead, Write};
    let mut child = support::KillOnDrop(
        cli()
            .env("REBILLY_API_KEY", CANARY_KEY)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starts"),
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    let stdout = child.0.stdout.take().expect("stdout");
    let (records, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = records.send(line.unwrap_or_default());
        }
    });
    let step = |description: &str| {
        serde_json::json!({ "parameters": { "organizationId": "org-1", "body": { "description": description } } })
            .to_string()
    };
    // Each line comes with a blank one after it, in the same write: the blank line is read
    // too, and must not hold the record back until more input comes.
    for (number, description) in [(1, "first"), (3, "second")] {
        write!(stdin, "{}\n\n", step(description)).expect("a line in");
        stdin.flush().expect("flushed");
        let record: Value = serde_json::from_str(
            &received
                .recv_timeout(Duration::from_secs(30))
                .expect("a record while stdin is open"),
        )
        .expect("a JSON record");
        assert_eq!(record["line"], number);
        check(&record, description);
    }
    drop(stdin);
    assert!(
        received.recv_timeout(Duration::from_secs(30)).is_err(),
        "no record after the last line"
    );
    assert_eq!(child.0.wait().expect("exits").code(), Some(0));
}

#[test]
fn demo_rotates_a_key_exactly_once_across_a_lost_answer_and_a_second_run() {
    let output = run(cli().arg("demo"), None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    // Run 1, in full: the create was repeated after its lost answer and found its key.
    let first: Value = serde_json::from_str(
        stdout
            .split("== newKey (CreateApiKey)\n")
            .nth(1)
            .and_then(|rest| rest.split("\n== ").next())
            .expect("the create's output"),
    )
    .expect("output JSON");
    assert_eq!(first["request"]["method"], "PUT");
    assert_eq!(first["request"]["attempts"], 2, "{first}");
    assert_eq!(first["secretObtained"], true);
    assert!(stdout.contains("== retireOld (DeleteApiKey)\n"), "{stdout}");
    assert!(stdout.contains("\"statusCode\": 204"), "{stdout}");
    // Run 2, one line a step: nothing new.
    let second = stdout
        .split("== run 2 of workflow")
        .nth(1)
        .expect("a second run");
    assert!(second.contains("newKey (CreateApiKey): GET "), "{second}");
    assert!(second.contains("-> 200 OK"), "{second}");
    assert!(
        second.contains("retireOld (DeleteApiKey): DELETE "),
        "{second}"
    );
    assert!(second.contains("-> 404 Not Found"), "{second}");
    assert!(
        stdout.contains("== the emulator holds 1 key (rotate-storefront-2026-11)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("sk_"),
        "a secret or credential leaked: {stdout}"
    );
}

/// The JSON Schemas in `schemas/` are data an editor reads without running us; each must be
/// exactly what the code builds, or this fails with the command that regenerates it.
#[test]
fn the_published_schemas_are_the_ones_the_code_builds() {
    for (which, file) in [
        ("input", "schemas/step-parameters.schema.json"),
        ("output", "schemas/task-output.schema.json"),
        ("report", "schemas/test-report.schema.json"),
    ] {
        let output = run(cli().args(["schema", which]), None);
        assert_eq!(output.status.code(), Some(0));
        let published: Value =
            serde_json::from_str(&std::fs::read_to_string(root().join(file)).expect("schema file"))
                .expect("schema JSON");
        assert_eq!(
            stdout_json(&output),
            published,
            "{file} is stale: regenerate it with `apikey-task schema {which} > {file}`"
        );
        assert_eq!(
            published["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        jsonschema::validator_for(&published).expect("the published schema compiles");
    }
}

/// A loopback server made by `start` on a runtime of its own, kept running while the test
/// runs the binary.
fn served<T>(start: impl Future<Output = T>) -> (tokio::runtime::Runtime, T) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let served = runtime.block_on(start);
    (runtime, served)
}

/// Stdout as one JSON document per line.
/// `run --jsonl -` of `lines` against `emulator`, `concurrency` steps at a time.
fn run_jsonl(emulator: &LiveEmulator, concurrency: u16, lines: &[String]) -> std::process::Output {
    run(
        cli().env("REBILLY_API_KEY", CANARY_KEY).args([
            "run",
            "--jsonl",
            "-",
            "--concurrency",
            &concurrency.to_string(),
            "--server",
            &emulator.url(),
        ]),
        Some(&lines.join("\n")),
    )
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn run_reports_a_rate_limit_beyond_any_clock_as_an_error_document() {
    let (_runtime, (url, received)) = served(answer_server(rate_limited_forever()));
    let output = run(
        cli()
            .env("REBILLY_API_KEY", support::CANARY_KEY)
            .arg("run")
            .arg(fixture("valid/minimal.json"))
            .args(["--server", &url]),
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let error = stdout_json(&output);
    assert_eq!(error["error"]["kind"], "rate_limited");
    assert_eq!(error["error"]["retryable"], true);
    assert_eq!(error["error"]["retryAfterMs"], serde_json::json!(u64::MAX));
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[test]
fn one_bad_server_never_kills_a_batch() {
    let (runtime, (limited, _)) = served(answer_server(rate_limited_forever()));
    let emulator = LiveEmulator::start(Emulator::builder());
    let input: Vec<String> = (0..20)
        .map(|i| {
            let server = if i % 3 == 0 {
                limited.clone()
            } else {
                emulator.url()
            };
            serde_json::json!({
                "parameters": { "server": server, "body": { "description": format!("key {i}") } }
            })
            .to_string()
        })
        .collect();
    let output = run(
        cli()
            .env("REBILLY_API_KEY", support::CANARY_KEY)
            .args(["run", "--jsonl", "-"]),
        Some(&input.join("\n")),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let results = json_lines(&output);
    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(
                result["error"]["kind"], "rate_limited",
                "line {i}: {result}"
            );
        } else {
            assert_eq!(
                result["response"]["body"]["description"],
                format!("key {i}"),
                "line {i}: {result}"
            );
        }
    }
    assert_eq!(emulator.created(), 13);
    drop(runtime);
}

#[test]
fn a_line_that_is_not_utf8_gets_its_own_record() {
    let valid = r#"{"parameters": {"organizationId": "org-1", "body": {"description": "fine"}}}"#;
    let prefix = br#"{"parameters": {"body": {"description": ""#;
    let mut input = valid.as_bytes().to_vec();
    input.push(b'\n');
    input.extend_from_slice(prefix);
    input.extend_from_slice(b"\xff\xfe\"}}}\n");
    input.extend_from_slice(valid.as_bytes());
    input.push(b'\n');
    let expected = serde_json::json!({
        "line": 2,
        "error": format!("not UTF-8: invalid byte at offset {}", prefix.len())
    });
    the_second_line_gets_its_own_record(&input, &[], &expected);
}

/// Both `test-request --jsonl` and `run --jsonl` (with `extra` options), given three lines of
/// which the second cannot be used: exit 2, that line's record is `expected`, and the other
/// two are checked, or created, as if it were not there.
fn the_second_line_gets_its_own_record(input: &[u8], extra: &[&str], expected: &Value) {
    let emulator = LiveEmulator::start(Emulator::builder());
    let output = run_bytes(
        cli().args(["test-request", "--jsonl", "-"]).args(extra),
        input,
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let reports = json_lines(&output);
    assert_eq!(reports.len(), 3);
    assert_eq!(&reports[1], expected);
    for report in [&reports[0], &reports[2]] {
        assert_eq!(report["valid"], true, "{report}");
    }

    let output = run_bytes(
        cli()
            .env("REBILLY_API_KEY", support::CANARY_KEY)
            .args(["run", "--jsonl", "-", "--server", &emulator.url()])
            .args(extra),
        input,
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let results = json_lines(&output);
    assert_eq!(results.len(), 3);
    assert_eq!(&results[1], expected);
    for result in [&results[0], &results[2]] {
        assert_eq!(result["response"]["statusCode"], 201, "{result}");
    }
    assert_eq!(emulator.created(), 2);
}

#[test]
fn a_line_longer_than_the_limit_gets_its_own_record_and_is_not_held() {
    let valid = r#"{"parameters": {"organizationId": "org-1", "body": {"description": "fine"}}}"#;
    // Longer than the limit and than the reader's 64 KiB buffer, with no line break inside.
    let long = format!(
        r#"{{"parameters": {{"organizationId": "org-1", "body": {{"description": "{}"}}}}}}"#,
        "x".repeat(200_000)
    );
    let input = format!("{valid}\n{long}\n{valid}\n");
    let limit = (valid.len() + 10).to_string();
    let expected = serde_json::json!({
        "line": 2,
        "error": format!("the line is longer than --max-line-bytes ({limit} bytes); it was skipped")
    });
    the_second_line_gets_its_own_record(input.as_bytes(), &["--max-line-bytes", &limit], &expected);

    // The default limit takes the same long line, and --max-line-bytes needs --jsonl.
    let output = run_bytes(
        cli().args(["test-request", "--jsonl", "-"]),
        input.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let reports = json_lines(&output);
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[1]["valid"], true, "{}", reports[1]["errors"]);
    // Options of --jsonl given with one step are refused, not ignored.
    for args in [
        &["test-request", "-", "--max-line-bytes", "10"][..],
        &["run", "-", "--max-line-bytes", "10"],
        &["run", "-", "--unordered"],
    ] {
        let output = run_bytes(cli().args(args), valid.as_bytes());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains("cannot be used with"),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn run_never_prints_a_credential_the_server_echoes() {
    let (_runtime, echo) = served(echo_server());
    for (variable, value) in [
        ("REBILLY_API_KEY", support::CANARY_KEY),
        ("REBILLY_JWT", support::CANARY_JWT),
    ] {
        for mode in ECHO_MODES {
            let output = run(
                cli()
                    .env(variable, value)
                    .env("RUST_LOG", "trace")
                    .arg("run")
                    .arg(fixture("valid/minimal.json"))
                    .args(["--server", &format!("{echo}/{mode}")]),
                None,
            );
            let stdout = text(&output.stdout);
            assert!(
                stdout.contains("<redacted>"),
                "{variable} {mode}: the echo is shown redacted: {stdout}"
            );
            for stream in [stdout, text(&output.stderr)] {
                assert!(!stream.contains("CANARY"), "{variable} {mode}: {stream}");
            }
        }
    }
}

#[test]
fn test_request_names_allow_server_for_a_server_nobody_allowed() {
    let step = fixture("invalid/server-not-allowed.json");
    let output = run(cli().arg("test-request").arg(&step), None);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = stdout_json(&output);
    assert_eq!(report["errors"][0]["path"], "/server");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--allow-server https://collector.example.net")),
        "{report}"
    );

    let output = run(
        cli()
            .args(["--allow-server", "https://collector.example.net"])
            .arg("test-request")
            .arg(&step),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], true);
    assert_eq!(
        report["request"]["url"],
        "https://collector.example.net/org-1/api-keys"
    );
}

#[test]
fn a_65_kb_url_is_invalid_and_never_sent() {
    let (_runtime, (url, received)) = served(answer_server(Vec::new()));
    let long = "o".repeat(65_000);
    let dir = scratch_dir("long-url");
    let path = dir.join("step.json");
    let step = serde_json::json!({
        "parameters": {
            "organizationId": long,
            "server": format!("{url}/{{organizationId}}"),
            "body": { "description": "long" }
        }
    });
    std::fs::write(&path, step.to_string()).expect("write step");

    let output = run(cli().arg("test-request").arg(&path), None);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "/organizationId");
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("8000"), "{message}");

    let output = run(
        cli()
            .env("REBILLY_API_KEY", support::CANARY_KEY)
            .arg("run")
            .arg(&path),
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(!stdout.contains(&"o".repeat(100)), "the value is quoted");
    let error = stdout_json(&output);
    assert_eq!(error["error"]["kind"], "invalid_step");
    assert_eq!(error["error"]["outcomeUnknown"], false);
    assert_eq!(error["error"]["errors"][0]["path"], "/organizationId");
    assert!(
        error["error"]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("8000")),
        "{error}"
    );
    assert_eq!(received.load(Ordering::SeqCst), 0, "nothing was sent");
}

#[test]
fn references_that_fan_out_are_refused_promptly() {
    // Thing -> S0; each S(n) refers to S(n+1) twice, down to S30: 2^30 copies inlined.
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Thing".into(),
        serde_json::json!({ "$ref": "#/components/schemas/S0" }),
    );
    for level in 0..30 {
        let next = format!("#/components/schemas/S{}", level + 1);
        schemas.insert(
            format!("S{level}"),
            serde_json::json!({ "type": "object",
                                "properties": { "a": { "$ref": next }, "b": { "$ref": next } } }),
        );
    }
    schemas.insert("S30".into(), serde_json::json!({ "type": "string" }));
    let definition = serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "Fan-out", "version": "1" },
        "servers": [{ "url": "https://things.example.com" }],
        "paths": { "/things": { "post": {
            "operationId": "PostThing",
            "requestBody": { "required": true, "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Thing" } } } },
            "responses": { "201": { "description": "Created" } }
        } } },
        "components": { "schemas": schemas }
    });
    let dir = scratch_dir("fan-out");
    let path = dir.join("fan-out.openapi.json");
    std::fs::write(&path, definition.to_string()).expect("write definition");

    let output = run_within(
        cli()
            .arg("--definition")
            .arg(&path)
            .arg("test-request")
            .arg(fixture("valid/minimal.json")),
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("more than 200000 JSON values"), "{stderr}");
}

#[test]
fn a_batch_waits_for_descriptors_instead_of_failing() {
    let emulator = LiveEmulator::start(Emulator::builder().unlimited());
    let input: Vec<String> = (0..300)
        .map(|i| {
            serde_json::json!({ "parameters": { "body": { "description": format!("key {i}") } } })
                .to_string()
        })
        .collect();
    let output = run_within(
        under_ulimit(64)
            .env("REBILLY_API_KEY", support::CANARY_KEY)
            .args(["run", "--jsonl", "-", "--concurrency", "512"])
            .args(["--server", &emulator.url()]),
        input.join("\n").as_bytes(),
        Duration::from_secs(120),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("requests in flight"), "{stderr}");
    let results = json_lines(&output);
    assert_eq!(results.len(), 300);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["response"]["statusCode"], 201, "line {i}: {result}");
        assert_eq!(
            result["response"]["body"]["description"],
            format!("key {i}"),
            "line {i}"
        );
    }
    assert_eq!(emulator.created(), 300);
}
