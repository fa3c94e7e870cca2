//! The `apikey-task` binary, run as a user would: exit codes, stdout, stderr, environment.

use crate::support::{LiveEmulator, cli, fixture, root, run, stdout_json, text};
use apikey_task::emulator::Emulator;
use serde_json::Value;
use std::path::PathBuf;

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
    let dir = std::env::temp_dir().join(format!("apikey-task-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
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
    let _ = std::fs::remove_dir_all(&dir);
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
        &std::fs::read_to_string(root().join("schemas/create-api-key.openapi.json"))
            .expect("definition file"),
    )
    .expect("definition is JSON");
    assert_eq!(printed, file);
}

#[test]
fn another_definition_is_loaded_from_a_path() {
    let definition = root().join("tests/data/widgets.openapi.json");
    let dir = std::env::temp_dir().join(format!("apikey-task-widgets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let output = run(
        cli().env("REBILLY_API_KEY", CANARY_KEY).args([
            "run",
            "--jsonl",
            "-",
            "--concurrency",
            "4",
            "--server",
            &emulator.url(),
        ]),
        Some(&input.join("\n")),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let results: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
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

#[test]
fn demo_creates_a_key_and_a_second_step_uses_its_id() {
    let output = run(cli().arg("demo"), None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let first_id = stdout
        .split("\"id\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("first key id");
    assert!(
        stdout.contains(&format!("Storefront companion of {first_id}")),
        "{stdout}"
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
